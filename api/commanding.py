"""Turning a validated body into one recorded command: ids, idempotency, the 201 answer."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from csm.api.deps import Caller
from csm.domain.application import Hook, Recorded
from csm.infra.idempotency import run_once
from csm.infra.runtime import Runtime


def new_id() -> str:
    return str(uuid.uuid4())


def record(rt: Runtime, caller: Caller, key: str | None, request: Request,
           body: BaseModel | None, command: Callable[[Sequence[Hook]], Recorded]) -> JSONResponse:
    payload = body.model_dump(mode="json") if body is not None else None
    answer = run_once(rt.pool, caller.scope, key, f"{request.method} {request.url.path}",
                      payload, command)
    return JSONResponse(answer, status_code=201)
