"""The OpenAPI document: problem+json answers per status, the bearer scheme, one place for both."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from csm.api.answers import Readiness
from csm.api.errors import PROBLEM
from csm.api.slices import COMMA_SEPARATED, comma_separated

PROTECTED_PREFIX = "/v1/"
BEARER = "bearer"
REF = "#/components/schemas/"


class ProblemError(BaseModel):
    loc: list[str | int] = Field(description="where the value is: body, query, path, header…")
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem: every error csm answers has this shape."""
    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="a sentence saying what went wrong")
    errors: list[ProblemError] | None = Field(
        default=None, description="validation errors, one per value refused")


WHY = {
    400: "The body is not text in UTF-8",
    401: "Missing or unknown API key",
    403: "The caller's role may not do this",
    404: "An id that is not known (in the path, the body or `snapshot`)",
    409: "Not allowed in the current state, id already taken, or changed concurrently",
    413: "Request body over 1 MiB",
    422: "Invalid input: a value, a field, a parameter or a reused Idempotency-Key",
    503: "The event store is unavailable, or the read model has not reached `min_position`",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "required": True,
                               "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait before retrying", "required": True,
                          "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}
POSITION = {"X-CSM-Position": {
    "description": "the position of the event store the read model had reached",
    "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


def problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": WHY[status], "content": {
        PROBLEM: {"schema": {"$ref": f"{REF}{Problem.__name__}"}}}}
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer, as problem+json."""
    return {status: problem_response(status) for status in statuses}


# What each kind of route can answer besides its success.
CREATE = problems(400, 401, 403, 409, 413, 422, 503)
COMMAND = problems(400, 401, 403, 404, 409, 413, 422, 503)
RECORD = problems(401, 403, 404, 503)
# A query answers JSON, or CSV with `format=csv` or `Accept: text/csv` (api/csv_answers.py).
CSV_ROWS = {"text/csv": {"schema": {
    "type": "string", "description": "the same rows as the JSON, one header line first"}}}
QUERY = {200: {"headers": POSITION, "content": CSV_ROWS}, **problems(401, 403, 404, 422, 503)}
SERVICE = problems(401, 403, 503)
NOT_READY = {503: {"model": Readiness, "description": "Not ready: the store or a part is down",
                   "headers": HEADERS[503]}}


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template=REF + "{model}")
    nested = schema.pop("$defs", {})
    return {Problem.__name__: schema, **nested}


def _describe(doc: dict[str, Any]) -> dict[str, Any]:
    """Puts in what FastAPI cannot know: the key every /v1 route needs, problem+json for 422."""
    components = doc.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    schemes[BEARER] = {"type": "http", "scheme": "bearer",
                       "description": "an API key: `Authorization: Bearer <key>`"}
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_problem_schemas())
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            # The key travels as a security scheme, not as a parameter a client fills in.
            params = [p for p in operation.get("parameters", ())
                      if not (p["in"] == "header" and p["name"].lower() == "authorization")]
            for p in params:
                if COMMA_SEPARATED in p.get("schema", {}):
                    comma_separated(p)
            if params:
                operation["parameters"] = params
            else:
                operation.pop("parameters", None)
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422")):
                # An id in the path outside its pattern is not found (404), never invalid.
                if "requestBody" in operation or any(p["in"] != "path" for p in params):
                    responses["422"] = problem_response(422)
                else:
                    del responses["422"]
            if path.startswith(PROTECTED_PREFIX):
                operation["security"] = [{BEARER: []}]
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _describe(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes))
        return app.openapi_schema
    app.openapi = openapi  # type: ignore[method-assign]
