"""What the Kafka tests share: ONE real broker per test run, the in-process stack, the HTTP
load, and the checks they make. Topics, `csm` processes, the world made over HTTP and the
inbound messages live in bench/ (topics.py, processes.py, world.py, inbound_messages.py),
which the benchmarks use too.

Use it from a test module with

    from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)

Each test takes a database of its own (`new_database(pg_server)`) and topics of
its own (`Topics.fresh()`), so tests never see each other's events, offsets or
dead letters on the shared broker. The consumer group names are fixed by the
code (`csm-projector-<name>`, `csm-inbound`); tests run one after another, so
a group only ever has members of one test.

The checks are the issue's "done when":
- `check_events_topic`: the topic, read fully (watermarks skipped, duplicates
  dropped by `event_id`), holds exactly the events of the store, and every
  stream's events in version order;
- (`tests.read_model_checks.compare_with_rebuild`): every table of `csm_read` equals, row for row
  (`EXCEPT ALL` both ways), a rebuild from the store into `csm_check`;
- `check_inbound_effects`: each accepted `message_id` has one idempotency
  record and created its record exactly once.
"""
from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from bench.inbound_messages import Expected
from bench.stack import LiveServer, new_database, settings_for
from bench.topics import MAX_MESSAGE_BYTES, PARTITIONS, Topics
from bench.world import World, ago, survey_answer
from csm.consumers.composition import start_runtime
from csm.consumers.kafka_io import BROADCAST_TYPES, WATERMARK, header
from csm.infra.kafka_broker import KafkaBroker
from csm.infra.settings import Settings
from csm.projections.events import type_of_topic
from csm.projections.registry import ALL


_BROKER: list[KafkaBroker] = []


@pytest.fixture(scope="session")
def kafka_broker() -> Any:
    """One real single-node Kafka broker (KRaft) for the whole test run.

    Each test module imports this fixture, and pytest keeps a session fixture per module
    that defines it: without the module-level cache every module would start (and keep
    until the end) a broker of its own."""
    if not _BROKER:
        _BROKER.append(KafkaBroker(num_partitions=PARTITIONS,
                                   extra_props={"message.max.bytes": str(MAX_MESSAGE_BYTES)}))
        _BROKER[0].start()
    yield _BROKER[0]
    _BROKER[0].stop()   # at the end of the session; stopping twice is harmless


# -- topics and settings ------------------------------------------------------------------


# A target not known yet is retried for seconds here, not minutes: the tests that expect an
# unknown target in the DLQ do not wait 10 minutes for it.
RETRY = dict(csm_inbound_retry_seconds=2.0, csm_inbound_retry_backoff_seconds=0.2,
             csm_inbound_retry_backoff_max_seconds=1.0)


def kafka_settings(url: str, data_dir: Path, broker: KafkaBroker, topics: Topics,
                   **extra: Any) -> Settings:
    return settings_for(url, data_dir, **{
        "kafka_bootstrap_servers": broker.bootstrap_servers, "csm_kafka_partitions": PARTITIONS,
        "csm_topic_events": topics.events, "csm_topic_inbound": topics.inbound,
        "csm_topic_dlq": topics.dlq, "csm_topic_inbound_retry": topics.retry, **RETRY, **extra})


@contextlib.contextmanager
def running_stack(pg_server: Any, broker: KafkaBroker, tmp_path: Path, label: str,
                  **extra: Any):
    """A database, fresh topics, every Kafka part and the API, for one test."""
    topics = Topics.fresh(label)
    topics.create(broker.bootstrap_servers)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, broker, topics, **extra))
    parts = rt.start_kafka_parts({"relay", "project", "inbound"})
    live = LiveServer(rt)
    try:
        yield rt, live, topics, parts
    finally:
        live.stop()
        rt.close()


# -- waiting ----------------------------------------------------------------------------


def progress(url_or_pool: Any, topic: str) -> dict[str, Any]:
    """Head of the store, relay position, projection positions, inbound records."""
    with _conn(url_or_pool) as conn:
        h = _get(conn.execute("SELECT coalesce(max(notification_id), 0) AS h FROM csm_events"
                              ).fetchone(), "h")
        relay = conn.execute("SELECT position FROM csm_relay_progress WHERE topic = %s",
                             (topic,)).fetchone()
        try:
            rows = conn.execute("SELECT name, position FROM csm_read.projection_status"
                                ).fetchall()
        except psycopg.errors.UndefinedTable:
            conn.rollback()
            rows = []
        inbound = _get(conn.execute("SELECT count(*) AS n FROM csm_idempotency WHERE scope = "
                                    "'inbound'").fetchone(), "n")
    positions = {_get(r, "name", 0): _get(r, "position", 1) for r in rows}
    return {"head": h, "relay": _get(relay, "position") if relay else 0,
            "projections": positions, "inbound": inbound}


def wait_caught_up(url_or_pool: Any, topic: str, timeout: float, *,
                   inbound: int | None = None, alive: Callable[[], None] | None = None,
                   stable: float = 1.0) -> dict[str, Any]:
    """Until the relay and every projection reached the head of the store (and the
    inbound consumer recorded `inbound` messages), and it stayed so `stable` seconds."""
    deadline = time.monotonic() + timeout
    since = None
    while True:
        p = progress(url_or_pool, topic)
        done = (p["relay"] >= p["head"] and len(p["projections"]) == len(ALL)
                and all(v >= p["head"] for v in p["projections"].values())
                and (inbound is None or p["inbound"] >= inbound))
        if done:
            since = since or (time.monotonic(), p["head"])
            if since[1] != p["head"]:
                since = (time.monotonic(), p["head"])
            elif time.monotonic() - since[0] >= stable:
                return p
        else:
            since = None
        if alive:
            alive()
        assert time.monotonic() < deadline, f"not caught up after {timeout} s: {p}"
        time.sleep(0.2)


# -- the events topic -----------------------------------------------------------------------


def consume_all(bootstrap: str, topic: str, timeout: float = 120) -> list[Any]:
    """Every record of `topic`, from the beginning to the end offsets taken now."""
    cons = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
                         fetch_max_bytes=64 * 1024 * 1024,
                         max_poll_records=20_000)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(cons.partitions_for_topic(topic) or ())]
        assert tps, f"topic {topic} has no partitions"
        cons.assign(tps)
        cons.seek_to_beginning(*tps)
        end = cons.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(cons.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end in {timeout} s"
            for batch in cons.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        cons.close()


@dataclass
class TopicReport:
    records: int = 0
    watermarks: int = 0
    events: int = 0        # event records, duplicates included
    distinct: int = 0
    duplicates: int = 0
    store: int = 0
    streams: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.records:,} records on the topic: {self.events:,} event records "
                f"({self.distinct:,} distinct event_ids, {self.duplicates:,} duplicates of "
                f"at-least-once delivery incl. broadcast copies), {self.watermarks:,} watermarks; "
                f"{self.store:,} events in the store over {self.streams:,} streams")


def check_events_topic(pool: Any, bootstrap: str, topic: str) -> TopicReport:
    """The topic holds every event of the store once at least, nothing else, and every
    stream's events in version order (in the partition of its key; broadcast types in
    every partition)."""
    rep = TopicReport()
    with pool.connection() as conn:
        cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
        stored = cur.execute("SELECT notification_id, originator_id, originator_version, topic "
                             "FROM csm_events ORDER BY notification_id").fetchall()
    store: dict[str, tuple[int, str, int, str]] = {}
    versions: dict[str, list[int]] = defaultdict(list)
    for position, stream, version, t in stored:
        store[f"{stream}@{version}"] = (position, stream, version, type_of_topic(t))
        versions[stream].append(version)
    rep.store, rep.streams = len(store), len(versions)

    records = consume_all(bootstrap, topic)
    rep.records = len(records)
    seen: set[str] = set()
    # partition → stream → versions in first-occurrence order
    order: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    first_in_partition: dict[int, set[str]] = defaultdict(set)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    wrong: list[str] = []
    for r in records:
        if header(r.headers, "type") == WATERMARK:
            rep.watermarks += 1
            continue
        rep.events += 1
        m = orjson.loads(r.value)
        eid = m["event_id"]
        if eid != f"{m['stream_id']}@{m['stream_version']}" or r.key != m["stream_id"].encode():
            wrong.append(f"inconsistent record {eid} key {r.key!r}")
        if header(r.headers, "type") != m["type"]:
            wrong.append(f"{eid}: header type {header(r.headers, 'type')} != {m['type']}")
        known = store.get(eid)
        if known is None:
            wrong.append(f"{eid} is on the topic but not in the store")
        elif (known[0], known[3]) != (m["position"], m["type"]):
            wrong.append(f"{eid}: topic says position {m['position']} type {m['type']}, "
                         f"store {known[0]} {known[3]}")
        seen.add(eid)
        partitions_of[m["stream_id"]].add(r.partition)
        if eid not in first_in_partition[r.partition]:
            first_in_partition[r.partition].add(eid)
            order[r.partition][m["stream_id"]].append(m["stream_version"])
    rep.distinct = len(seen)
    rep.duplicates = rep.events - rep.distinct
    missing = [e for e in store if e not in seen]
    if missing:
        rep.problems.append(f"{len(missing)} events of the store are not on the topic, "
                            f"e.g. {missing[:5]}")
    rep.problems += wrong[:10]
    broadcast_streams = {s for _, s, _, t in store.values() if t in BROADCAST_TYPES}
    for stream, expect in versions.items():
        parts = partitions_of.get(stream, set())
        if stream in broadcast_streams:
            for p in range(PARTITIONS):
                if order[p].get(stream) != expect:
                    rep.problems.append(f"broadcast stream {stream} in partition {p}: versions "
                                        f"{order[p].get(stream)}, store {expect}")
            continue
        if len(parts) > 1:
            rep.problems.append(f"stream {stream} spread over partitions {sorted(parts)}")
        for p in parts:
            if order[p][stream] != expect:
                rep.problems.append(f"stream {stream}: versions in order {order[p][stream][:20]}"
                                    f", store {expect[:20]}")
    return rep




def rows_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counts.items())


# -- HTTP load ------------------------------------------------------------------------------

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


# -- small helpers ----------------------------------------------------------------------------


class _conn:
    """A connection from a pool, or a new one from a URL."""

    def __init__(self, source: Any):
        self.source, self.cm = source, None

    def __enter__(self) -> Any:
        if isinstance(self.source, psycopg.Connection):
            return self.source     # the caller's own connection: stays open
        if isinstance(self.source, str):
            self.cm = psycopg.connect(self.source, autocommit=True)
        else:
            self.cm = self.source.connection()
        return self.cm.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self.cm.__exit__(*exc) if self.cm is not None else None


def _get(row: Any, key: str, index: int = 0) -> Any:
    return row[key] if isinstance(row, dict) else row[index]
