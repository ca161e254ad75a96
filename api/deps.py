"""Dependencies shared by the routers: the runtime, the caller and its role, the clock."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError

from csm.api.docs import ASSETS_URL
from csm.api.errors import Forbidden, Unauthorized
from csm.infra.runtime import Runtime


@dataclass(frozen=True)
class Caller:
    role: str
    scope: str  # a digest of the API key: idempotency keys are scoped to it

    @property
    def sees_personal_data(self) -> bool:
        return self.role in ("agent", "admin")


# The dependencies below do no I/O, so they are `async def`: FastAPI calls them on the event
# loop instead of handing each to its thread pool.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


# The only paths answered without a key; an entry ending in "/" covers the paths under it.
PUBLIC_PATHS = ("/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/", "/redoc",
                f"{ASSETS_URL}/")


# Paths that check the key themselves: the dashboard's pages take it from a cookie too.
OWN_KEY_PATHS = ("/dashboard", "/dashboard/")


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in prefixes)


def is_public(path: str) -> bool:
    return _under(path, PUBLIC_PATHS)


def checks_key_itself(path: str) -> bool:
    return _under(path, OWN_KEY_PATHS)


def caller_for(api_keys: dict[str, str], authorization: str | None) -> Caller:
    """The caller an `Authorization` header names; Unauthorized when it names none."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send `Authorization: Bearer <api key>`")
    key = authorization[7:].strip()
    role = api_keys.get(key)
    if role is None:
        raise Unauthorized("this API key is not known")
    return Caller(role, hashlib.sha256(key.encode()).hexdigest()[:32])


async def get_caller(request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> Caller:
    return caller_for(request.app.state.runtime.api_keys, authorization)


def allow(*roles: str):
    """A dependency that lets through the given roles (and admin, who may do everything).

    Every /v1 route depends on it, so it also refuses a repeated query parameter: after the
    role, so that a role that may not use the route gets 403 whatever the query holds.
    """
    allowed = {*roles, "admin"}

    async def check(request: Request, caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if caller.role not in allowed:
            raise Forbidden(f"role '{caller.role}' may not do this; allowed: "
                            f"{', '.join(sorted(allowed))}")
        refuse_repeated_query(request)
        return caller
    return check


def refuse_repeated_query(request: Request) -> None:
    """422 for a query parameter of the route sent more than once (FastAPI keeps the last)."""
    counts = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(n for n in _query_names(request.scope["route"]) if counts[n] > 1)
    if repeated:
        raise RequestValidationError([
            {"type": "value_error", "loc": ("query", name), "msg": "given more than once",
             "input": request.query_params.getlist(name)} for name in repeated])


def _query_names(route: Any) -> frozenset[str]:
    """The query parameters a route and its dependencies declare."""
    names: set[str] = set()
    dependants = [route.dependant]
    while dependants:
        dependant = dependants.pop()
        names.update(field.alias for field in dependant.query_params)
        dependants.extend(dependant.dependencies)
    return frozenset(names)


async def now() -> datetime:
    return datetime.now(UTC)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Now = Annotated[datetime, Depends(now)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
