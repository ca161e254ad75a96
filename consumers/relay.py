"""The outbox relay: event store → `csm.events`, in position order, at least once.

Reads events after its recorded progress, publishes them keyed by stream id
with an idempotent producer (acks=all), waits until the broker acknowledged
every one, and only then records the new progress in PostgreSQL. A crash or a
broker outage means publishing the same events again; consumers skip what they
have seen. The producer is kept through an outage: a batch in flight is
delivered once the broker is back, without publishing it twice.

Per-partition progress (see `consumers.kafka_io`): the last event a batch
writes to a partition carries the header `watermark: N` (N = the batch's last
position); a partition the batch does not touch gets a watermark record, at
most one per `MARK_EVERY` seconds — one owed meanwhile is sent when due, even
when no more events come.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from kafka.errors import KafkaError
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from csm.consumers.kafka_io import (
    BROADCAST_TYPES,
    MARK_HEADER,
    WATERMARK,
    Undelivered,
    close,
    deliver,
    ensure_topics,
    event_message,
    made,
    partition_of,
    producer,
    retriable,
)
from csm.consumers.outage import Outage
from csm.infra.part_status import PartStatus
from csm.projections.pg_names import EVENTS
from csm.projections.events import decode_stored

log = structlog.get_logger()
SELECT = (f"SELECT notification_id, originator_id, originator_version, topic, state, recorded_at "
          f"FROM {EVENTS} WHERE notification_id > %s ORDER BY notification_id LIMIT %s")
MARK_EVERY = 0.1


class Marks:
    """Per partition: the position it is vouched for up to, and when it last was."""

    def __init__(self, every: float = MARK_EVERY):
        self.every = every
        self.upto: dict[int, int] = {}
        self.at: dict[int, float] = {}

    def due(self, partition: int, now: float) -> bool:
        return now - self.at.get(partition, float("-inf")) >= self.every

    def owing(self, partitions: int, position: int) -> list[int]:
        return [p for p in range(partitions) if self.upto.get(p, 0) < position]

    def vouched(self, partitions: list[int], position: int, now: float) -> None:
        for p in partitions:
            self.upto[p], self.at[p] = position, now


class Relay:
    def __init__(self, pool: ConnectionPool, bootstrap: str, topic: str, partitions: int,
                 batch: int = 5000):
        self.pool, self.bootstrap, self.topic = pool, bootstrap, topic
        self.partitions, self.batch = partitions, batch
        self.position = 0
        self.published = self.watermarks = 0
        self.marks = Marks()
        self.broker = Outage("kafka_unavailable", "kafka_recovered", client="relay")
        self.failure = Outage("relay_failed", "relay_recovered", topic=topic)
        self.status = PartStatus("relay")  # replaced by the process's heartbeat status

    def _load(self) -> int:
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO csm_relay_progress (topic, position) VALUES (%s, 0) "
                         "ON CONFLICT DO NOTHING", (self.topic,))
            return conn.execute("SELECT position FROM csm_relay_progress WHERE topic = %s",
                                (self.topic,)).fetchone()["position"]

    def _read(self) -> list[tuple]:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            return cur.execute(SELECT, (self.position, self.batch), binary=True).fetchall()

    def publish_once(self, prod: Any, stop: threading.Event | None = None) -> int:
        """Publishes the next batch; returns how many events it published (0: nothing new)."""
        rows = self._read()
        if not rows:
            return 0
        last = rows[-1][0]
        records: list[tuple[int, bytes, bytes, list]] = []
        for position, stream_id, version, topic, state, recorded_at in rows:
            ev = decode_stored(position, stream_id, version, topic, state)
            value, key = event_message(ev, recorded_at), stream_id.encode()
            targets = range(self.partitions) if ev.type in BROADCAST_TYPES else \
                (partition_of(key, self.partitions),)
            records += [(p, value, key, [("type", ev.type.encode())]) for p in targets]
        final = {p: i for i, (p, *_) in enumerate(records)}
        for i in final.values():
            records[i][3].append((MARK_HEADER, b"%d" % last))
        futures = [prod.send(self.topic, value=value, key=key, headers=headers, partition=p)
                   for p, value, key, headers in records]
        now = time.monotonic()
        marked = [p for p in self.marks.owing(self.partitions, last)
                  if p not in final and self.marks.due(p, now)]
        futures += self._send_marks(prod, marked, last)
        self._wait(prod, futures, stop)
        with self.pool.connection() as conn:
            conn.execute("UPDATE csm_relay_progress SET position = %s, updated_at = now() "
                         "WHERE topic = %s", (last, self.topic))
        self.marks.vouched([*final, *marked], last, now)
        self.position = last
        self.published += len(rows)
        return len(rows)

    def send_owed_marks(self, prod: Any, stop: threading.Event | None = None) -> float | None:
        """Watermarks owed to partitions that are due; returns seconds until the next is due."""
        owing = self.marks.owing(self.partitions, self.position)
        if not owing:
            return None
        now = time.monotonic()
        due = [p for p in owing if self.marks.due(p, now)]
        if due:
            self._wait(prod, self._send_marks(prod, due, self.position), stop)
            self.marks.vouched(due, self.position, now)
        later = [p for p in owing if p not in due]
        if not later:
            return None
        return max(0.0, min(self.marks.at[p] + self.marks.every for p in later) - now)

    def _send_marks(self, prod: Any, partitions: list[int], position: int) -> list:
        self.watermarks += len(partitions)
        value = b'{"watermark": %d}' % position
        return [prod.send(self.topic, value=value, headers=[("type", WATERMARK.encode())],
                          partition=p) for p in partitions]

    def _wait(self, prod: Any, futures: list, stop: threading.Event | None) -> None:
        """Until the broker acknowledged every record, however long it is away."""
        deliver(prod, self.broker, stop)
        for f in futures:
            if f.failed():
                raise Undelivered(f.exception)

    def _start(self) -> Any:
        ensure_topics(self.bootstrap, [self.topic], self.partitions)
        prod = producer(self.bootstrap)
        try:
            self.partitions = len(prod.partitions_for(self.topic))
            self.position = self._load()
        except BaseException:
            close(prod)
            raise
        self.marks = Marks()
        self.broker.end()
        log.info("relay_started", topic=self.topic, position=self.position,
                 partitions=self.partitions)
        return prod

    def run(self, stop: threading.Event, wake: threading.Event, poll: float = 0.5) -> None:
        prod = None
        while not stop.is_set():
            if prod is None and (prod := made(self._start, self.broker, stop)) is None:
                continue
            try:
                wake.clear()
                published = self.publish_once(prod, stop)
                self.failure.end()
                self.status.update(position=self.position)
                self.status.ok()
                if published:
                    continue
                due = self.send_owed_marks(prod, stop)
                wake.wait(poll if due is None else min(poll, due))
            except Exception as exc:
                if stop.is_set():
                    break
                if retriable(exc):
                    self.broker.begin(exc)
                    self.status.failed("", f"broker unavailable: {type(exc).__name__}: {exc}")
                else:
                    self.failure.begin(exc, trace=not isinstance(exc, Undelivered))
                    self.status.failed("", f"cannot publish the events after position "
                                           f"{self.position}: {type(exc).__name__}: {exc}")
                    if isinstance(exc, (KafkaError, Undelivered)):  # a producer that failed
                        prod = close(prod)
                stop.wait(1.0)
        close(prod)
