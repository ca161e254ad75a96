"""Replays events through a projection with the runner's batch function, `apply_batch`, in memory.

The "database" is a dict per table. Per batch: the rows the batch `needs`
prefetched from the database (whole stored rows, matched on the first key
column, as the runner's SELECT does), the events applied by `apply_batch`
(as the store runner and the Kafka projector apply them), then the batch
merged the way `Table.flush` merges: `row` tables overwrite by key, `counter`
tables add measure-wise, `append` tables insert if absent. Values are stored
as PostgreSQL would hand them back (ISO strings in timestamptz columns become
aware datetimes, dates become dates), so a row compares equal whether it was
read back within a batch or across batches.

`History` records domain aggregates' events in the global order a test (or a
property test's interleaving) performs the commands, as positioned `Ev`s.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from csm.projections.base import Projection, Writer
from csm.projections.batch import apply_batch
from csm.projections.batch_rows import wanted_rows
from csm.projections.events import Ev, from_domain
from csm.projections.failure import CannotApply
from csm.projections.tables import Table

UTC_ZONE = ZoneInfo("UTC")


class Replayed(dict):
    """Table name → rows (sorted by key); `.state` is the projection's state afterwards."""

    state: dict[str, Any]
    position: int


# -- values as the database keeps them ----------------------------------------------
def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise AssertionError(f"{value!r} is not a timestamp")
    if value.tzinfo is None:
        raise AssertionError(f"{value!r} is a naive timestamp; timestamptz needs an offset")
    return value.astimezone(UTC)


def _as_date(value: Any) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime) or not isinstance(value, date):
        raise AssertionError(f"{value!r} is not a date")
    return value


def stored(sql_type: str, value: Any) -> Any:
    """A value as the column would give it back."""
    if value is None:
        return None
    t = sql_type.lower()
    if t == "timestamptz":
        return _as_datetime(value)
    if t == "date":
        return _as_date(value)
    if t in ("int", "integer", "bigint", "smallint"):
        if isinstance(value, bool) or int(value) != value:
            raise AssertionError(f"{value!r} does not fit an integer column")
        return int(value)
    if t in ("float8", "double precision", "real", "numeric"):
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise AssertionError(f"{value!r} is not a boolean")
        return value
    if t == "text":
        return value if isinstance(value, str) else str(value)
    if t.endswith("[]"):
        return [stored(t[:-2], v) for v in value]
    return value


def _stored_row(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(table.names)
    if unknown:
        raise AssertionError(
            f"projection wrote columns {sorted(unknown)} that table {table.name} does not have "
            "(the runner would drop them silently)")
    return {c: stored(t, values.get(c)) for c, t in table.columns}


def _key_of(table: Table, row: dict[str, Any]) -> tuple:
    return tuple(row[c] for c in table.key)


def _sort_key(table: Table):
    def key(row: dict[str, Any]) -> tuple:
        return tuple((1,) if row[c] is None else (0, row[c]) for c in table.key)
    return key


def sorted_rows(table: Table, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (e.g. expected ones written by hand) normalised and ordered like `replay` returns them."""
    return sorted((_stored_row(table, r) for r in rows), key=_sort_key(table))


# -- the runner, in memory ---------------------------------------------------------
def _batches(events: list[Ev], batches: int | Sequence[int] | None) -> list[list[Ev]]:
    if not events:
        return []
    if batches is None:
        return [events]
    sizes = [batches] * len(events) if isinstance(batches, int) else list(batches)
    out, i = [], 0
    for size in sizes:
        if i >= len(events):
            break
        if size < 1:
            raise ValueError("batch sizes must be at least 1")
        out.append(events[i:i + size])
        i += size
    if i < len(events):
        out.append(events[i:])
    return out


def _prefetch(p: Projection, events: list[Ev], db: dict[str, dict[tuple, dict[str, Any]]]
              ) -> dict[str, dict[tuple, dict[str, Any]]]:
    loaded = {}
    for table, keys in wanted_rows(p, events).items():
        t = p.table(table)
        loaded[table] = {(r[t.key[0]],): dict(r) for r in db[table].values()
                         if r[t.key[0]] in keys}
    return loaded


def _merge(p: Projection, w: Writer, db: dict[str, dict[tuple, dict[str, Any]]]) -> None:
    for t in p.tables:
        rows = db[t.name]
        if t.kind == "counter":
            for k, v in w.counters.get(t.name, {}).items():
                values = (*k, *v)
                if len(values) != len(t.names):
                    raise AssertionError(
                        f"{t.name}: key {k} with {len(v)} measures does not fill the columns "
                        f"{t.names}")
                row = _stored_row(t, dict(zip(t.names, values, strict=True)))
                key = _key_of(t, row)
                if key in rows:
                    for m in t.measures:
                        rows[key][m] += row[m]
                else:
                    rows[key] = row
        else:
            source = w.rows if t.kind == "row" else w.appended
            for r in source.get(t.name, {}).values():
                row = _stored_row(t, r)
                key = _key_of(t, row)
                if t.kind == "append" or not t.measures:
                    rows.setdefault(key, row)
                else:
                    rows[key] = row


def replay(projection: Projection, events: Iterable[Ev], zone: ZoneInfo = UTC_ZONE,
           batches: int | Sequence[int] | None = None) -> Replayed:
    """Every table of `projection` after applying `events` (position order) batch by batch.

    `batches`: None — one batch; an int — batches of that size; a list — those
    sizes in turn (whatever is left over forms a last batch).
    """
    events = list(events)
    positions = [e.position for e in events]
    if positions != sorted(positions) or len(set(positions)) != len(positions):
        raise ValueError("events must come in strictly increasing position order")
    db: dict[str, dict[tuple, dict[str, Any]]] = {t.name: {} for t in projection.tables}
    state = projection.initial_state()
    position = 0
    for batch in _batches(events, batches):
        todo = [e for e in batch if e.position > position]
        if not todo:
            continue
        try:
            w, touched = apply_batch(projection, todo, zone, _prefetch(projection, todo, db),
                                     {None: state})
        except CannotApply as failed:
            raise failed.error
        _merge(projection, w, db)
        state, position = touched.get(None, state), batch[-1].position
    out = Replayed({t.name: sorted(db[t.name].values(), key=_sort_key(t))
                    for t in projection.tables})
    out.state = orjson.loads(orjson.dumps(state))
    out.position = position
    return out


def by_key(rows: list[dict[str, Any]], column: str) -> dict[Any, dict[str, Any]]:
    """Rows of one table by a (unique) column."""
    return {r[column]: r for r in rows}


# -- domain events → positioned Evs ------------------------------------------------------
def positioned(domain_events: Iterable[Any], start: int = 1) -> list[Ev]:
    """Domain events, in the given global order, as the Evs a projection sees (positions from `start`)."""
    return [from_domain(e, start + i) for i, e in enumerate(domain_events)]


class History:
    """A global log: `record(agg, ...)` appends the aggregates' pending events in that order."""

    def __init__(self, start: int = 1):
        self.events: list[Ev] = []
        self._next = start

    def record(self, *aggregates: Any) -> list[Ev]:
        new = []
        for aggregate in aggregates:
            for e in aggregate.collect_events():
                new.append(from_domain(e, self._next))
                self._next += 1
        self.events.extend(new)
        return new

    def __iter__(self):
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def last_position(self) -> int:
        return self._next - 1
