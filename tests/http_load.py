"""Concurrent HTTP load over the records a world made, and the check of what inbound
messages did: each accepted `message_id` has one idempotency record and created its record
exactly once."""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from bench.inbound_messages import Expected
from bench.world import World, ago, survey_answer
from csm.projections.events import type_of_topic


class HttpLoad:
    """Commands an adapter, agents and managers would send, from `clients` threads at once,
    until `total` commands were answered. Each thread works on records of its own, so
    threads never race on one record; `pause()`/`resume()` hold them; every answer that is
    not 201 is kept in `failures`."""

    def __init__(self, base_url: str, world: World, total: int, clients: int = 4,
                 seed: int = 1, policy_at: int | None = None,
                 on_command: Callable[[int], None] | None = None):
        self.url, self.world, self.total, self.clients = base_url, world, total, clients
        self.seed, self.policy_at, self.on_command = seed, policy_at, on_command
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.errors: list[BaseException] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.started_at = self.finished_at = 0.0
        self._policy_done = policy_at is None

    # -- running
    def start(self) -> HttpLoad:
        self.started_at = time.monotonic()
        for i in range(self.clients):
            t = threading.Thread(target=self._run, args=(i,), name=f"http-load-{i}", daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def join(self, timeout: float | None = None) -> None:
        for t in self.threads:
            t.join(timeout)
        self.finished_at = time.monotonic()

    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def rate(self) -> float:
        end = self.finished_at or time.monotonic()
        return self.sent / max(end - self.started_at, 1e-9)

    def _run(self, i: int) -> None:
        rng = random.Random(self.seed * 1000 + i)
        headers = {"Authorization": "Bearer key-admin"}
        try:
            with httpx.Client(base_url=self.url, headers=headers, timeout=60) as c:
                worker = _Worker(self, c, rng, f"w{i}-{uuid.uuid4().hex[:6]}")
                while self._budget():
                    worker.step()
        except _Done:
            pass
        except BaseException as e:  # reported by the test thread
            self.errors.append(e)

    def _budget(self) -> bool:
        with self.lock:
            return self.sent < self.total

    def send(self, c: httpx.Client, method: str, path: str, body: dict | None) -> dict:
        with self.lock:
            if self.sent >= self.total:
                raise _Done
            self.sent += 1
            n = self.sent
            publish = not self._policy_done and n >= (self.policy_at or 0)
            if publish:
                self._policy_done = True
        if publish:
            r = c.put("/v1/policy", json={"high_value_factor": 0.25,
                                          "dimension_weights": {"product_quality": 2.0},
                                          "points": {"praise": 5, "escalation": -6}})
            self._count(r, "PUT /v1/policy")
        t = time.perf_counter()
        r = c.request(method, path, json=body if body is not None else {})
        self.latencies.append(time.perf_counter() - t)
        self._count(r, f"{method} {path}")
        if self.on_command:
            self.on_command(n)
        return r.json() if r.status_code == 201 else {}

    def _count(self, r: httpx.Response, what: str) -> None:
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code != 201 and len(self.failures) < 20:
                self.failures.append(f"{what}: {r.status_code} {r.text[:300]}")


class _Done(Exception):
    pass


class _Worker:
    def __init__(self, load: HttpLoad, c: httpx.Client, rng: random.Random, tag: str):
        self.load, self.c, self.rng, self.tag, self.n = load, c, rng, tag, 0
        self.w = load.world

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.load.send(self.c, "POST", path, body)

    def new(self, kind: str) -> str:
        self.n += 1
        return f"{self.tag}-{kind}-{self.n}"

    def step(self) -> None:
        kind = self.rng.choices(("complaint", "feedback", "response", "revisit", "action"),
                                weights=(30, 30, 30, 6, 4))[0]
        getattr(self, kind)()

    def complaint(self) -> None:
        rng, w = self.rng, self.w
        opened = rng.uniform(1, 120)
        cid = self.post("/v1/complaints", {
            "complaint_id": self.new("cmp"), "customer_id": rng.choice(w.customers + [None]),
            "channel": rng.choice(("web", "hotline", "app")),
            "department_id": rng.choice(w.departments),
            "severity": rng.choice(("low", "medium", "high", "critical")),
            "description": "It broke", "occurred_at": ago(opened)}).get("id")
        if cid is None or rng.random() < 0.1:
            return
        at = opened * rng.uniform(0.2, 0.9)
        self.post(f"/v1/complaints/{cid}/acknowledge", {"by": "li.na", "occurred_at": ago(at)})
        if rng.random() < 0.5:
            self.post(f"/v1/complaints/{cid}/assign", {"handler": "zhao",
                                                       "department_id": rng.choice(w.departments)})
        if rng.random() < 0.3:
            self.post(f"/v1/complaints/{cid}/escalate", {"reason": "called twice"})
        if rng.random() < 0.15:
            return
        self.post(f"/v1/complaints/{cid}/resolve", {"resolution": "Replaced the seal"})
        if rng.random() < 0.2:
            self.post(f"/v1/complaints/{cid}/reopen", {"reason": "Still leaking"})
            self.post(f"/v1/complaints/{cid}/resolve", {"resolution": "Replaced the drum"})
        if rng.random() < 0.7:
            self.post(f"/v1/complaints/{cid}/close", {
                "customer_satisfied": rng.choice((True, False, None)),
                "satisfaction": rng.choice((1, 2, 3, 4, 5, None))})

    def feedback(self) -> None:
        rng, w = self.rng, self.w
        body = {"channel": rng.choice(("web", "wechat")),
                "kind": rng.choice(("praise", "suggestion", "criticism", "inquiry", "complaint")),
                "department_id": rng.choice(w.departments), "customer_id": rng.choice(w.customers),
                "rating": rng.choice((1, 2, 3, 4, 5, None)), "text": "Noted",
                "occurred_at": ago(rng.uniform(0, 72))}
        self.post("/v1/feedback", {k: v for k, v in body.items() if v is not None})

    def response(self) -> None:
        self.post(f"/v1/surveys/{self.rng.choice(self.w.surveys)}/responses",
                  survey_answer(self.rng, self.w))

    def revisit(self) -> None:
        rng, w = self.rng, self.w
        rid = self.post("/v1/revisits", {
            "revisit_id": self.new("rev"), "customer_id": rng.choice(w.customers),
            "department_id": rng.choice(w.departments),
            "reason": rng.choice(("after_service", "periodic")),
            "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()}).get("id")
        if rid and rng.random() < 0.7:
            self.post(f"/v1/revisits/{rid}/complete", {"outcome": "reached",
                                                       "satisfaction": rng.randint(1, 5)})

    def action(self) -> None:
        aid = self.post("/v1/improvement-actions", {
            "action_id": self.new("act"), "department_id": self.rng.choice(self.w.departments),
            "title": "Audit supplier",
            "due_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()}).get("id")
        if aid and self.rng.random() < 0.7:
            self.post(f"/v1/improvement-actions/{aid}/complete")
            if self.rng.random() < 0.6:
                self.post(f"/v1/improvement-actions/{aid}/verify", {"effective": True})


def check_inbound_effects(pool: Any, exp: Expected) -> tuple[list[str], dict[str, int]]:
    """Each valid message_id: one idempotency record; each record it creates: created once;
    each change it asks for: recorded once."""
    problems: list[str] = []
    with pool.connection() as conn:
        cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
        keys = {k for (k,) in cur.execute(
            "SELECT key FROM csm_idempotency WHERE scope = 'inbound'").fetchall()}
        firsts = dict(cur.execute(
            "SELECT originator_id, topic FROM csm_events WHERE originator_version = 1 "
            "AND originator_id = ANY(%s)", (list(exp.created),)).fetchall())
        changed = Counter()
        streams = list({s for s, _ in exp.changed})
        for stream, t in cur.execute("SELECT originator_id, topic FROM csm_events WHERE "
                                     "originator_id = ANY(%s)", (streams,)).fetchall():
            changed[(stream, type_of_topic(t))] += 1
    missing_keys = exp.message_ids - keys
    extra_keys = keys - exp.message_ids
    if missing_keys:
        problems.append(f"{len(missing_keys)} valid messages have no idempotency record, e.g. "
                        f"{sorted(missing_keys)[:5]}")
    if extra_keys:
        problems.append(f"{len(extra_keys)} unexpected inbound records, e.g. "
                        f"{sorted(extra_keys)[:5]}")
    not_created = [r for r in exp.created if r not in firsts]
    wrong_type = [r for r, t in exp.created.items()
                  if r in firsts and type_of_topic(firsts[r]) != t]
    if not_created:
        problems.append(f"{len(not_created)} records were never created, e.g. {not_created[:5]}")
    if wrong_type:
        problems.append(f"{len(wrong_type)} records created as another type: {wrong_type[:5]}")
    bad_changes = {k: changed[k] for k in exp.changed if changed[k] != 1}
    if bad_changes:
        problems.append(f"changes not recorded exactly once: {list(bad_changes.items())[:5]}")
    counts = {"inbound records": len(keys), "created": len(firsts),
              "changes": sum(changed[k] for k in exp.changed)}
    return problems, counts
