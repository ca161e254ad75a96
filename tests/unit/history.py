"""Aggregates rebuilt from past events: the Given of a test is what was recorded before."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent


def past(event_class: type[CsmEvent], stream_id: str, version: int, when: datetime,
         **data: Any) -> CsmEvent:
    """An event as the store would hand it back: recorded and occurred at `when`."""
    if issubclass(event_class, CsmCreated):
        owner = event_class.__qualname__.split(".")[0]
        data["originator_topic"] = get_topic(event_class).rsplit(":", 1)[0] + ":" + owner
    return event_class(originator_id=stream_id, originator_version=version, timestamp=when,
                       occurred_at=when, **data)


def history(*events: CsmEvent) -> Any:
    """The aggregate these events leave behind, with nothing pending."""
    aggregate: CsmAggregate | None = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate
