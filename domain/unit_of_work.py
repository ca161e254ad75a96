"""What one recording transaction holds: the aggregates it saves and the steps it runs.

Every command runs in a unit of work. Handlers see, through its identity map,
the aggregates earlier commands of the same unit changed, and `commit` only
collects; the application then records every pending event and runs every
step (the idempotency record, the caller's own) in one transaction. A single
command gets a unit of its own; inside `app.batch()` many commands share one.
A command refused by a rule raises before it changes anything, so the others
of a batch go on. If the save itself conflicts (an id taken meanwhile, a
concurrent change), nothing of the unit is recorded.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from csm.domain.errors import AlreadyExists

# A step runs inside the recording transaction: (cursor, positions) -> None.
Step = Callable[[Any, Sequence[int]], None]


class UnitOfWork:
    def __init__(self) -> None:
        self.identity: dict[str, Any] = {}
        self.steps: list[Step] = []
        self.creating = False
        self.about = ""  # what a conflict is about, for its message
        self.commands = 0
        self._claimed: dict[str, int] = {}  # per aggregate, the events take_new() handed out
        self._touched: dict[int, Any] = {}  # aggregates committed since take_new() last ran

    def seen(self, stream_id: str) -> Any | None:
        return self.identity.get(stream_id)

    def remember(self, aggregate: Any) -> Any:
        return self.identity.setdefault(aggregate.id, aggregate)

    def add(self, aggregates: Sequence[Any], creating: bool) -> None:
        for a in aggregates:
            known = self.identity.get(a.id)
            if known is not None and known is not a:
                raise AlreadyExists(f"'{a.id}' is already taken by another record; "
                                    "choose another id")
        for a in aggregates:
            self.identity[a.id] = a
            self._touched[id(a)] = a
        self.creating = self.creating or creating
        self.commands += 1

    def pending(self) -> list[Any]:
        return [a for a in self.identity.values() if a.pending_events]

    def events(self) -> list[Any]:
        """Every pending event, in the order they are recorded."""
        return [e for a in self.pending() for e in a.pending_events]

    def take_new(self) -> list[Any]:
        """The events of the aggregates committed since the last call, each handed out once:
        what the command decided since then made (a command commits all it changes)."""
        new = []
        for a in self._touched.values():
            new.extend(a.pending_events[self._claimed.get(a.id, 0):])
            self._claimed[a.id] = len(a.pending_events)
        self._touched.clear()
        return new

    def has_unclaimed(self) -> bool:
        """Whether an aggregate holds an event take_new() did not hand out: one changed by a
        command that failed before it committed."""
        return any(len(a.pending_events) > self._claimed.get(a.id, 0)
                   for a in self.identity.values())
