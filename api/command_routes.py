"""A command's HTTP route, declared as one row: path, command class, body, roles, answer.

Every `POST` that records a command has the same shape — a body (required or optional), the
caller's role checked, an optional `Idempotency-Key`, the id from the path or from the body
(or a new one), and `record(...)`'s 201 answer — so the routers declare the rows and this
builds the FastAPI endpoints from them.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel

from csm.api.answers import CommandAnswer
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND
from csm.api.path_ids import PathId
from csm.domain.commands import Command


@dataclass(frozen=True)
class CommandRoute:
    name: str                      # the endpoint's name (and so its OpenAPI operation id)
    path: str                      # below the router's prefix; `{x_id}` names the path id
    command: type[Command]
    body: type[BaseModel]
    roles: tuple[str, ...]         # besides admin, who may give it
    doc: str
    answer: type[BaseModel] = CommandAnswer
    responses: dict | None = None  # COMMAND unless given
    optional_body: bool = False
    new_ids: tuple[str, ...] = ()  # ids taken from the body, or new when it has none


def add_command_routes(router: APIRouter, routes: list[CommandRoute]) -> None:
    for route in routes:
        router.add_api_route(route.path, _endpoint(route), methods=["POST"], status_code=201,
                             response_model=route.answer,
                             responses=route.responses or COMMAND, name=route.name)


def _endpoint(route: CommandRoute):
    path_id = route.path.partition("{")[2].partition("}")[0] or None

    async def endpoint(**kw: Any):
        body = kw["body"]
        given = {name: getattr(body, name) or new_id() for name in route.new_ids}
        if path_id:
            given[path_id] = kw[path_id]
        return await record(kw["rt"], kw["caller"], kw["key"], kw["request"], body, route.command,
                      kw["now"], **given)

    def param(name: str, annotation: Any, default: Any = inspect.Parameter.empty):
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                 default=default)
    body = (param("body", Annotated[route.body | None, Body()], None) if route.optional_body
            else param("body", route.body))
    endpoint.__signature__ = inspect.Signature([
        *([param(path_id, PathId)] if path_id else []),
        body, param("rt", RuntimeDep), param("now", Now), param("request", Request),
        param("caller", Annotated[Caller, Depends(allow(*route.roles))]),
        param("key", IdempotencyKey, None)])
    endpoint.__name__ = endpoint.__qualname__ = route.name
    endpoint.__doc__ = route.doc
    return endpoint
