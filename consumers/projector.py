"""A projection fed from `csm.events`: one consumer group per projection, exactly-once effect.

The broker's committed offsets are not trusted: each partition's next offset,
the highest position applied from it (duplicates from relay retries are at or
below it, so they are skipped) and the projection state as that partition
has seen it live in `projection_partitions`, written in the same transaction
as the row changes. `projection_status.position` is the lowest watermark over
all partitions: every event up to it has been applied, whichever process
holds which partition.

A projection that cannot apply an event (its code raises, or PostgreSQL refuses
its rows) writes nothing of that batch but the event's position, id and error
into `projection_status`, and reads the same records again after a backoff (1 s
doubling to 30 s) until it can: the other projections, in consumer groups of
their own, go on.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from csm.consumers.kafka_io import (
    WATERMARK,
    close,
    consumer,
    decode_message,
    ensure_topics,
    header,
    mark_of,
    retriable,
)
from csm.consumers.outage import Outage
from csm.infra.part_status import PartStatus
from csm.projections.pg_names import READ_SCHEMA
from csm.projections import failure as fail
from csm.projections.base import Projection, Writer
from csm.projections.batch import apply_batch
from csm.projections.batch_rows import fetch, flush
from csm.projections.events import Ev
from csm.projections.runner import Conflict
from csm.projections.status import clear_failure, record_failure

log = structlog.get_logger()


class Halted(Exception):
    """The projection cannot apply an event of the batch: wait, then read it again."""


@dataclass
class Lane:
    next_offset: int
    position: int
    state: dict[str, Any]


class KafkaProjector(ConsumerRebalanceListener):
    def __init__(self, pool: ConnectionPool, bootstrap: str, topic: str, partitions: int,
                 projection: Projection, zone: ZoneInfo, schema: str = READ_SCHEMA):
        self.pool, self.bootstrap, self.topic, self.partitions = pool, bootstrap, topic, partitions
        self.p, self.zone, self.schema = projection, zone, schema
        self.lanes: dict[int, Lane] = {}
        self.consumer: Any = None
        self.applied = 0
        self.stopped: fail.Stopped | None = None
        self.status = PartStatus("project")  # replaced by the process's heartbeat status
        self.broker = Outage("kafka_unavailable", "kafka_recovered",
                             client=f"csm-projector-{projection.name}")

    # -- tracking in PostgreSQL -------------------------------------------------
    def _init_rows(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            status = conn.execute(f'SELECT position, state, failed_position, failed_event_id, '
                                  f'failed_error FROM "{self.schema}".projection_status '
                                  f'WHERE name = %s', (self.p.name,)).fetchone()
            if status["failed_position"] is not None and self.stopped is None:
                # Failed before this process started: try again at once.
                self.stopped = fail.Stopped(status["failed_position"],
                                            status["failed_event_id"],
                                            status["failed_error"] or "", retry_at=0.0,
                                            since=time.monotonic())
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
        """Applies a poll's records in one transaction. If the projection cannot apply one of
        them, nothing of the batch is written but the failure: it raises `Halted`, and the
        same records are read again after a backoff."""
        lanes, todo = self._plan(batch)
        failure: tuple[int, BaseException] | None = None
        with self.pool.connection() as conn, conn.transaction():
            self._check(conn, lanes)
            loaded = fetch(conn, self.schema, self.p, [ev for _, ev in todo])
            try:
                w, states = self._build(lanes, todo, len(todo), loaded)
                with conn.transaction(), conn.cursor() as cur:
                    flush(cur, self.schema, self.p, w)
            except fail.STORE_ERRORS:
                raise
            except fail.CannotApply as failed:
                failure = (failed.index, failed.error)
            except Exception as refused:  # noqa: BLE001 - PostgreSQL refused the rows
                failure = fail.writable_prefix(
                    lambda k: self._try(conn, lanes, todo, k, loaded), len(todo), refused)
            if failure is not None:
                bad = todo[failure[0]][1]
                record_failure(conn, self.schema, self.p.name, bad.position, bad.event_id,
                               fail.describe_error(failure[1]))
            else:
                for partition, state in states.items():
                    lanes[partition].state = state
                self._record(conn, lanes)
                if self.stopped is not None:
                    clear_failure(conn, self.schema, self.p.name)
        if failure is not None:
            self.stopped = fail.halt(self.stopped, self.p.name, todo[failure[0]][1],
                                     fail.describe_error(failure[1]), time.monotonic())
            raise Halted(self.p.name)
        self.lanes.update(lanes)
        self.applied += len(todo)
        if self.stopped is not None:
            fail.recovered(self.p.name, self.stopped, time.monotonic())
            self.stopped = None

    def _plan(self, batch: dict[TopicPartition, list[Any]]
              ) -> tuple[dict[int, Lane], list[tuple[int, Ev]]]:
        """The lanes after these records, and the events to apply (partition, event)."""
        lanes = {tp.partition: Lane(self.lanes[tp.partition].next_offset,
                                    self.lanes[tp.partition].position,
                                    self.lanes[tp.partition].state)
                 for tp in batch if tp.partition in self.lanes}
        todo: list[tuple[int, Ev]] = []
        for tp, records in batch.items():
            lane = lanes.get(tp.partition)
            if lane is None:
                continue
            for rec in records:
                if rec.offset < lane.next_offset:
                    continue
                lane.next_offset = rec.offset + 1
                mark = mark_of(rec)
                if header(rec.headers, "type") == WATERMARK:
                    lane.position = max(lane.position, mark)
                    continue
                ev = decode_message(rec.value)
                if ev.position <= lane.position:
                    continue  # published again by a relay retry: applied already
                lane.position = max(ev.position, mark or 0)
                todo.append((tp.partition, ev))
        return lanes, todo

    def _build(self, lanes: dict[int, Lane], todo: list[tuple[int, Ev]], count: int,
               loaded: dict) -> tuple[Writer, dict[int, dict[str, Any]]]:
        """The first `count` events applied in memory, each with its partition's state."""
        head = todo[:count]
        return apply_batch(self.p, [ev for _, ev in head], self.zone, loaded,
                           {partition: lane.state for partition, lane in lanes.items()},
                           [partition for partition, _ in head])

    def _try(self, conn: Any, lanes: dict[int, Lane], todo: list[tuple[int, Ev]], count: int,
             loaded: dict) -> None:
        """Writes the rows of the first `count` events in a savepoint, always rolled back."""
        with conn.transaction():
            w, _ = self._build(lanes, todo, count, loaded)
            with conn.cursor() as cur:
                flush(cur, self.schema, self.p, w)
            raise psycopg.Rollback()

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
        # The status row locked first: the UPDATE below then reads the partition rows with a
        # snapshot taken after every other process's transaction that wrote them committed.
        # Otherwise two processes committing together each compute the minimum from the
        # other's old rows, and the later one leaves a watermark (and state) behind for good.
        conn.execute(f'SELECT 1 FROM "{self.schema}".projection_status WHERE name = %s '
                     f'FOR UPDATE', (self.p.name,))
        conn.execute(
            f'UPDATE "{self.schema}".projection_status s SET position = m.low, state = m.state, '
            f'updated_at = now() FROM (SELECT min(position) AS low, '
            f'(array_agg(state ORDER BY position DESC))[1] AS state '
            f'FROM "{self.schema}".projection_partitions WHERE name = %s AND topic = %s) m '
            f'WHERE s.name = %s', (self.p.name, self.topic, self.p.name))

    # -- loop -----------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        troubled = 0
        while not stop.is_set():
            try:
                if self.consumer is None:
                    ensure_topics(self.bootstrap, [self.topic], self.partitions)
                    self._init_rows()
                    self.consumer = consumer(self.bootstrap, f"csm-projector-{self.p.name}",
                                             broker=self.broker)
                    self.consumer.subscribe([self.topic], listener=self)
                    self.broker.end()
                batch = self.consumer.poll(timeout_ms=500, max_records=5000)
                if batch:
                    self.apply(batch)
                    self.consumer.commit_async()
                if troubled:
                    log.info("projector_recovered", projection=self.p.name)
                troubled = 0
                self.status.ok(self.p.name)
            except Halted:
                stop.wait(max(0.0, self.stopped.retry_at - time.monotonic()))
                self._reseek()
            except Conflict as c:
                log.info("projector_partition_moved", projection=self.p.name, lane=str(c))
                self._reseek()
            except (KafkaError, OSError) as exc:
                troubled += 1
                self.status.failed(self.p.name,
                                   f"broker unavailable: {fail.describe_error(exc)}")
                self.broker.begin(exc)
                if not retriable(exc):
                    self._close()
                stop.wait(1.0)
            except Exception as exc:  # noqa: BLE001 - the store, not the projection: retry
                troubled += 1
                self.status.failed(self.p.name, fail.describe_error(exc))
                if troubled == 1:
                    log.error("projector_failed", projection=self.p.name,
                              error=fail.describe_error(exc))
                self._close()
                stop.wait(fail.backoff(troubled))
        self._close()

    def _reseek(self) -> None:
        assigned = list(self.consumer.assignment())
        self.on_partitions_assigned(assigned)

    def _close(self) -> None:
        close(self.consumer)
        self.consumer, self.lanes = None, {}
