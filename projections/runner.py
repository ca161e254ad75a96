"""Applies events to projections in batches with exactly-once effect; a projection that
cannot apply an event stops alone.

For each batch: prefetch the rows the events read, apply every event to every
projection that has not yet seen it (in memory), then write all row changes
and each projection's new position and state in ONE transaction, each
projection in a savepoint of its own. The status rows are locked and checked
first: if another runner moved a projection meanwhile, the batch is dropped
and the runner reloads — never applied twice. While a full batch is written, the
next is read (projections/read_ahead.py); Python's cycle collector waits until a
batch is done (projections/gc_pause.py).

With `isolate` (the live runner), a projection that cannot apply an event —
its code raises, or PostgreSQL refuses the rows it made — is written up to the
event before it; the event's position, id and the error go into its status
row, and it is tried again from that event after a backoff (1 s doubling to
30 s) while the others go on: nothing skipped, nothing applied twice. It
resumes by itself once the cause is gone. Without `isolate` (a rebuild) such a
failure raises `ProjectionFailed`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from csm.projections.pg_names import READ_SCHEMA
from csm.projections.base import Projection, Writer
from csm.projections.batch import apply_batch
from csm.projections.batch_rows import fetch, flush
from csm.projections.events import Ev
from csm.projections.failure import (
    STORE_ERRORS,
    CannotApply,
    ProjectionFailed,
    Stopped,
    describe_error,
    halt,
    recovered,
    writable_prefix,
)
from csm.projections.status import clear_failure, load_status, record_failure
from csm.projections.gc_pause import collector_paused
from csm.projections.read_ahead import ReadAhead

log = structlog.get_logger()
BATCH = 10000


class Conflict(Exception):
    """Another runner applied events to one of our projections since we loaded it."""


@dataclass
class Plan:
    """One projection's part of a batch: the events it has not seen, and what came of them."""
    p: Projection
    todo: list[Ev]
    loaded: dict[str, dict[tuple, dict[str, Any]]] = field(default_factory=dict)
    count: int = 0                      # events of `todo` written
    error: BaseException | None = None  # why todo[count] could not be
    writer: Writer | None = None


class Runner:
    def __init__(self, pool: ConnectionPool, projections: Sequence[Projection], zone: ZoneInfo,
                 schema: str = READ_SCHEMA, *, isolate: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.pool, self.projections, self.zone, self.schema = pool, list(projections), zone, schema
        self.isolate, self.clock = isolate, clock
        self.types = frozenset().union(*(p.handles for p in self.projections))
        self.positions: dict[str, int] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.stopped: dict[str, Stopped] = {}
        self.reload()

    def reload(self) -> None:
        status = load_status(self.pool, self.schema, [p.name for p in self.projections])
        for p in self.projections:
            row = status.get(p.name)
            self.positions[p.name] = row.position if row else 0
            self.states[p.name] = (row.state if row and row.state is not None
                                   else p.initial_state())
            if self.isolate and row and row.failed_position is not None \
                    and p.name not in self.stopped:
                # Failed before this process started: try again at once.
                self.stopped[p.name] = Stopped(row.failed_position, row.failed_event_id or "",
                                               row.failed_error or "", retry_at=0.0,
                                               since=self.clock())

    @property
    def position(self) -> int:
        return min(self.positions.values()) if self.positions else 0

    def due(self) -> list[Projection]:
        """The projections to feed now: all but those stopped and not yet due for a retry."""
        now = self.clock()
        return [p for p in self.projections
                if p.name not in self.stopped or self.stopped[p.name].retry_at <= now]

    # -- one batch ------------------------------------------------------------
    def apply(self, events: list[Ev], conn: Any = None,
              only: Sequence[Projection] | None = None,
              writing: Callable[[], None] | None = None) -> None:
        """Applies one batch (in position order) and records it; `conn` joins a caller's
        transaction; `writing` is called once the batch is applied in memory, before it is
        written."""
        plans = [Plan(p, [e for e in events if e.position > self.positions[p.name]])
                 for p in (self.projections if only is None else only)]
        plans = [pl for pl in plans if pl.todo or pl.p.name in self.stopped]
        if not plans:
            return
        with self._connection(conn) as c:
            for pl in plans:
                pl.loaded = fetch(c, self.schema, pl.p, pl.todo)
        for pl in plans:
            self._prepare(pl)
        if writing is not None:
            writing()
        with self._transaction(conn) as c:
            self._lock(c, plans)
            with c.cursor() as cur:
                for pl in plans:
                    self._write(c, cur, pl)
        for pl in plans:
            self._settle(pl)

    @contextmanager
    def _connection(self, conn: Any) -> Iterator[Any]:
        if conn is not None:
            yield conn
        else:
            with self.pool.connection() as own:
                yield own

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[Any]:
        if conn is not None:
            yield conn
        else:
            with self.pool.connection() as own, own.transaction():
                yield own

    def _build(self, pl: Plan, count: int) -> Writer:
        """The first `count` events of the plan applied in memory to a fresh writer."""
        state = self.states[pl.p.name]
        w, touched = apply_batch(pl.p, pl.todo[:count], self.zone, pl.loaded, {None: state})
        w.state = touched.get(None, state)
        return w

    def _prepare(self, pl: Plan) -> None:
        try:
            pl.writer, pl.count = self._build(pl, len(pl.todo)), len(pl.todo)
        except CannotApply as failed:
            pl.count, pl.error = failed.index, failed.error
            self._refuse_unless_isolated(pl)
            pl.writer = self._build(pl, pl.count)

    def _lock(self, conn: Any, plans: list[Plan]) -> None:
        names = sorted(pl.p.name for pl in plans)
        rows = conn.execute(
            f'SELECT name, position FROM "{self.schema}".projection_status WHERE name = ANY(%s) '
            f'ORDER BY name FOR UPDATE', (names,)).fetchall()
        stored = {r["name"]: r["position"] for r in rows}
        for name in names:
            if stored.get(name) != self.positions[name]:
                raise Conflict(name)

    def _write(self, conn: Any, cur: Any, pl: Plan) -> None:
        try:
            with conn.transaction():
                self._flush(cur, pl, pl.writer, pl.count)
        except STORE_ERRORS:
            raise
        except Exception as refused:  # noqa: BLE001 - PostgreSQL refused this projection's rows
            pl.count, pl.error = writable_prefix(lambda k: self._try(conn, cur, pl, k),
                                                 pl.count, refused)
            self._refuse_unless_isolated(pl)
            pl.writer = self._build(pl, pl.count)
            with conn.transaction():
                self._flush(cur, pl, pl.writer, pl.count)
        if pl.error is not None:
            bad = pl.todo[pl.count]
            record_failure(conn, self.schema, pl.p.name, bad.position, bad.event_id,
                           describe_error(pl.error))
        elif pl.p.name in self.stopped:
            clear_failure(conn, self.schema, pl.p.name)

    def _try(self, conn: Any, cur: Any, pl: Plan, count: int) -> None:
        """Writes the first `count` events in a savepoint and always rolls it back."""
        with conn.transaction():
            self._flush(cur, pl, self._build(pl, count), count)
            raise psycopg.Rollback()

    def _flush(self, cur: Any, pl: Plan, w: Writer, count: int) -> None:
        flush(cur, self.schema, pl.p, w)
        position = pl.todo[count - 1].position if count else self.positions[pl.p.name]
        cur.execute(f'UPDATE "{self.schema}".projection_status SET position = %s, state = %s, '
                    f'updated_at = now() WHERE name = %s', (position, Jsonb(w.state), pl.p.name))

    def _refuse_unless_isolated(self, pl: Plan) -> None:
        if not self.isolate:
            bad = pl.todo[pl.count]
            raise ProjectionFailed(pl.p.name, bad.position, bad.event_id,
                                   describe_error(pl.error)) from pl.error

    def _settle(self, pl: Plan) -> None:
        """After the commit: what this process knows of the plan's projection."""
        name = pl.p.name
        if pl.count:
            self.positions[name] = pl.todo[pl.count - 1].position
            self.states[name] = pl.writer.state
        if pl.error is not None:
            self.stopped[name] = halt(self.stopped.get(name), name, pl.todo[pl.count],
                                      describe_error(pl.error), self.clock())
        elif name in self.stopped:
            recovered(name, self.stopped.pop(name), self.clock())

    # -- tailing --------------------------------------------------------------
    def catch_up(self, upto: int | None = None, progress: Callable[[int], None] | None = None,
                 batch: int = BATCH) -> int:
        """Applies everything recorded (up to `upto`); returns the number of events applied."""
        applied = 0
        with ReadAhead(self.pool, batch, upto, self.types) as store:
            while due := self.due():
                with collector_paused():
                    events = store.read(min(self.positions[p.name] for p in due))
                    try:
                        if not events:
                            # Stopped ones due for a retry with nothing left (a rebuild moved
                            # them on).
                            self.apply([], only=[p for p in due if p.name in self.stopped])
                            return applied
                        self.apply(events, only=due, writing=partial(store.follow, events))
                    except Conflict as c:
                        log.info("projection_moved_elsewhere", projection=str(c))
                        self.reload()
                        continue
                applied += len(events)
                if progress:
                    progress(self.position)
        return applied
