"""Applies events to projections in batches with exactly-once effect.

For each batch: prefetch the rows the events read, apply every event to every
projection that has not yet seen it (in memory), then write all row changes
and each projection's new position and state in ONE transaction. The status
rows are locked and checked first: if another runner moved a projection
meanwhile, the batch is dropped and the runner reloads — never applied twice.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.status import load_status
from csm.projections.store import read_events

log = structlog.get_logger()
BATCH = 10000


class Conflict(Exception):
    """Another runner applied events to one of our projections since we loaded it."""


class Runner:
    def __init__(self, pool: ConnectionPool, projections: Sequence[Projection], zone: ZoneInfo,
                 schema: str = "csm_read"):
        self.pool, self.projections, self.zone, self.schema = pool, list(projections), zone, schema
        self.types = frozenset().union(*(p.handles for p in self.projections))
        self.positions: dict[str, int] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.reload()

    def reload(self) -> None:
        status = load_status(self.pool, self.schema, [p.name for p in self.projections])
        for p in self.projections:
            position, state = status.get(p.name, (0, None))
            self.positions[p.name] = position
            self.states[p.name] = state if state is not None else p.initial_state()

    @property
    def position(self) -> int:
        return min(self.positions.values()) if self.positions else 0

    def apply(self, events: list[Ev], conn: Any = None) -> None:
        """Applies one batch (in position order) and records it; `conn` joins a caller's transaction."""
        if not events:
            return
        writers: dict[str, Writer] = {}
        for p in self.projections:
            todo = [e for e in events if e.position > self.positions[p.name]]
            if not todo:
                continue
            w = Writer(self.zone, orjson.loads(orjson.dumps(self.states[p.name])))
            if conn is None:
                with self.pool.connection() as own:
                    prefetch(own, self.schema, p, todo, w)
            else:
                prefetch(conn, self.schema, p, todo, w)
            for e in todo:
                if e.type in p.handles:
                    p.apply(e, w)
            writers[p.name] = w
        last = events[-1].position
        if conn is None:
            with self.pool.connection() as own, own.transaction():
                self._write(own, writers, last)
        else:
            self._write(conn, writers, last)
        for name, w in writers.items():
            self.positions[name], self.states[name] = last, w.state

    def _write(self, conn: Any, writers: dict[str, Writer], last: int) -> None:
        names = sorted(writers)
        rows = conn.execute(
            f'SELECT name, position FROM "{self.schema}".projection_status WHERE name = ANY(%s) '
            f'ORDER BY name FOR UPDATE', (names,)).fetchall()
        stored = {r["name"]: r["position"] for r in rows}
        for name in names:
            if stored.get(name) != self.positions[name]:
                raise Conflict(name)
        with conn.cursor() as cur:
            for p in self.projections:
                w = writers.get(p.name)
                if w is None:
                    continue
                flush(cur, self.schema, p, w)
                cur.execute(
                    f'UPDATE "{self.schema}".projection_status SET position = %s, state = %s, '
                    f'updated_at = now() WHERE name = %s', (last, Jsonb(w.state), p.name))

    def catch_up(self, upto: int | None = None, progress: Callable[[int], None] | None = None,
                 batch: int = BATCH) -> int:
        """Applies everything recorded (up to `upto`); returns the number of events applied."""
        applied = 0
        while True:
            events = read_events(self.pool, self.position, batch, upto, self.types)
            if not events:
                return applied
            try:
                self.apply(events)
            except Conflict as c:
                log.info("projection_moved_elsewhere", projection=str(c))
                self.reload()
                continue
            applied += len(events)
            if progress:
                progress(self.position)

    def run(self, stop: threading.Event, wake: threading.Event, poll: float = 1.0) -> None:
        """Tails the store until stopped: woken by NOTIFY (via `wake`) or every `poll` seconds."""
        while not stop.is_set():
            try:
                n = self.catch_up()
                if n:
                    log.info("projection_batch_applied", events=n, position=self.position)
            except Exception:
                log.exception("projection_runner_failed", position=self.position)
                time.sleep(1)
                self.reload()
                continue
            wake.wait(poll)
            wake.clear()


def wanted_rows(p: Projection, events: list[Ev]) -> dict[str, set]:
    """table → the keys of the rows that applying these events reads."""
    wanted: dict[str, set] = {}
    for e in events:
        if e.type in p.handles:
            for table, key in p.needs(e):
                wanted.setdefault(table, set()).add(key[0])
    return wanted


def prefetch(conn: Any, schema: str, p: Projection, events: list[Ev], w: Writer) -> None:
    """Loads, in one query per table, the rows that applying these events will read."""
    for table, keys in wanted_rows(p, events).items():
        t = p.table(table)
        rows = conn.execute(f'SELECT * FROM "{schema}"."{table}" WHERE "{t.key[0]}" = ANY(%s)',
                            (list(keys),)).fetchall()
        w.loaded[table] = {(r[t.key[0]],): r for r in rows}


def flush(cur: Any, schema: str, p: Projection, w: Writer) -> None:
    for t in p.tables:
        t.flush(cur, schema, _tuples(t, w))


def _tuples(t, w: Writer) -> list[tuple]:
    names = t.names
    if t.kind == "counter":
        return [(*k, *v) for k, v in w.counters.get(t.name, {}).items()]
    source = w.rows if t.kind == "row" else w.appended
    return [tuple(r.get(c) for c in names) for r in source.get(t.name, {}).values()]
