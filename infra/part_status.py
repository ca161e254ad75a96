"""Each long-running part's heartbeat in PostgreSQL, so that any process can tell how all fare.

Every process writes one row per part it runs (`api`, `relay`, `project`,
`inbound`, `deadlines`) into `csm_part_status` every CSM_HEARTBEAT_SECONDS, and at
once when the part fails or recovers: instance, pid, host, last seen (the
database's clock), state (`running`, or `failed` with the error and since when)
and details (positions, lag per partition, last scan). A row that is no longer
written means its process stalled or died. A clean stop deletes the process's
rows; the rows of a process that died are deleted by the others after an hour.
Dead letters are counted per minute into `csm_dead_letter_counts`.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from csm.projections.pg_names import READ_SCHEMA, READ_SCHEMA_LOCK
from csm.projections.status import STATUS_DDL

log = structlog.get_logger()
FORGET_SECONDS = 3600

HEALTH_DDL = """
CREATE TABLE IF NOT EXISTS csm_part_status (
    part text NOT NULL,
    instance text NOT NULL,
    pid int NOT NULL,
    host text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL,
    error text,
    error_since timestamptz,
    details jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (part, instance)
);
CREATE TABLE IF NOT EXISTS csm_dead_letter_counts (
    topic text NOT NULL,
    minute timestamptz NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (topic, minute)
);
"""

UPSERT = """
INSERT INTO csm_part_status AS s (part, instance, pid, host, state, error, error_since, details)
VALUES (%(part)s, %(instance)s, %(pid)s, %(host)s, %(state)s, %(error)s, %(since)s, %(details)s)
ON CONFLICT (part, instance) DO UPDATE SET last_seen = now(), state = excluded.state,
    error = excluded.error, error_since = excluded.error_since, details = excluded.details"""


def ensure_health_tables(pool: ConnectionPool) -> None:
    """The heartbeat tables, and `projection_status` with its failure columns, so that a
    process running no projector (`csm api`) can read the whole picture."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (READ_SCHEMA_LOCK,))
        conn.execute(HEALTH_DDL)
        conn.execute(STATUS_DDL.format(schema=READ_SCHEMA))


class PartStatus:
    """How one part of this process fares. Failures are kept per cause (`key`), so that
    threads of one part (a projector per projection) do not clear each other's."""

    def __init__(self, part: str, changed: threading.Event | None = None):
        self.part, self.changed = part, changed
        self._lock = threading.Lock()
        self._errors: dict[str, tuple[str, datetime]] = {}
        self._details: dict[str, Any] = {}

    def failed(self, key: str, error: str) -> bool:
        """Records a failure; True if it is new (the caller may say so once)."""
        with self._lock:
            new = key not in self._errors
            self._errors[key] = (error[:2000], self._errors[key][1] if not new
                                 else datetime.now(UTC))
        if new and self.changed is not None:
            self.changed.set()
        return new

    def ok(self, key: str = "") -> bool:
        """Clears a failure; True if there was one."""
        with self._lock:
            was = self._errors.pop(key, None) is not None
        if was and self.changed is not None:
            self.changed.set()
        return was

    def update(self, **details: Any) -> None:
        with self._lock:
            self._details.update(details)

    def row(self) -> dict[str, Any]:
        with self._lock:
            errors = sorted(self._errors.items())
            details = dict(self._details)
        return {"part": self.part, "state": "failed" if errors else "running",
                "error": "; ".join(f"{k}: {e}" if k else e for k, (e, _) in errors) or None,
                "since": min((t for _, (_, t) in errors), default=None),
                "details": Jsonb(details)}


class Heartbeat:
    """Writes this process's part rows every `interval` seconds in a thread of its own."""

    def __init__(self, pool: ConnectionPool, interval: float):
        self.pool, self.interval = pool, interval
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.instance = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:6]}"
        self.parts: dict[str, PartStatus] = {}
        self.stop_event, self.changed = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None
        self.failing = False

    def part(self, name: str) -> PartStatus:
        """The status of part `name` in this process, written from now on."""
        if name not in self.parts:
            self.parts[name] = PartStatus(name, self.changed)
        if self.thread is None:
            self.thread = threading.Thread(target=self.run, name="csm-heartbeat", daemon=True)
            self.thread.start()
        self.changed.set()
        return self.parts[name]

    def beat(self) -> None:
        rows = [{**s.row(), "instance": self.instance, "pid": self.pid, "host": self.host}
                for s in list(self.parts.values())]
        with self.pool.connection() as conn, conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(UPSERT, rows)
            conn.execute("DELETE FROM csm_part_status WHERE last_seen < now() - "
                         "make_interval(secs => %s)", (FORGET_SECONDS,))

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.changed.clear()
            try:
                self.beat()
                if self.failing:
                    log.info("heartbeat_recovered", instance=self.instance)
                self.failing = False
            except Exception as exc:  # noqa: BLE001 - the store is away: the row ages, as it should
                if not self.failing:
                    log.warning("heartbeat_failed", instance=self.instance,
                                error=f"{type(exc).__name__}: {exc}"[:300])
                self.failing = True
            self.changed.wait(self.interval)

    def stop(self) -> None:
        """A clean stop: this process's rows go, so no one takes it for stalled."""
        self.stop_event.set()
        self.changed.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        try:
            with self.pool.connection(timeout=2) as conn:
                conn.execute("DELETE FROM csm_part_status WHERE instance = %s", (self.instance,))
        except Exception:  # noqa: BLE001 - the store is away: the rows will be forgotten
            pass


def count_dead_letters(pool: ConnectionPool, topic: str, n: int) -> None:
    if n:
        with pool.connection() as conn:
            conn.execute("INSERT INTO csm_dead_letter_counts VALUES (%s, date_trunc('minute', now()), "
                         "%s) ON CONFLICT (topic, minute) DO UPDATE SET count = "
                         "csm_dead_letter_counts.count + excluded.count", (topic, n))


class ConsumerLag:
    """Per partition: the offset committed last, the end offset the consumer saw, the lag."""

    def __init__(self, topic: str | None = None) -> None:
        self.topic = topic  # the one topic reported (a consumer may also read a retry topic)
        self.committed: dict[int, int] = {}

    def after_commit(self, consumer: Any, batch: dict[Any, list[Any]]) -> dict[str, Any]:
        mine = [tp for tp in consumer.assignment() if self.topic in (None, tp.topic)]
        batch = {tp: records for tp, records in batch.items() if tp in set(mine)}
        for tp, records in batch.items():
            if records:
                self.committed[tp.partition] = records[-1].offset + 1
        out = {}
        for tp in sorted(mine, key=lambda t: t.partition):
            end, done = consumer.highwater(tp), self.committed.get(tp.partition)
            if end is not None:
                done = end if done is None and not batch.get(tp) else done
                out[str(tp.partition)] = {"committed": done, "end": end,
                                          "lag": max(0, end - (done or 0))}
        return out
