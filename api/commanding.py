"""Turning a validated body into one handled command: ids, idempotency, the 201 answer."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel

from csm.api.deps import Caller
from csm.domain.commands import Command, from_body
from csm.infra.idempotency import run_once
from csm.infra.runtime import Runtime


def new_id() -> str:
    return str(uuid.uuid4())


async def record(rt: Runtime, caller: Caller, key: str | None, request: Request,
                 body: BaseModel | None, kind: type[Command], now: datetime,
                 **given: Any) -> JSONResponse:
    """Handles the command `kind` built from the body (and `given` fields) once per key.

    Without a key nothing is looked up: the command goes straight to the group commit, awaited
    on the event loop. A key is looked up and remembered in PostgreSQL, in a worker thread."""
    command = from_body(kind, body, now, **given)
    if key is None:
        answer = (await rt.commands.submit(command)).answer()
    else:
        payload = body.model_dump(mode="json") if body is not None else None
        answer = await run_in_threadpool(run_once, rt.pool, rt.commands, caller.scope, key,
                                         f"{request.method} {request.url.path}", payload,
                                         command)
    return JSONResponse(answer, status_code=201)
