"""The outbox relay: event store → `csm.events`, in position order, at least once.

Reads events after its recorded progress, publishes them keyed by stream id
with an idempotent producer (acks=all), waits until the broker acknowledged
every one, writes a watermark to every partition, and only then records the
new progress in PostgreSQL. A crash or a broker outage means publishing the
same events again; consumers skip what they have seen.
"""
from __future__ import annotations

import threading
from typing import Any

import structlog
from kafka.errors import KafkaError
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from csm.consumers.kafka_io import BROADCAST_TYPES, WATERMARK, ensure_topics, event_message, producer
from csm.infra.schema import EVENTS
from csm.projections.events import decode_stored

log = structlog.get_logger()
SELECT = (f"SELECT notification_id, originator_id, originator_version, topic, state, recorded_at "
          f"FROM {EVENTS} WHERE notification_id > %s ORDER BY notification_id LIMIT %s")


class Relay:
    def __init__(self, pool: ConnectionPool, bootstrap: str, topic: str, partitions: int,
                 batch: int = 5000):
        self.pool, self.bootstrap, self.topic = pool, bootstrap, topic
        self.partitions, self.batch = partitions, batch
        self.position = 0
        self.published = 0

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

    def publish_once(self, prod: Any) -> int:
        """Publishes the next batch; returns how many events it published (0: nothing new)."""
        rows = self._read()
        if not rows:
            return 0
        futures = []
        for position, stream_id, version, topic, state, recorded_at in rows:
            ev = decode_stored(position, stream_id, version, topic, state)
            value, key = event_message(ev, recorded_at), stream_id.encode()
            headers = [("type", ev.type.encode())]
            if ev.type in BROADCAST_TYPES:
                futures += [prod.send(self.topic, value=value, key=key, headers=headers,
                                      partition=p) for p in range(self.partitions)]
            else:
                futures.append(prod.send(self.topic, value=value, key=key, headers=headers))
        last = rows[-1][0]
        mark = b'{"watermark": %d}' % last
        futures += [prod.send(self.topic, value=mark, headers=[("type", WATERMARK.encode())],
                              partition=p) for p in range(self.partitions)]
        prod.flush(timeout=60)
        for f in futures:
            f.get(timeout=0)  # raises the broker's error for any record not acknowledged
        with self.pool.connection() as conn:
            conn.execute("UPDATE csm_relay_progress SET position = %s, updated_at = now() "
                         "WHERE topic = %s", (last, self.topic))
        self.position = last
        self.published += len(rows)
        return len(rows)

    def run(self, stop: threading.Event, wake: threading.Event, poll: float = 0.5) -> None:
        prod = None
        while not stop.is_set():
            try:
                if prod is None:
                    ensure_topics(self.bootstrap, [self.topic], self.partitions)
                    prod = producer(self.bootstrap)
                    self.position = self._load()
                    log.info("relay_started", topic=self.topic, position=self.position)
                if self.publish_once(prod):
                    continue
                wake.wait(poll)
                wake.clear()
            except (KafkaError, TimeoutError, OSError) as exc:
                log.warning("relay_broker_unavailable", error=repr(exc)[:300], position=self.position)
                prod = _close(prod)
                stop.wait(1.0)
            except Exception:
                log.exception("relay_failed", position=self.position)
                prod = _close(prod)
                stop.wait(1.0)
        _close(prod)


def _close(prod: Any) -> None:
    if prod is not None:
        try:
            prod.close(timeout=2)
        except Exception:  # closing a producer whose broker is gone may fail; nothing to save
            pass
    return None

