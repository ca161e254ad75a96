"""Event and aggregate bases: string stream ids, business time, personal data markers.

Every event carries `timestamp` (when the command was received, given by the
caller) and `occurred_at` (when it happened in the world). Events that hold
personal data name those fields in `PERSONAL`; the infrastructure encrypts
them under the key of `personal_subject()` before anything is stored.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    MetaDomainEvent,
)


class CsmEvent(CanMutateAggregate[str], metaclass=MetaDomainEvent):
    TYPE: ClassVar[str] = ""
    PERSONAL: ClassVar[tuple[str, ...]] = ()

    originator_id: str
    originator_version: int
    timestamp: datetime
    occurred_at: datetime

    def personal_subject(self) -> str:
        """Whose key protects this event's personal data."""
        return getattr(self, "customer_id", None) or f"stream:{self.originator_id}"

    def data(self) -> dict[str, Any]:
        """The event's own fields, without the envelope the library adds."""
        skip = {"originator_id", "originator_version", "timestamp", "originator_topic"}
        return {k: v for k, v in vars(self).items() if k not in skip}


class CsmCreated(CanInitAggregate[str], CsmEvent):
    originator_topic: str


class CsmAggregate(BaseAggregate[str]):
    """An aggregate whose stream id is the business id the client chose."""

    def _record(self, event_class: type[CsmEvent], now: datetime, occurred_at: datetime, **data: Any) -> None:
        self.trigger_event(event_class, timestamp=now, occurred_at=occurred_at, **data)

    @classmethod
    def _start(cls, event_class: type[CsmCreated], stream_id: str, now: datetime,
               occurred_at: datetime, **data: Any) -> Any:
        return cls._create(event_class, id=stream_id, timestamp=now, occurred_at=occurred_at, **data)


def event_id(stream_id: str, version: int) -> str:
    """The id of an event: unique and stable, since a stream version is recorded once."""
    return f"{stream_id}@{version}"
