"""A projection fed from `csm.events`: one consumer group per projection, exactly-once effect.

The broker's committed offsets are not trusted: each partition's next offset,
the highest position applied from it (duplicates from relay retries are at or
below it, so they are skipped) and the projection state as that partition
has seen it live in `projection_partitions`, written in the same transaction
as the row changes. `projection_status.position` is the lowest watermark over
all partitions: every event up to it has been applied, whichever process
holds which partition.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import structlog
from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from csm.consumers.kafka_io import WATERMARK, consumer, decode_message, ensure_topics, header
from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.runner import Conflict, flush, prefetch

log = structlog.get_logger()


@dataclass
class Lane:
    next_offset: int
    position: int
    state: dict[str, Any]


class KafkaProjector(ConsumerRebalanceListener):
    def __init__(self, pool: ConnectionPool, bootstrap: str, topic: str, partitions: int,
                 projection: Projection, zone: ZoneInfo, schema: str = "csm_read"):
        self.pool, self.bootstrap, self.topic, self.partitions = pool, bootstrap, topic, partitions
        self.p, self.zone, self.schema = projection, zone, schema
        self.lanes: dict[int, Lane] = {}
        self.consumer: Any = None
        self.applied = 0

    # -- tracking in PostgreSQL -------------------------------------------------
    def _init_rows(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            status = conn.execute(f'SELECT position, state FROM "{self.schema}".projection_status '
                                  f'WHERE name = %s', (self.p.name,)).fetchone()
            for partition in range(self.partitions):
                conn.execute(
                    f'INSERT INTO "{self.schema}".projection_partitions VALUES '
                    f'(%s, %s, %s, 0, %s, %s) ON CONFLICT DO NOTHING',
                    (self.p.name, self.topic, partition, status["position"], Jsonb(status["state"])))

    def _load(self, partitions: list[int]) -> dict[int, Lane]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f'SELECT partition, next_offset, position, state FROM "{self.schema}".'
                f'projection_partitions WHERE name = %s AND topic = %s AND partition = ANY(%s)',
                (self.p.name, self.topic, partitions)).fetchall()
        return {r["partition"]: Lane(r["next_offset"], r["position"],
                                     r["state"] or self.p.initial_state()) for r in rows}

    # -- rebalance ------------------------------------------------------------
    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.lanes = self._load([tp.partition for tp in assigned])
        for tp in assigned:
            self.consumer.seek(tp, self.lanes[tp.partition].next_offset)
        log.info("projector_assigned", projection=self.p.name,
                 partitions=sorted(self.lanes))

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.lanes.pop(tp.partition, None)

    # -- applying -------------------------------------------------------------
    def apply(self, batch: dict[TopicPartition, list[Any]]) -> None:
        lanes = {tp.partition: Lane(self.lanes[tp.partition].next_offset,
                                    self.lanes[tp.partition].position,
                                    orjson.loads(orjson.dumps(self.lanes[tp.partition].state)))
                 for tp in batch if tp.partition in self.lanes}
        todo: list[tuple[Lane, Ev]] = []
        for tp, records in batch.items():
            lane = lanes.get(tp.partition)
            if lane is None:
                continue
            for rec in records:
                if rec.offset < lane.next_offset:
                    continue
                lane.next_offset = rec.offset + 1
                if header(rec.headers, "type") == WATERMARK:
                    lane.position = max(lane.position, orjson.loads(rec.value)["watermark"])
                    continue
                ev = decode_message(rec.value)
                if ev.position <= lane.position:
                    continue  # published again by a relay retry: applied already
                lane.position = ev.position
                todo.append((lane, ev))
        w = Writer(self.zone, {})
        with self.pool.connection() as conn, conn.transaction():
            self._check(conn, lanes)
            prefetch(conn, self.schema, self.p, [ev for _, ev in todo], w)
            for lane, ev in todo:
                if ev.type in self.p.handles:
                    w.state = lane.state
                    self.p.apply(ev, w)
                    lane.state = w.state
            with conn.cursor() as cur:
                flush(cur, self.schema, self.p, w)
            self._record(conn, lanes)
        self.lanes.update(lanes)
        self.applied += len(todo)

    def _check(self, conn: Any, lanes: dict[int, Lane]) -> None:
        rows = conn.execute(
            f'SELECT partition, next_offset, position FROM "{self.schema}".projection_partitions '
            f'WHERE name = %s AND topic = %s AND partition = ANY(%s) ORDER BY partition FOR UPDATE',
            (self.p.name, self.topic, sorted(lanes))).fetchall()
        for r in rows:
            mine = self.lanes[r["partition"]]
            if (r["next_offset"], r["position"]) != (mine.next_offset, mine.position):
                raise Conflict(f"{self.p.name}/{r['partition']}")

    def _record(self, conn: Any, lanes: dict[int, Lane]) -> None:
        for partition, lane in lanes.items():
            conn.execute(
                f'UPDATE "{self.schema}".projection_partitions SET next_offset = %s, '
                f'position = %s, state = %s WHERE name = %s AND topic = %s AND partition = %s',
                (lane.next_offset, lane.position, Jsonb(lane.state), self.p.name, self.topic,
                 partition))
        conn.execute(
            f'UPDATE "{self.schema}".projection_status s SET position = m.low, state = m.state, '
            f'updated_at = now() FROM (SELECT min(position) AS low, '
            f'(array_agg(state ORDER BY position DESC))[1] AS state '
            f'FROM "{self.schema}".projection_partitions WHERE name = %s AND topic = %s) m '
            f'WHERE s.name = %s', (self.p.name, self.topic, self.p.name))

    # -- loop -----------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.consumer is None:
                    ensure_topics(self.bootstrap, [self.topic], self.partitions)
                    self._init_rows()
                    self.consumer = consumer(self.bootstrap, f"csm-projector-{self.p.name}")
                    self.consumer.subscribe([self.topic], listener=self)
                batch = self.consumer.poll(timeout_ms=500, max_records=5000)
                if batch:
                    self.apply(batch)
                    self.consumer.commit_async()
            except Conflict as c:
                log.info("projector_partition_moved", projection=self.p.name, lane=str(c))
                self._reseek()
            except (KafkaError, OSError) as exc:
                log.warning("projector_broker_unavailable", projection=self.p.name,
                            error=repr(exc)[:200])
                self._close()
                stop.wait(1.0)
            except Exception:
                log.exception("projector_failed", projection=self.p.name)
                self._close()
                stop.wait(1.0)
        self._close()

    def _reseek(self) -> None:
        assigned = list(self.consumer.assignment())
        self.on_partitions_assigned(assigned)

    def _close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close(autocommit=False)
            except Exception:  # a consumer whose broker is gone may fail to close; nothing to save
                pass
        self.consumer, self.lanes = None, {}
