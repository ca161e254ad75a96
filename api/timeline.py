"""Events as callers see them: type, times, data; personal data only for agents and admins."""
from __future__ import annotations

from typing import Any

from csm.api.deps import Caller
from csm.domain.base import event_id

MASK = "***"


def public_event(event: Any, caller: Caller, position: int | None = None,
                 recorded_at: Any = None) -> dict[str, Any]:
    data = event.data()
    occurred_at = data.pop("occurred_at")
    if not caller.sees_personal_data:
        for field in getattr(type(event), "PERSONAL", ()):
            if data.get(field) is not None:
                data[field] = MASK
    item = {"event_id": event_id(event.originator_id, event.originator_version),
            "version": event.originator_version, "type": type(event).TYPE,
            "occurred_at": occurred_at, "received_at": event.timestamp, "data": data}
    if position is not None:
        item["position"] = position
        item["recorded_at"] = recorded_at
    return item
