"""The outbox relay: event store → `csm.events`, in position order, at least once.

Reads events after its recorded progress, publishes them keyed by stream id
with an idempotent producer (acks=all), waits until the broker acknowledged
every one, and only then records the new progress in PostgreSQL. A crash or a
broker outage means publishing the same events again; consumers skip what they
have seen. The producer is kept through an outage: a batch in flight is
delivered once the broker is back, without publishing it twice.

While it catches up (a batch came back full), the next batch is read and encoded
while the broker is still acknowledging the one sent. It is only sent once that one
is acknowledged and its progress recorded, so nothing changes in what is sent, in
which order, or in what a crash leaves.

Per-partition progress (see `consumers.kafka_io`): the last event a batch
writes to a partition carries the header `watermark: N` (N = the batch's last
position); a partition the batch does not touch gets a watermark record, at
most one per `MARK_EVERY` seconds — one owed meanwhile is sent when due, even
when no more events come.

The producer is either Kafka client behind one small interface, chosen by
`CSM_KAFKA_CLIENT` (consumers/relay_producers.py).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import orjson
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
    ensure_topics,
    event_message,
    made,
    partition_of,
    retriable,
)
from csm.consumers.outage import Outage
from csm.consumers.relay_producers import relay_producer
from csm.domain.base import event_id
from csm.infra.part_status import PartStatus
from csm.infra.settings import get_settings
from csm.projections.events import ENVELOPE_KEYS, decode_stored, type_of_topic
from csm.projections.pg_names import EVENTS

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


# --- the record value of a stored event -----------------------------------------------------

_TYPES: dict[str, str] = {}     # stored topic → event type
_TYPED = b'"_type_"'
_loads, _dumps, _fromiso = orjson.loads, orjson.dumps, datetime.fromisoformat


def message_of(row: tuple) -> tuple[bytes, str]:
    """A stored row's record value and its event type: byte for byte
    `event_message(decode_stored(...), recorded_at)`, made with one JSON parse and one
    dump into the value when the row allows it: when its typed values
    (`{"_type_": ..., "_data_": ...}`) are all at the top level, as in most events. Any
    other row, and any row that fails here, goes through `decode_stored`, which decodes
    it (or raises what is wrong with it)."""
    position, stream_id, version, topic, state, recorded_at = row
    try:
        raw = _loads(state)
        occurred = raw.pop("occurred_at")
        typed = 0
        if type(occurred) is dict:
            typed = "_type_" in occurred
            occurred = occurred["_data_"]
        for k in ENVELOPE_KEYS:
            v = raw.pop(k, None)
            if type(v) is dict and "_type_" in v:
                typed += 1
        for k, v in raw.items():
            if type(v) is dict and "_type_" in v:
                typed += 1
                raw[k] = v["_data_"]
        if state.count(_TYPED) <= typed:    # no typed values deeper down
            kind = _TYPES.get(topic) or _TYPES.setdefault(topic, type_of_topic(topic))
            return _dumps({
                "event_id": event_id(stream_id, version), "position": position,
                "stream_id": stream_id, "stream_version": version, "type": kind,
                "occurred_at": _fromiso(occurred), "recorded_at": recorded_at,
                "data": raw}), kind
    except Exception:   # noqa: BLE001 - decode_stored below says what is wrong
        pass
    ev = decode_stored(position, stream_id, version, topic, state)
    return event_message(ev, recorded_at), ev.type


# --- the relay --------------------------------------------------------------------------------

class Relay:
    """`client`: "kafka-python" or "confluent" (default: CSM_KAFKA_CLIENT)."""

    def __init__(self, pool: ConnectionPool, bootstrap: str, topic: str, partitions: int,
                 batch: int = 5000, client: str | None = None):
        self.pool, self.bootstrap, self.topic = pool, bootstrap, topic
        self.partitions, self.batch = partitions, batch
        self.client = client or get_settings().csm_kafka_client
        self.position = 0
        self.published = self.watermarks = 0
        self.marks = Marks()
        self.broker = Outage("kafka_unavailable", "kafka_recovered", client="relay")
        self.failure = Outage("relay_failed", "relay_recovered", topic=topic)
        self.status = PartStatus("relay")  # replaced by the process's heartbeat status
        self._keyed: tuple[int, dict[bytes, int]] = (partitions, {})  # key → its partition
        self._headers: dict[str, list] = {}                           # type → its headers
        self._ahead: tuple | None = None   # the next batch, made while one was delivered

    def _load(self) -> int:
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO csm_relay_progress (topic, position) VALUES (%s, 0) "
                         "ON CONFLICT DO NOTHING", (self.topic,))
            return conn.execute("SELECT position FROM csm_relay_progress WHERE topic = %s",
                                (self.topic,)).fetchone()["position"]

    def _read(self, after: int) -> list[tuple]:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            return cur.execute(SELECT, (after, self.batch), binary=True).fetchall()

    def _batch(self, after: int) -> tuple | None:
        """The events after position `after`, as (how many, last position, records, the
        partitions they write to); None when there are none."""
        rows = self._read(after)
        if not rows:
            return None
        return (len(rows), rows[-1][0], *self._records(rows))

    def _next(self) -> tuple | None:
        """The batch after the relay's position: the one made ahead if it follows it."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (self.position, self.partitions):
            return ahead[2]
        return self._batch(self.position)

    def _make_ahead(self, after: int) -> None:
        """The batch after `after`, made now for the next call. One that fails here is left
        to that call, which reads it again and says what is wrong with it."""
        self._ahead = None
        try:
            batch = self._batch(after)
        except Exception:   # noqa: BLE001 - raised again where it is read for real
            return
        if batch is not None:   # none yet: the next call asks again
            self._ahead = (after, self.partitions, batch)

    def _records(self, rows: list[tuple]) -> tuple[list[tuple[int, bytes, bytes, list]],
                                                   list[int]]:
        """(partition, value, key, headers) of each record the rows make, in order, the last
        one of each partition with the batch's watermark header; and those partitions."""
        n = self.partitions
        if self._keyed[0] != n or len(self._keyed[1]) > 500_000:
            self._keyed = (n, {})
        keyed, headers_of = self._keyed[1], self._headers
        records: list[tuple[int, bytes, bytes, list]] = []
        add = records.append
        for row in rows:
            value, kind = message_of(row)
            key = row[1].encode()
            headers = headers_of.get(kind) or headers_of.setdefault(
                kind, [("type", kind.encode())])   # shared: no client changes them
            if kind in BROADCAST_TYPES:
                records += [(p, value, key, headers) for p in range(n)]
                continue
            p = keyed.get(key)
            if p is None:
                p = keyed[key] = partition_of(key, n)
            add((p, value, key, headers))
        final = {p: i for i, (p, *_) in enumerate(records)}
        mark = (MARK_HEADER, b"%d" % rows[-1][0])
        for i in final.values():
            p, value, key, headers = records[i]
            records[i] = (p, value, key, [*headers, mark])
        return records, list(final)

    def publish_once(self, prod: Any, stop: threading.Event | None = None) -> int:
        """Publishes the next batch; returns how many events it published (0: nothing new).
        `prod`: the relay's producer (`relay_producer`)."""
        batch = self._next()
        if batch is None:
            return 0
        n, last, records, final = batch
        topic, send = self.topic, prod.send
        for p, value, key, headers in records:
            send(topic, p, key, value, headers)
        now = time.monotonic()
        marked = [p for p in self.marks.owing(self.partitions, last)
                  if p not in final and self.marks.due(p, now)]
        self._send_marks(prod, marked, last)
        if n == self.batch:     # catching up: more to come
            self._make_ahead(last)
        prod.wait(self.broker, stop)
        with self.pool.connection() as conn:
            conn.execute("UPDATE csm_relay_progress SET position = %s, updated_at = now() "
                         "WHERE topic = %s", (last, self.topic))
        self.marks.vouched([*final, *marked], last, now)
        self.position = last
        self.published += n
        return n

    def send_owed_marks(self, prod: Any, stop: threading.Event | None = None) -> float | None:
        """Watermarks owed to partitions that are due; returns seconds until the next is due."""
        owing = self.marks.owing(self.partitions, self.position)
        if not owing:
            return None
        now = time.monotonic()
        due = [p for p in owing if self.marks.due(p, now)]
        if due:
            self._send_marks(prod, due, self.position)
            prod.wait(self.broker, stop)
            self.marks.vouched(due, self.position, now)
        later = [p for p in owing if p not in due]
        if not later:
            return None
        return max(0.0, min(self.marks.at[p] + self.marks.every for p in later) - now)

    def _send_marks(self, prod: Any, partitions: list[int], position: int) -> None:
        self.watermarks += len(partitions)
        value, headers = b'{"watermark": %d}' % position, [("type", WATERMARK.encode())]
        for p in partitions:
            prod.send(self.topic, p, None, value, headers)

    def _start(self) -> Any:
        ensure_topics(self.bootstrap, [self.topic], self.partitions)
        prod = relay_producer(self.bootstrap, self.client)
        try:
            self.partitions = prod.partitions(self.topic)
            self.position = self._load()
        except BaseException:
            close(prod)
            raise
        self.marks = Marks()
        self.broker.end()
        log.info("relay_started", topic=self.topic, position=self.position,
                 partitions=self.partitions, client=prod.client)
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
