"""As-of snapshots: every read model as it was at a moment; any query reads one with
`snapshot=<id>`. Built in the background of the API process that first serves these routes."""
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from csm.api.deps import Caller, IdempotencyKey, RuntimeDep, allow
from csm.api.openapi import CREATE, RECORD, SERVICE
from csm.api.path_ids import PathId
from csm.domain.application import Recorded
from csm.domain.errors import InvalidInput, NotFound
from csm.domain.fields import Timestamp
from csm.infra.idempotency import once
from csm.projections import snapshots
from csm.projections.snapshots import SnapshotBuilder

router = APIRouter(prefix="/snapshots")
Auditor = Annotated[Caller, Depends(allow("auditor"))]
_starting = threading.Lock()


def builder(request: Request) -> SnapshotBuilder:
    """This app's builder, started on first use (taking up builds a dead process left)."""
    state = request.app.state
    with _starting:
        if getattr(state, "snapshot_builder", None) is None:
            rt = state.runtime
            state.snapshot_builder = SnapshotBuilder(rt.pool, rt.settings.zone).start()
            rt.stoppers.append(state.snapshot_builder.stop)
    return state.snapshot_builder


Builder = Annotated[SnapshotBuilder, Depends(builder)]


class SnapshotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: Timestamp


class Snapshot(BaseModel):
    snapshot_id: str
    as_of: datetime
    status: str  # pending, running, ready, failed
    progress: float  # 0 … 1
    position: int  # the last event recorded by as_of: what the snapshot holds
    applied: int  # how far the build has got
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SnapshotRequested(BaseModel):
    id: str
    position: int
    snapshot_id: str
    as_of: str
    status: str


class Snapshots(BaseModel):
    items: list[Snapshot]


def answer_of(snap: dict[str, Any]) -> dict[str, Any]:
    return {"snapshot_id": snap["snapshot_id"], "as_of": snap["as_of"].isoformat(),
            "status": snap["status"]}


@router.post("", status_code=202, response_model=SnapshotRequested, responses=CREATE)
def request_snapshot(body: SnapshotIn, rt: RuntimeDep, request: Request, caller: Auditor,
                     build: Builder, key: IdempotencyKey = None):
    """Build every read model from the events recorded up to `as_of`, in the background."""
    if body.as_of > datetime.now(UTC) + timedelta(seconds=1):
        raise InvalidInput(f"as_of {body.as_of.isoformat()} lies in the future",
                           loc=("as_of",))

    def act(steps) -> Recorded:
        def also(cur: Any, snap: dict[str, Any]) -> None:
            for step in steps:
                step(cur, [snap["position"]], {"id": snap["snapshot_id"], **answer_of(snap)})
        snap = snapshots.request_snapshot(rt.pool, body.as_of, also)
        return Recorded(snap["snapshot_id"], snap["position"], answer_of(snap))

    answer = once(rt.pool, caller.scope, key, f"POST {request.url.path}",
                  body.model_dump(mode="json"), act)
    build.submit(answer["snapshot_id"])
    return JSONResponse(answer, status_code=202)


def _json(body: Any) -> JSONResponse:
    """Times as every other answer writes them (the response models document the shape)."""
    return JSONResponse(jsonable_encoder(body))


@router.get("", response_model=Snapshots, responses=SERVICE)
def list_snapshots(rt: RuntimeDep, caller: Auditor, build: Builder):
    """Every snapshot, newest first, with its status and progress."""
    return _json({"items": snapshots.listing(rt.pool)})


@router.get("/{snapshot_id}", response_model=Snapshot, responses=RECORD)
def get_snapshot(snapshot_id: PathId, rt: RuntimeDep, caller: Auditor, build: Builder):
    """One snapshot: status (pending, running, ready, failed), progress, position."""
    found = snapshots.find(rt.pool, snapshot_id)
    if found is None:
        raise NotFound(f"snapshot '{snapshot_id}' not found")
    return _json(found)


@router.delete("/{snapshot_id}", status_code=204, responses=RECORD)
def delete_snapshot(snapshot_id: PathId, rt: RuntimeDep, caller: Auditor):
    """Remove a snapshot and its tables (a build under way stops)."""
    if not snapshots.delete_snapshot(rt.pool, snapshot_id):
        raise NotFound(f"snapshot '{snapshot_id}' not found")
    return Response(status_code=204)
