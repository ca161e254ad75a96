"""What a projection is: its tables and views, a version, and a pure event → row-change function."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from operator import add
from types import MappingProxyType
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo

from csm.projections.events import Ev
from csm.projections.tables import Table


class Writer:
    """The changes of one batch, held in memory until the runner flushes them.

    `get` sees rows written earlier in the batch, then rows prefetched from the
    database; `add` merges increments (a thousand +1s become one write).
    """

    def __init__(self, zone: ZoneInfo, state: dict[str, Any]):
        self.zone = zone
        self.state = state
        self.rows: dict[str, dict[tuple, dict[str, Any]]] = {}
        self.loaded: dict[str, dict[tuple, dict[str, Any]]] = {}
        self.counters: dict[str, dict[tuple, list[float]]] = {}
        self.appended: dict[str, dict[tuple, dict[str, Any]]] = {}

    def day(self, at: datetime) -> date:
        """The local calendar day of an instant, in CSM_TIMEZONE."""
        return at.astimezone(self.zone).date()

    def get(self, table: str, key: tuple) -> dict[str, Any] | None:
        row = self.rows.get(table, {}).get(key)
        if row is None:
            row = self.loaded.get(table, {}).get(key)
            if row is not None:
                row = dict(row)
                self.rows.setdefault(table, {})[key] = row
        return row

    def put(self, table: str, key: tuple, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, {})[key] = row

    def add(self, table: str, key: tuple, values: Iterable[float]) -> None:
        bucket = self.counters.setdefault(table, {})
        current = bucket.get(key)
        bucket[key] = list(values) if current is None else list(map(add, current, values))

    def append(self, table: str, key: tuple, row: dict[str, Any]) -> None:
        self.appended.setdefault(table, {}).setdefault(key, row)


Change = Callable[[Ev, Writer], None]


@dataclass(frozen=True, slots=True)
class State:
    """A projection's state between batches, typed; stored as the JSON object of its fields."""
    projection: ClassVar[str] = ""

    @classmethod
    def of(cls, state: dict[str, Any]) -> Self:
        return cls(**state)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class PolicyState(State):
    """The part of the policy in force that a projection carries, and its version."""
    policy_version: int


class Projection:
    """Subclasses set name, version, tables, views and `changes` — the table of what each event
    type it handles does to its rows (`handles` is its keys) — and `needs`, if reading rows."""

    name: str = ""
    version: int = 1
    tables: tuple[Table, ...] = ()
    views: tuple[str, ...] = ()  # CREATE VIEW statements with {schema}
    changes: Mapping[str, Change] = MappingProxyType({})
    handles: frozenset[str] = frozenset()  # the event types it reacts to
    cost: float = 1.0  # the time it takes over a store, relative to others: shares a rebuild out

    def initial_state(self) -> dict[str, Any]:
        return {}

    def needs(self, ev: Ev) -> Iterable[tuple[str, tuple]]:
        """Rows (table, key) that applying ev reads; fetched in bulk before the batch."""
        return ()

    def apply(self, ev: Ev, w: Writer) -> None:
        self.changes[ev.type](ev, w)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)
