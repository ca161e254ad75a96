"""Audit: the events of a stream and its state at any moment, chain verification, signed
checkpoints with the public key, and as-of snapshots (api/routers/snapshots.py)."""
import re
from datetime import datetime
from typing import Annotated, Any

from eventsourcing.persistence import StoredEvent
from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from csm.api.answers import ChainVerified, StreamEvents
from csm.api.deps import Caller, RuntimeDep, allow
from csm.api.openapi import RECORD, SERVICE, problems
from csm.api.path_ids import StreamId
from csm.api.routers import snapshots
from csm.api.timeline import MASK, public_event
from csm.domain.errors import NotFound
from csm.domain.event_types import declared_events
from csm.domain.fields import Timestamp
from csm.infra import checkpoints
from csm.infra.chain import verify_chain
from csm.infra.history import version_at
from csm.projections.pg_names import EVENTS

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Caller, Depends(allow("auditor"))]


@router.get("/streams/{stream_id}/events", response_model=StreamEvents, responses=RECORD)
def stream_events(stream_id: StreamId, rt: RuntimeDep, caller: Auditor):
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


class StreamState(BaseModel):
    stream_id: str
    kind: str  # the aggregate: complaint, customer, survey_response, …
    version: int
    recorded_at: datetime  # when its last event up to then was recorded
    state: dict[str, Any]


def _kind(aggregate: Any) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(aggregate).__name__).lower()


def _public_state(aggregate: Any, caller: Caller) -> dict[str, Any]:
    personal = {f for e in declared_events(type(aggregate)) for f in e.PERSONAL}
    state = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    if not caller.sees_personal_data:
        state = {k: MASK if k in personal and v is not None else v for k, v in state.items()}
    return jsonable_encoder(state)


@router.get("/streams/{stream_id}/state", response_model=StreamState,
            responses=problems(401, 403, 404, 422, 503))
def stream_state(stream_id: StreamId, rt: RuntimeDep, caller: Auditor,
                 as_of: Annotated[Timestamp | None, Query(
                     description="the state from the events recorded up to this moment")] = None,
                 version: Annotated[int | None, Query(ge=1, le=2**63 - 1, description=(
                     "the state after this many of its events"))] = None):
    """The aggregate as it was at a moment or a version (now, without either)."""
    if as_of is not None and version is not None:
        raise RequestValidationError([{"type": "value_error", "loc": ("query", "version"),
                                       "msg": "give as_of or version, not both",
                                       "input": version}])
    found = version_at(rt.pool, stream_id, as_of, version)
    if found is None:
        raise NotFound(f"stream '{stream_id}' " + (
            f"had no event recorded by {as_of.isoformat()}" if as_of else
            f"has no version {version}" if version else "not found"))
    at_version, recorded_at = found
    aggregate = rt.app.repository.get(stream_id, version=at_version)
    return {"stream_id": stream_id, "kind": _kind(aggregate), "version": at_version,
            "recorded_at": recorded_at, "state": _public_state(aggregate, caller)}


@router.get("/verify", response_model=ChainVerified, responses=SERVICE)
def verify(rt: RuntimeDep, caller: Auditor):
    """Recompute the hash chain over every stored event and check every seal and checkpoint."""
    return verify_chain(rt.pool, rt.audit).as_dict()


class SignedCheckpoint(BaseModel):
    position: int
    hash: str  # hex
    at: str  # RFC 3339, exactly as signed
    kind: str  # periodic, or upgrade (covers a store written before seals)
    key_id: str
    signature: str  # base64 Ed25519 over `csm-checkpoint/1 <kind> <position> <hash> <at>`


class Checkpoints(BaseModel):
    items: list[SignedCheckpoint]


@router.get("/checkpoints", response_model=Checkpoints, responses=SERVICE)
def signed_checkpoints(rt: RuntimeDep, caller: Auditor,
                       after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                       limit: Annotated[int, Query(ge=1, le=10000)] = 1000):
    """csm's signed checkpoints (position, chain hash, time) after a position, oldest first."""
    with rt.pool.connection() as conn:
        found = checkpoints.stored(conn, after, limit)
    return {"items": [cp.as_dict() for cp in found]}


class PublicKey(BaseModel):
    algorithm: str
    key_id: str
    public_key: str  # base64 of the 32 raw bytes
    pem: str
    signed_bytes: str


@router.get("/public-key", response_model=PublicKey, responses=SERVICE)
def public_key(rt: RuntimeDep, caller: Auditor):
    """The Ed25519 public key that checks every checkpoint's signature."""
    public = rt.audit.signer.public
    return {"algorithm": "Ed25519", "key_id": rt.audit.signer.key_id,
            "public_key": checkpoints.public_key_text(public),
            "pem": checkpoints.public_key_pem(public),
            "signed_bytes": "UTF-8 of `csm-checkpoint/1 <kind> <position> <hash> <at>`"}


router.include_router(snapshots.router)
