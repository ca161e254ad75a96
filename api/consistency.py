"""Read-your-writes: `min_position` waits for the read models; answers carry X-CSM-Position."""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from datetime import UTC, datetime
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse

from csm.domain.values import ID_PATTERN
from csm.api.csv_answers import csv_answer, csv_rows_answer, model_columns
from csm.api.deps import RuntimeDep
from csm.api.errors import StaleRead
from csm.domain.errors import InvalidTransition, NotFound
from csm.infra.history import version_at
from csm.projections.pg_names import READ_SCHEMA
from csm.infra.runtime import Runtime
from csm.projections import snapshots
from csm.projections.base import State

A = TypeVar("A")
MinPosition = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="wait until the read "
                                          "model has applied every event up to this position")]
Wait = Annotated[float, Query(ge=0, le=30, description="seconds to wait for min_position")]
Snapshot = Annotated[str | None, Query(pattern=ID_PATTERN, description="answer from an as-of snapshot "
                                                   "(POST /v1/audit/snapshots)")]
Format = Annotated[Literal["json", "csv"] | None, Query(
    description="`csv`: the same rows as CSV, one header line, streamed; `json` even when "
                "Accept names text/csv. Default: CSV if Accept names text/csv, else JSON")]
CSV = "text/csv"


def _ready(rt: Runtime, snapshot: str) -> dict[str, Any]:
    found = snapshots.find(rt.pool, snapshot, with_schema=True)
    if found is None:
        raise NotFound(f"snapshot '{snapshot}' not found")
    if found["status"] == "failed":
        raise InvalidTransition(f"snapshot '{snapshot}' failed ({found['error']}); delete it "
                                "and ask for a new one")
    if found["status"] != "ready":
        raise StaleRead(f"snapshot '{snapshot}' is {found['status']}: it has applied "
                        f"{found['applied']} of {found['position']} events; retry shortly")
    return found


def schema_for(rt: Runtime, snapshot: str | None) -> str:
    """The schema a query reads: the live read models, or a ready snapshot's."""
    return READ_SCHEMA if snapshot is None else _ready(rt, snapshot)["schema_name"]


def aggregate_in(rt: Runtime, snapshot: str | None, stream_id: str, kind: type[A],
                 label: str) -> A:
    """An aggregate as it is now, or as it was at a snapshot's as_of."""
    if snapshot is None:
        return rt.app.get_as(stream_id, kind, label)
    found = version_at(rt.pool, stream_id, _ready(rt, snapshot)["as_of"])
    aggregate = rt.app.repository.get(stream_id, version=found[0]) if found else None
    if not isinstance(aggregate, kind):
        raise NotFound(f"{label} '{stream_id}' not found in snapshot '{snapshot}'")
    return aggregate


def judged_at(rt: Runtime, snapshot: str | None) -> datetime:
    """The moment "overdue" is judged at: now, or a snapshot's as_of."""
    if snapshot is None:
        return datetime.now(UTC)
    return _ready(rt, snapshot)["as_of"].astimezone(UTC)


S = TypeVar("S", bound=State)


@dataclass(frozen=True)
class ReadStatus:
    """Where the read models asked for stand: the lowest position, and each one's status row."""
    position: int
    rows: dict[str, Any]

    def state(self, kind: type[S]) -> S:
        """A projection's state, typed: `status.state(LedgerState).points`."""
        return kind.of(self.rows[kind.projection]["state"])


def positions(rt: Runtime, schema: str, names: tuple[str, ...]) -> dict[str, Any]:
    with rt.pool.connection() as conn:
        rows = conn.execute(f'SELECT name, position, state FROM "{schema}".projection_status '
                            f'WHERE name = ANY(%s)', (list(names),)).fetchall()
    return {r["name"]: r for r in rows}


def await_position(rt: Runtime, schema: str, names: tuple[str, ...], min_position: int | None,
                   wait: float) -> ReadStatus:
    """The read models' status once they have reached min_position (or 503 after `wait`)."""
    deadline = time.monotonic() + wait
    while True:
        status = positions(rt, schema, names)
        reached = min((status[n]["position"] for n in names if n in status), default=0)
        if min_position is None or reached >= min_position:
            return ReadStatus(reached, status)
        if time.monotonic() >= deadline:
            raise StaleRead(f"the read model is at position {reached}, not yet at {min_position}; "
                            "retry shortly")
        time.sleep(0.02)


def answer(body: Any, position: int) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), headers={"X-CSM-Position": str(position)})


def asks_for_csv(format: str | None, accept: str | None) -> bool:
    """`format` decides; without it, CSV when Accept lists text/csv (with a q above 0)."""
    if format is not None:
        return format == "csv"
    for media_range in (accept or "").split(","):
        media_type, *params = (part.strip().lower() for part in media_range.split(";"))
        q = [v.strip() for k, _, v in (p.partition("=") for p in params) if k.strip() == "q"]
        if media_type == CSV and not (q and q[0].strip("0.") == ""):
            return True
    return False


class ReadPoint:
    """Where a query reads (the live read models, or a snapshot's), how long it may wait
    for them and how it answers: the `snapshot`, `min_position`, `wait` and `format`
    parameters every query has (and the Accept header). Nothing is looked up before the
    query asks, so its own parameters are checked first."""

    def __init__(self, rt: Runtime, snapshot: str | None, min_position: int | None,
                 wait: float, wants_csv: bool = False, model: Any = None):
        self.rt, self.snapshot, self.min_position, self.wait = rt, snapshot, min_position, wait
        self.wants_csv = wants_csv
        self.model = model  # the route's response model: the CSV columns when no row

    @cached_property
    def schema(self) -> str:
        return schema_for(self.rt, self.snapshot)

    def reach(self, *names: str) -> ReadStatus:
        """The status of these read models once they have reached `min_position`."""
        return await_position(self.rt, self.schema, names, self.min_position, self.wait)

    def judged_at(self) -> datetime:
        return judged_at(self.rt, self.snapshot)

    def aggregate(self, stream_id: str, kind: type[A], label: str) -> A:
        return aggregate_in(self.rt, self.snapshot, stream_id, kind, label)

    def answer(self, body: Any, position: int) -> JSONResponse | StreamingResponse:
        """The body as JSON, or its rows as CSV when that was asked."""
        if self.wants_csv:
            return csv_answer(body, position, model_columns(self.model))
        return answer(body, position)

    def answer_rows(self, rows: Iterable[Any], position: int) -> StreamingResponse:
        """Rows read as the client reads (a server-side cursor) as CSV; only when wants_csv."""
        return csv_rows_answer(rows, position, model_columns(self.model))


def read_point(request: Request, rt: RuntimeDep, snapshot: Snapshot = None,
               min_position: MinPosition = None, wait: Wait = 5, format: Format = None
               ) -> ReadPoint:
    route = request.scope.get("route")
    return ReadPoint(rt, snapshot, min_position, wait,
                     asks_for_csv(format, request.headers.get("accept")),
                     getattr(route, "response_model", None))


ReadAt = Annotated[ReadPoint, Depends(read_point)]
