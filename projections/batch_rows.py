"""The rows of a batch: those its events read, loaded in bulk before it is applied, and
those it made, written in bulk after."""
from __future__ import annotations

from typing import Any

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev


def wanted_rows(p: Projection, events: list[Ev]) -> dict[str, set]:
    """table → the keys of the rows that applying these events reads."""
    wanted: dict[str, set] = {}
    for e in events:
        if e.type in p.handles:
            for table, key in p.needs(e):
                wanted.setdefault(table, set()).add(key[0])
    return wanted


def fetch(conn: Any, schema: str, p: Projection, events: list[Ev]
          ) -> dict[str, dict[tuple, dict[str, Any]]]:
    """Loads, in one query per table, the rows that applying these events will read."""
    loaded = {}
    for table, keys in wanted_rows(p, events).items():
        t = p.table(table)
        rows = conn.execute(f'SELECT * FROM "{schema}"."{table}" WHERE "{t.key[0]}" = ANY(%s)',
                            (list(keys),)).fetchall()
        loaded[table] = {(r[t.key[0]],): r for r in rows}
    return loaded


def flush(cur: Any, schema: str, p: Projection, w: Writer) -> None:
    for t in p.tables:
        t.flush(cur, schema, _tuples(t, w))


def _tuples(t, w: Writer) -> list[tuple]:
    names = t.names
    if t.kind == "counter":
        return [(*k, *v) for k, v in w.counters.get(t.name, {}).items()]
    source = w.rows if t.kind == "row" else w.appended
    return [tuple(map(r.get, names)) for r in source.get(t.name, {}).values()]
