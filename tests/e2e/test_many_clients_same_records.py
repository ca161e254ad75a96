"""Many clients, each a process of its own, acting at once on the same five complaints of one
`csm serve` process: nothing lost, nothing recorded twice, every refusal clean.

Each round, every client waits at a barrier and then sends its first request at the same
moment as the others: a few of them one shared command under one Idempotency-Key with one
body, the rest a command of their own; then each sends a few more — commands of its own,
a key it was answered for sent again with another body (422), an earlier round's shared
command sent again (a retry), feedback of kind complaint naming one of the five (409),
praise. Each client logs every request and answer; the test then compares the logs with
the store: each complaint's stream holds one event per accepted command and no other, in an
order the complaint's rules allow, ending in the state csm answers; each key is recorded
once and answered alike; every accepted position is an event of its own; the chain
verifies; the read model catches up; and the commands shared transactions.
"""
from __future__ import annotations

import json
import multiprocessing
import random
import re
import signal
import socket
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

# The clients import this module in processes of their own (multiprocessing's forkserver): only
# light imports up here; the test itself imports csm's (bench.stack, tests.csm_process).

CLIENTS = 24
ROUNDS = 15
PER_ROUND = 3  # requests per client and round; the first is sent at the barrier
COMPLAINTS = 5
ACCEPTED = 201

ROUTE = {"acknowledge": "acknowledge", "assign": "assign", "escalate": "escalate",
         "resolve": "resolve", "reopen": "reopen", "close": "close",
         "await": "await-customer", "reply": "customer-replied"}
EVENT = {"acknowledge": "complaint.acknowledged", "assign": "complaint.assigned",
         "escalate": "complaint.escalated", "resolve": "complaint.resolved",
         "reopen": "complaint.reopened", "close": "complaint.closed",
         "await": "complaint.awaiting_customer", "reply": "complaint.customer_replied"}
# Commands of a client's own: acknowledging is left to the shared rounds 0..4, so each
# complaint is acknowledged by a command several clients send with one key at once.
OWN_KINDS = {"assign": 26, "escalate": 10, "resolve": 20, "reopen": 14, "close": 8,
             "await": 10, "reply": 10}
# The field of each command's body a client changes to reuse a key with another body.
TEXT_FIELD = {"acknowledge": "by", "assign": "handler", "escalate": "reason",
              "resolve": "resolution", "reopen": "reason", "await": "reason"}
# Problem types a refusal may have, by status: nothing else, and never a 5xx.
REFUSALS = {409: {"invalid-state", "already-exists", "concurrent-change"},
            422: {"idempotency-key-reused", "invalid-input"}}


# -- the clients (run in processes of their own) ----------------------------------------

def command(rng: random.Random, kind: str, cid: str, cfg: dict[str, Any]) -> tuple[str, dict]:
    """The path and body of a complaint command."""
    n = rng.randrange(10_000)
    body: dict[str, Any] = {
        "acknowledge": lambda: {"by": rng.choice(("li.na", "zhao", "wang"))},
        "assign": lambda: {"handler": f"h{n}", "department_id": rng.choice(cfg["departments"])},
        "escalate": lambda: {"reason": f"called {n} times"},
        "resolve": lambda: {"resolution": f"replaced part {n}"},
        "reopen": lambda: {"reason": f"still broken ({n})"},
        "close": lambda: {"customer_satisfied": rng.random() < 0.5,
                          "satisfaction": rng.randint(1, 5)},
        "await": lambda: {"reason": f"waiting for photo {n}"},
        "reply": lambda: {},
    }[kind]()
    return f"/v1/complaints/{cid}/{ROUTE[kind]}", body


def shared_command(cfg: dict[str, Any], r: int) -> dict[str, Any]:
    """Round r's shared command: the same for every client that computes it."""
    rng = random.Random(f"{cfg['seed']}:shared:{r}")
    clients = sorted(rng.sample(range(cfg["clients"]), rng.randint(3, 8)))
    if r < len(cfg["complaints"]):
        kind, cid = "acknowledge", cfg["complaints"][r]
    else:
        kind = rng.choices(list(OWN_KINDS), weights=list(OWN_KINDS.values()))[0]
        cid = rng.choice(cfg["complaints"])
    path, body = command(rng, kind, cid, cfg)
    return {"clients": clients, "kind": kind, "complaint": cid, "path": path, "body": body,
            "key": f"{cfg['run']}-shared-{r}"}


def run_client(i: int, cfg: dict[str, Any], barrier: Any, log_path: str) -> None:
    rng = random.Random(f"{cfg['seed']}:client:{i}")
    answered: list[dict[str, Any]] = []  # the requests with a key this client got 201 for
    n = [0]

    with httpx.Client(base_url=cfg["url"], timeout=60,
                      headers={"Authorization": "Bearer key-agent"}) as http, \
            open(log_path, "w") as out:

        def send(r: int, purpose: str, kind: str, cid: str | None, path: str, body: dict,
                 key: str | None, variant: str = "same") -> None:
            headers = {"Idempotency-Key": key} if key else {}
            sent = time.monotonic()
            answer = http.post(path, json=body, headers=headers)
            received = time.monotonic()
            try:
                payload = answer.json()
            except ValueError:
                payload = answer.text
            entry = {"client": i, "round": r, "purpose": purpose, "kind": kind,
                     "complaint": cid, "path": path, "body": body, "key": key,
                     "variant": variant, "sent": sent, "received": received,
                     "status": answer.status_code,
                     "content_type": answer.headers.get("content-type", ""),
                     "answer": payload}
            out.write(json.dumps(entry) + "\n")
            if key and variant == "same" and answer.status_code == ACCEPTED:
                answered.append(entry)

        def own(r: int) -> None:
            kind = rng.choices(list(OWN_KINDS), weights=list(OWN_KINDS.values()))[0]
            cid = rng.choice(cfg["complaints"])
            path, body = command(rng, kind, cid, cfg)
            n[0] += 1
            key = f"{cfg['run']}-c{i}-{n[0]}" if rng.random() < 0.75 else None
            send(r, "own", kind, cid, path, body, key)

        def reuse_with_another_body(r: int) -> None:
            first = rng.choice(answered)
            kind, path, body = first["kind"], first["path"], dict(first["body"])
            if kind in TEXT_FIELD and rng.random() < 0.5:
                body[TEXT_FIELD[kind]] = f"other-{rng.randrange(10_000)}"
            elif kind in ROUTE:
                other = rng.choice([c for c in cfg["complaints"] if c != first["complaint"]])
                path = f"/v1/complaints/{other}/{ROUTE[kind]}"
            else:
                body["rating"] = 1
            send(r, "reuse", kind, first["complaint"], path, body, first["key"], "other")

        def retry_shared(r: int) -> None:
            s = shared_command(cfg, rng.randrange(r))
            send(r, "retry", s["kind"], s["complaint"], s["path"], s["body"], s["key"])

        def feedback_naming_a_complaint(r: int) -> None:
            n[0] += 1
            cid = rng.choice(cfg["complaints"])
            body = {"feedback_id": f"{cfg['run']}-fb-{i}-{n[0]}", "complaint_id": cid,
                    "kind": "complaint", "channel": "web", "customer_id": cfg["customer"],
                    "department_id": cfg["departments"][0], "text": "It leaks again"}
            key = f"{cfg['run']}-c{i}-{n[0]}" if rng.random() < 0.5 else None
            send(r, "feedback", "feedback", cid, "/v1/feedback", body, key)

        def praise(r: int) -> None:
            n[0] += 1
            body = {"feedback_id": f"{cfg['run']}-pr-{i}-{n[0]}", "kind": "praise",
                    "channel": "web", "department_id": cfg["departments"][0], "rating": 5}
            key = f"{cfg['run']}-c{i}-{n[0]}" if rng.random() < 0.75 else None
            send(r, "praise", "praise", None, "/v1/feedback", body, key)

        for r in range(cfg["rounds"]):
            shared = shared_command(cfg, r)
            barrier.wait(timeout=120)
            if i in shared["clients"]:
                send(r, "shared", shared["kind"], shared["complaint"], shared["path"],
                     shared["body"], shared["key"])
            else:
                own(r)
            for _ in range(cfg["per_round"] - 1):
                x = rng.random()
                if x < 0.10 and answered:
                    reuse_with_another_body(r)
                elif x < 0.18 and r > 0:
                    retry_shared(r)
                elif x < 0.21:
                    feedback_naming_a_complaint(r)
                elif x < 0.25:
                    praise(r)
                else:
                    own(r)


# -- what the streams say --------------------------------------------------------------

NOT_FINISHED = {"open", "acknowledged", "awaiting_customer", "reopened"}
ALLOWED_FROM = {"complaint.acknowledged": {"open"},
                "complaint.assigned": NOT_FINISHED,
                "complaint.escalated": NOT_FINISHED,
                "complaint.resolved": {"acknowledged", "reopened", "awaiting_customer"},
                "complaint.reopened": {"resolved", "closed"},
                "complaint.closed": {"resolved"},
                "complaint.awaiting_customer": {"acknowledged", "reopened"},
                "complaint.customer_replied": {"awaiting_customer"}}


def replay(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The complaint's state after each of its events (index k: after k+1 events), each
    event checked to be one the complaint's rules allow in the state before it."""
    assert events[0]["type"] == "complaint.opened", events[0]
    d = events[0]["data"]
    state = {"status": "open", "level": 0, "handler": None,
             "department_id": d["department_id"], "reopen_count": 0, "before_wait": None}
    states = [dict(state)]
    for e in events[1:]:
        t, d = e["type"], e["data"]
        assert t in ALLOWED_FROM, f"unexpected event {t} at version {e['version']}"
        assert state["status"] in ALLOWED_FROM[t], (
            f"{t} at version {e['version']} is not allowed after {state['status']}")
        if t == "complaint.acknowledged":
            state["status"] = "acknowledged"
        elif t == "complaint.assigned":
            state["handler"], state["department_id"] = d["handler"], d["department_id"]
        elif t == "complaint.escalated":
            assert d["level"] == state["level"] + 1 <= 3, (e, state)
            state["level"] = d["level"]
        elif t == "complaint.resolved":
            state["status"], state["before_wait"] = "resolved", None
        elif t == "complaint.reopened":
            state["status"] = "reopened"
            state["reopen_count"] += 1
        elif t == "complaint.closed":
            state["status"] = "closed"
        elif t == "complaint.awaiting_customer":
            state["before_wait"], state["status"] = state["status"], "awaiting_customer"
        elif t == "complaint.customer_replied":
            state["status"], state["before_wait"] = state["before_wait"], None
        states.append(dict(state))
    return states


def explained(refusal: dict[str, Any], states_before: list[dict[str, Any]]) -> bool:
    """Whether a refusal of a request whose key and body were accepted (at a later version)
    names a state the complaint was in before that version: it was then decided before the
    accepted one, not after it (when it should have answered the accepted answer)."""
    slug = refusal["answer"]["type"].rsplit("/", 1)[-1]
    if slug != "invalid-state":
        return True  # a conflict retried out, a time before the wait: no state named
    detail = refusal["answer"]["detail"]
    if "highest escalation level" in detail:
        return any(s["level"] >= 3 for s in states_before)
    named = re.search(r" is (\w+);", detail)
    assert named, detail
    return named.group(1) in {s["status"] for s in states_before}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the test ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == ACCEPTED, (answer.status_code, answer.text)
    return answer.json()


def _slug(entry: dict[str, Any]) -> str:
    return entry["answer"]["type"].rsplit("/", 1)[-1]


def test_many_client_processes_on_the_same_complaints_lose_nothing_and_record_nothing_twice(
        pg_server, tmp_path):
    from bench.stack import API_KEYS, new_database
    from tests.csm_process import csm_env, run_csm, start_csm

    url, port, log = new_database(pg_server), _free_port(), tmp_path / "serve.log"
    env = csm_env(tmp_path / "serve", url, CSM_API_KEYS=API_KEYS, CSM_LOG_LEVEL="WARNING")
    server = start_csm("serve", "--port", str(port), env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    role = {r: httpx.Client(base_url=base, timeout=60,
                            headers={"Authorization": f"Bearer key-{r}"})
            for r in ("admin", "agent", "auditor")}
    try:
        deadline = time.monotonic() + 60
        while not _answers(role["admin"], "/ready"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        seed = random.randrange(10**6)
        run = f"m{seed}"
        cfg = _world(role["admin"], run, seed, base)
        logs = _run_clients(cfg, tmp_path)
        _check(cfg, logs, role, url)
        verified = run_csm("verify", env=csm_env(tmp_path / "verify", url,
                                                 CSM_API_KEYS=API_KEYS))
        assert verified.returncode == 0, (verified.stdout, verified.stderr)
        assert json.loads(verified.stdout)["ok"] is True
    finally:
        for c in role.values():
            c.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert "unhandled_error" not in log.read_text()


def _world(admin: httpx.Client, run: str, seed: int, base: str) -> dict[str, Any]:
    departments = [_created(admin.post("/v1/departments", json={
        "department_id": f"{run}-d{k}", "name": f"Service {k}"}))["id"] for k in range(2)]
    customer = _created(admin.post("/v1/customers", json={
        "customer_id": f"{run}-cus", "name": "Wang Fang"}))["id"]
    complaints = [_created(admin.post("/v1/complaints", json={
        "complaint_id": f"{run}-c{k}", "customer_id": customer, "channel": "hotline",
        "department_id": departments[0], "severity": ("low", "medium", "high")[k % 3],
        "description": "The washing machine leaks"}))["id"] for k in range(COMPLAINTS)]
    return {"url": base, "run": run, "seed": seed, "clients": CLIENTS, "rounds": ROUNDS,
            "per_round": PER_ROUND, "departments": departments, "customer": customer,
            "complaints": complaints}


def _run_clients(cfg: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["httpx", __name__])  # one import, then a fork per client
    barrier = ctx.Barrier(CLIENTS)
    paths = [tmp_path / f"client-{i}.jsonl" for i in range(CLIENTS)]
    procs = [ctx.Process(target=run_client, args=(i, cfg, barrier, str(p)), daemon=True)
             for i, p in enumerate(paths)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 120
    try:
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * CLIENTS
    logs = [json.loads(line) for p in paths for line in p.read_text().splitlines()]
    assert len(logs) == CLIENTS * ROUNDS * PER_ROUND
    return logs


def _check(cfg: dict[str, Any], logs: list[dict[str, Any]], role: dict[str, httpx.Client],
           url: str) -> None:  # noqa: C901 - one story, told in order
    run, complaints = cfg["run"], cfg["complaints"]
    agent, auditor = role["agent"], role["auditor"]

    # (c) Refusals are clean: problem+json 409/422 with a type and a reason, never a 5xx.
    for e in logs:
        assert e["status"] in (ACCEPTED, 409, 422), e
        if e["status"] == ACCEPTED:
            continue
        assert e["content_type"].startswith("application/problem+json"), e
        assert e["answer"]["status"] == e["status"] and e["answer"]["detail"], e
        assert _slug(e) in REFUSALS[e["status"]], e
    for e in logs:
        if e["purpose"] == "reuse":  # a key answered before, with another body
            assert (e["status"], _slug(e)) == (422, "idempotency-key-reused"), e
            assert "Idempotency-Key" in e["answer"]["detail"], e
        if e["purpose"] == "feedback":  # names a complaint that exists: refused, whole
            assert (e["status"], _slug(e)) == (409, "already-exists"), e

    # (b) Each key: its accepted answers equal; once answered, answered alike to everyone
    # who asks again; a refusal of a key later accepted came before the accepted command.
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in logs:
        if e["key"] is not None and e["variant"] == "same":
            by_key[e["key"]].append(e)
    commands: list[dict[str, Any]] = []  # each accepted command once: its first answer
    refused_siblings: dict[int, list[dict[str, Any]]] = {}
    for key, sent in by_key.items():
        assert len({(e["path"], json.dumps(e["body"], sort_keys=True)) for e in sent}) == 1, key
        accepted = [e for e in sent if e["status"] == ACCEPTED]
        if not accepted:
            continue
        answers = {json.dumps(e["answer"], sort_keys=True) for e in accepted}
        assert len(answers) == 1, (key, [(e["client"], e["answer"]) for e in accepted])
        first_answered = min(e["received"] for e in accepted)
        late = [e for e in sent if e["sent"] > first_answered and e["status"] != ACCEPTED]
        assert not late, (key, accepted[0]["answer"], late)
        commands.append(accepted[0])
        refused_siblings[len(commands) - 1] = [e for e in sent if e["status"] != ACCEPTED]
    commands += [e for e in logs if e["key"] is None and e["status"] == ACCEPTED]
    # The run did send one key from many clients at once, and answered several of them.
    answered_together = [k for k in by_key if "-shared-" in k and sum(
        1 for e in by_key[k] if e["purpose"] == "shared" and e["status"] == ACCEPTED) > 1]
    assert len(answered_together) >= COMPLAINTS, answered_together

    positions = Counter(e["answer"]["position"] for e in commands)
    assert max(positions.values()) == 1, [p for p, n in positions.items() if n > 1]

    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT notification_id, originator_id, originator_version, "
                            "topic, xmin::text AS tx FROM csm_events").fetchall()
        recorded_keys = {r["key"]: r["answer"] for r in conn.execute(
            "SELECT key, answer FROM csm_idempotency WHERE key LIKE %s",
            (f"{run}-%",)).fetchall()}
    at = {r["notification_id"]: r for r in rows}
    # Each key answered 201 is recorded once, with the answer it gave; no other key is.
    accepted_keys = {e["key"]: e["answer"] for e in commands if e["key"] is not None}
    assert recorded_keys == accepted_keys
    # Every accepted position is an event of the record the command acted on (or, for a
    # resolution, of the revisit it scheduled with it, recorded after it).
    for e in commands:
        event = at.get(e["answer"]["position"])
        assert event is not None, e
        if e["kind"] == "resolve":
            assert re.fullmatch(rf"revisit:{re.escape(e['complaint'])}:\d+",
                                event["originator_id"]), (e, event)
        else:
            assert event["originator_id"] == e["answer"]["id"], (e, event)
    # Feedback naming an existing complaint left nothing behind.
    refused_feedback = {e["body"]["feedback_id"] for e in logs if e["purpose"] == "feedback"}
    assert not refused_feedback & {r["originator_id"] for r in rows}

    # (a) No lost update: each complaint's stream is its opening and one event per accepted
    # command on it, each at that command's position, in an order the rules allow, ending
    # in the state csm answers.
    final: dict[str, dict[str, Any]] = {}
    resolved_streams: list[str] = []
    for cid in complaints:
        mine = [(k, e) for k, e in enumerate(commands) if e["complaint"] == cid
                and e["kind"] in EVENT]
        events = auditor.get(f"/v1/audit/streams/{cid}/events").json()["items"]
        assert [e["version"] for e in events] == list(range(1, len(events) + 1))
        assert len(events) == 1 + len(mine), (cid, len(events), len(mine))
        assert Counter(e["type"] for e in events[1:]) == Counter(EVENT[e["kind"]]
                                                                 for _, e in mine)
        states = replay(events)
        by_position = {e["position"]: e for e in events}
        for k, cmd in mine:
            answer = cmd["answer"]
            if cmd["kind"] == "resolve":
                revisit_id = at[answer["position"]]["originator_id"]
                version = int(revisit_id.rsplit(":", 1)[1])
                event = events[version - 1]
                assert event["type"] == "complaint.resolved", (cmd, event)
                assert at[event["position"]]["tx"] == at[answer["position"]]["tx"]
                revisit = auditor.get(f"/v1/audit/streams/{revisit_id}/events").json()
                assert [(r["type"], r["data"]["cause_event_id"], r["position"])
                        for r in revisit["items"]] == [
                    ("revisit.scheduled", event["event_id"], answer["position"])]
                resolved_streams.append(revisit_id)
            else:
                event = by_position[answer["position"]]
                assert event["type"] == EVENT[cmd["kind"]], (cmd, event)
            assert answer["id"] == cid
            if cmd["kind"] == "escalate":
                assert answer["escalation_level"] == event["data"]["level"]
            if cmd["kind"] in ("reopen", "reply"):
                assert _instant(answer["resolve_due"]) == _instant(
                    event["data"]["resolve_due"])
            for refusal in refused_siblings.get(k, []):
                assert explained(refusal, states[:event["version"] - 1]), (
                    f"Idempotency-Key {cmd['key']} ({cmd['kind']} of {cid}) was accepted as "
                    f"{answer} (version {event['version']}), yet the same key and body were "
                    f"refused to client {refusal['client']} with {refusal['status']}: "
                    f"{refusal['answer']['detail']} — a state it reached only by that command")
        last = states[-1]
        now = agent.get(f"/v1/complaints/{cid}").json()
        assert {k: now[k] for k in ("status", "escalation_level", "handler", "department_id",
                                    "reopen_count", "version")} == {
            "status": last["status"], "escalation_level": last["level"],
            "handler": last["handler"], "department_id": last["department_id"],
            "reopen_count": last["reopen_count"], "version": len(events)}
        assert len(now["timeline"]) == len(events)
        final[cid] = last
    # Follow-ups: one revisit per accepted resolution, and no other.
    revisits = {r["originator_id"] for r in rows if r["originator_id"].startswith(
        tuple(f"revisit:{cid}:" for cid in complaints))}
    assert revisits == set(resolved_streams)
    assert len(resolved_streams) == len(set(resolved_streams))

    # (d) The chain verifies, over every event.
    verified = auditor.get("/v1/audit/verify").json()
    assert verified["ok"] is True and verified["events_checked"] == len(rows), verified

    # (e) The read model catches up with the highest accepted position and agrees.
    highest = max(e["answer"]["position"] for e in commands)
    backlog = agent.get("/v1/complaints/backlog", params={"min_position": highest, "wait": 20})
    assert backlog.status_code == 200, backlog.text
    assert int(backlog.headers["X-CSM-Position"]) >= highest
    listed = {i["complaint_id"]: i for i in backlog.json()["items"]}
    for cid, last in final.items():
        if last["status"] == "closed":
            assert cid not in listed
            continue
        item = listed[cid]
        assert (item["status"], item["escalation_level"], item["handler"],
                item["department_id"]) == (last["status"], last["level"], last["handler"],
                                           last["department_id"]), (cid, item, last)

    # (f) Group commit happened: the accepted commands took fewer transactions.
    transactions = {at[e["answer"]["position"]]["tx"] for e in commands}
    assert len(transactions) < len(commands), (len(transactions), len(commands))
