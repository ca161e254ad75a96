"""One table from exception class to HTTP status and problem type; answers are problem+json."""
from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from csm.domain.errors import AlreadyExists, ConcurrentChange, InvalidInput, InvalidTransition, NotFound
from csm.infra.idempotency import IdempotencyMismatch

log = structlog.get_logger()
PROBLEM = "application/problem+json"


class Unauthorized(Exception):
    pass


class Forbidden(Exception):
    pass


class StaleRead(Exception):
    pass


class StoreUnavailable(Exception):
    pass


# Raised from `receive` while FastAPI reads a body: it passes HTTPExceptions through untouched.
class TooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes",
                         headers={"Connection": "close"})


class BodyTooSlow(StarletteHTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body did not arrive within {seconds:g} s",
                         headers={"Connection": "close"})


# exception class → (status, problem type slug, title)
STATUS: list[tuple[type[BaseException], int, str, str]] = [
    (Unauthorized, 401, "unauthorized", "Missing or unknown API key"),
    (Forbidden, 403, "forbidden", "Your role may not do this"),
    (NotFound, 404, "not-found", "Not found"),
    (BodyTooSlow, 408, "body-too-slow", "Request body too slow"),
    (InvalidTransition, 409, "invalid-state", "Not allowed in the current state"),
    (AlreadyExists, 409, "already-exists", "Id already taken"),
    (ConcurrentChange, 409, "concurrent-change", "Changed concurrently"),
    (TooLarge, 413, "too-large", "Body too large"),
    (InvalidInput, 422, "invalid-input", "Invalid input"),
    (IdempotencyMismatch, 422, "idempotency-key-reused", "Idempotency-Key reused with another body"),
    (StaleRead, 503, "stale-read", "The read model has not caught up yet"),
    (StoreUnavailable, 503, "store-unavailable", "The event store is unavailable"),
    (OperationalError, 503, "store-unavailable", "The event store is unavailable"),
    (InterfaceError, 503, "store-unavailable", "The event store is unavailable"),
    (psycopg.OperationalError, 503, "store-unavailable", "The event store is unavailable"),
    (psycopg.InterfaceError, 503, "store-unavailable", "The event store is unavailable"),
    (psycopg_pool.PoolTimeout, 503, "store-unavailable", "The event store is unavailable"),
]


# Headers an answer of this status always carries (RFC 9110 §11.6.1, §10.2.3).
STATUS_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


def problem(status: int, slug: str, title: str, detail: str,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"https://csm.dev/problems/{slug}", "title": title, "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM,
                        headers={**STATUS_HEADERS.get(status, {}), **(headers or {})})


def answer_for(exc: Exception) -> JSONResponse | None:
    """The problem answer for an exception of the table, or None if it is not in it."""
    for cls, status, slug, title in STATUS:
        if isinstance(exc, cls):
            if cls is StaleRead:
                log.warning("stale_read", detail=str(exc))
                return problem(status, slug, title, str(exc))
            if status == 503:
                log.warning("store_unavailable", error=type(exc).__name__)
                return problem(status, slug, title, "PostgreSQL cannot be reached; nothing "
                               "was recorded. Retry shortly.")
            if isinstance(exc, InvalidInput):
                loc = ["body", *exc.loc]
                return problem(status, slug, title, str(exc),
                               errors=[{"loc": loc, "msg": str(exc)}])
            if isinstance(exc, StarletteHTTPException):
                return problem(status, slug, title, str(exc.detail), headers=exc.headers)
            return problem(status, slug, title, str(exc))
    return None


def _from_table(request: Request, exc: Exception) -> JSONResponse:
    found = answer_for(exc)
    if found is not None:
        return found
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return problem(500, "internal", "Internal error", "Something went wrong on our side; "
                   "it has been logged.")


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"])
    return problem(422, "validation", "Invalid request", f"{where}: {first['msg']}",
                   errors=errors)


def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # A 413 raised elsewhere (Starlette, FastAPI) is the same problem as ours.
    slug, title = HTTP_TYPES.get(exc.status_code, (f"http-{exc.status_code}", str(exc.detail)))
    return problem(exc.status_code, slug, title, str(exc.detail), headers=exc.headers)


HTTP_TYPES = {status: (slug, title) for cls, status, slug, title in STATUS
              if issubclass(cls, StarletteHTTPException)}


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    for cls, *_ in STATUS:
        app.add_exception_handler(cls, _from_table)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _from_table)
