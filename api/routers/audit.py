"""Audit: the events of a stream, exactly as recorded, with positions and times."""
from typing import Annotated

from eventsourcing.persistence import StoredEvent
from fastapi import APIRouter, Depends

from csm.api.deps import Caller, RuntimeDep, allow
from csm.api.timeline import public_event
from csm.domain.errors import NotFound
from csm.infra.chain import verify_chain
from csm.infra.schema import EVENTS

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/streams/{stream_id}/events")
def stream_events(stream_id: str, rt: RuntimeDep,
                  caller: Annotated[Caller, Depends(allow("auditor"))]):
    """Every event of one stream in order: position, version, type, times and data."""
    with rt.pool.connection() as conn:
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, state, notification_id, "
            f"recorded_at FROM {EVENTS} WHERE originator_id = %s ORDER BY originator_version",
            (stream_id,)).fetchall()
    if not rows:
        raise NotFound(f"stream '{stream_id}' not found")
    items = []
    for r in rows:
        event = rt.app.mapper.to_domain_event(StoredEvent(
            r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])))
        items.append(public_event(event, caller, position=r["notification_id"],
                                  recorded_at=r["recorded_at"]))
    return {"stream_id": stream_id, "items": items}


@router.get("/verify")
def verify(rt: RuntimeDep, caller: Annotated[Caller, Depends(allow("auditor"))]):
    """Recompute the hash chain over every stored event."""
    return verify_chain(rt.pool).as_dict()
