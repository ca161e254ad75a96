"""Dependencies shared by the routers: the runtime, the caller and its role, the clock."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from csm.api.errors import Forbidden, Unauthorized
from csm.infra.runtime import Runtime


@dataclass(frozen=True)
class Caller:
    role: str
    scope: str  # a digest of the API key: idempotency keys are scoped to it

    @property
    def sees_personal_data(self) -> bool:
        return self.role in ("agent", "admin")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


# The only paths answered without a key; an entry ending in "/" covers the paths under it.
PUBLIC_PATHS = ("/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/", "/redoc")


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC_PATHS)


def caller_for(api_keys: dict[str, str], authorization: str | None) -> Caller:
    """The caller an `Authorization` header names; Unauthorized when it names none."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send `Authorization: Bearer <api key>`")
    key = authorization[7:].strip()
    role = api_keys.get(key)
    if role is None:
        raise Unauthorized("this API key is not known")
    return Caller(role, hashlib.sha256(key.encode()).hexdigest()[:32])


def get_caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    return caller_for(request.app.state.runtime.api_keys, authorization)


def allow(*roles: str):
    """A dependency that lets through the given roles (and admin, who may do everything)."""
    allowed = {*roles, "admin"}

    def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if caller.role not in allowed:
            raise Forbidden(f"role '{caller.role}' may not do this; allowed: "
                            f"{', '.join(sorted(allowed))}")
        return caller
    return check


def now() -> datetime:
    return datetime.now(UTC)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Now = Annotated[datetime, Depends(now)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
