"""Many commands, one transaction: the batch path for bulk ingest.

Inside `app.batch()`, handlers see the aggregates earlier commands of the
batch changed (an identity map), and `commit` only collects; `flush` records
every pending event and every hook in one save. A command refused by a rule
raises before it changes anything, so the others go on. If the save itself
conflicts (an id taken meanwhile, a concurrent change), nothing of the batch
is recorded and the caller replays its commands one by one.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from csm.domain.errors import AlreadyExists


class UnitOfWork:
    def __init__(self) -> None:
        self.identity: dict[str, Any] = {}
        self.created: set[str] = set()
        self.hooks: list[Callable[[Any, Sequence[int]], None]] = []
        self.commands = 0

    def seen(self, stream_id: str) -> Any | None:
        return self.identity.get(stream_id)

    def remember(self, aggregate: Any) -> Any:
        return self.identity.setdefault(aggregate.id, aggregate)

    def add(self, result_id: str, aggregates: Sequence[Any], hooks: Sequence[Any],
            creating: bool) -> None:
        for a in aggregates:
            known = self.identity.get(a.id)
            if known is not None and known is not a:
                raise AlreadyExists(f"'{a.id}' is already taken by another record; "
                                    "choose another id")
        for a in aggregates:
            self.identity[a.id] = a
        self.hooks.extend(hooks)
        self.commands += 1

    def pending(self) -> list[Any]:
        return [a for a in self.identity.values() if a.pending_events]
