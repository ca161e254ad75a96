"""The event as every projection sees it, decoded from the store (or, later, from Kafka).

Projections never need personal data, so encrypted fields stay encrypted;
times stay ISO strings except `occurred_at`, parsed once here. A stored topic is
an event type or, in rows of earlier releases, a Python path; both name the class
whose TYPE the projections see.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson

from csm.domain.base import event_id
from csm.domain.event_types import event_class


class Ev(NamedTuple):
    """Immutable; a named tuple, the cheapest such object to make a million of."""
    position: int
    stream_id: str
    version: int
    type: str
    occurred_at: datetime  # None for an event no projection of the reader handles
    data: dict[str, Any]

    @property
    def event_id(self) -> str:
        return event_id(self.stream_id, self.version)


def type_of_topic(topic: str) -> str:
    return event_class(topic).TYPE


def _plain(value: Any) -> Any:
    """The library's transcoder wraps datetimes as {"_type_": ..., "_data_": iso}."""
    if isinstance(value, dict):
        if "_type_" in value and "_data_" in value:
            return value["_data_"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


ENVELOPE_KEYS = frozenset({"timestamp", "originator_topic", "occurred_at"})


def decode_stored(position: int, stream_id: str, version: int, topic: str, state: bytes) -> Ev:
    data, typed = orjson.loads(state), 0
    for k, v in data.items():
        if type(v) is dict and "_type_" in v:
            typed += 1
            data[k] = v["_data_"]
    if state.count(b'"_type_"') > typed:  # typed values deeper down: unwrap everything
        data = {k: _plain(v) for k, v in data.items()}
    occurred = data["occurred_at"]
    if type(occurred) is dict:  # a time stored as {"_data_": ...} without its "_type_"
        occurred = occurred["_data_"]
    for k in ENVELOPE_KEYS:
        data.pop(k, None)
    return Ev(position, stream_id, version, type_of_topic(topic),
              datetime.fromisoformat(occurred), data)


def from_domain(event: Any, position: int) -> Ev:
    """The Ev a projection would see for a domain event (tests, in-process feeds)."""
    data = orjson.loads(orjson.dumps(event.data()))
    data.pop("occurred_at", None)
    return Ev(position, event.originator_id, event.originator_version, type(event).TYPE,
              event.occurred_at, data)
