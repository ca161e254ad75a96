"""Why an inbound message was refused, in words an adapter's developer understands.

The `error` header of a dead letter names the field (`payload.occurred_at: …`,
`message_id: …`) or the place in the bytes (`line 1, column 8`), never a
parser's internals.
"""
from __future__ import annotations

import re
from typing import Any

import orjson
import psycopg
from pydantic import ValidationError

from csm.domain.errors import NotFound

JSON_TYPES = {"list": "an array", "str": "a string", "int": "a number", "float": "a number",
              "bool": "true or false", "NoneType": "null", "dict": "an object"}
# orjson's words → ours
JSON_PROBLEMS = {
    "Input is a zero-length, empty document": "empty message",
    "depth limit exceeded": "nested deeper than 1024 levels",
    "no low surrogate in string": "a string holds an unpaired surrogate escape (\\ud800–\\udfff), "
                                  "which is not Unicode",
    "no high surrogate in string": "a string holds an unpaired surrogate escape (\\ud800–\\udfff), "
                                   "which is not Unicode",
    "UTF-8 byte order mark (BOM) is not supported": "starts with a byte order mark, which JSON "
                                                    "does not allow",
}
NOT_FOUND = re.compile(r"^(\w+) '(.*)' not found$", re.S)


def reason(exc: BaseException, raw: bytes | None = None, where: str = "") -> str:
    """`where`: the prefix of the model that refused (`payload.` for a payload)."""
    if isinstance(exc, ValidationError):
        return "; ".join(_field(where, e) for e in exc.errors()[:3]) + (
            f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else "")
    if isinstance(exc, orjson.JSONDecodeError):
        return _json(exc, raw)
    if isinstance(exc, psycopg.DataError):
        return f"a value cannot be stored: {str(exc).splitlines()[0]}"
    return str(exc) or type(exc).__name__


def not_found(exc: NotFound, payload: dict[str, Any], waited: float) -> str:
    """A target still unknown after the retries, naming the payload field that refers to it."""
    m = NOT_FOUND.match(str(exc))
    field = f"{m.group(1)}_id" if m else None
    prefix = f"payload.{field}: " if field in payload else ""
    return f"{prefix}{exc}, still after {waited:g} s of retries"


def _field(where: str, error: dict[str, Any]) -> str:
    loc = where + ".".join(str(p) for p in error.get("loc", ()))
    loc = loc.rstrip(".") or "message"
    kind, msg = error.get("type", ""), error.get("msg", "")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        got = JSON_TYPES.get(type(error.get("input")).__name__, "something else")
        return f"{loc}: must be a JSON object, not {got}"
    if kind == "missing":
        return f"{loc}: is required"
    if kind == "extra_forbidden":
        return f"{loc}: is not a known field"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return f"{loc}: has characters that are not allowed here (allowed: {pattern})"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return f"{loc}: {msg}"


def _json(exc: orjson.JSONDecodeError, raw: bytes | None) -> str:
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return (f"not UTF-8 text: byte {bad.start} (0x{raw[bad.start]:02x}) does not belong "
                    f"to a UTF-8 character")
    problem = JSON_PROBLEMS.get(exc.msg)
    if problem == "empty message":
        return problem
    return f"not valid JSON (line {exc.lineno}, column {exc.colno}): {problem or exc.msg}"
