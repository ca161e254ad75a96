"""Query parameters of the read-model queries: period, from, to, group_by, filters, statuses.

Each query declares only the group_by names and filters its read model can answer, with
their sets in the signature, so OpenAPI shows them and anything else is refused with 422.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from datetime import date
from inspect import Parameter, Signature
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from csm.domain.fields import LocalDate
from csm.domain.values import ID_PATTERN, SLUG_PATTERN, FeedbackKind, RevisitReason, Severity, Tier
from csm.projections.query import GROUPS, Slice

Period = Literal["day", "week", "month", "quarter", "year"]
ComplaintStatus = Literal["open", "acknowledged", "awaiting_customer", "resolved", "reopened",
                          "closed"]
ActionStatus = Literal["raised", "completed", "verified"]
IdFilter = Annotated[str | None, Query(pattern=ID_PATTERN)]
SlugFilter = Annotated[str | None, Query(pattern=SLUG_PATTERN)]

# filter parameter (= read-model column) → its type
FILTERS: dict[str, Any] = {
    "department_id": IdFilter, "channel": SlugFilter, "dimension": SlugFilter,
    "survey_id": IdFilter, "tier": Tier | None, "kind": FeedbackKind | None,
    "severity": Severity | None, "reason": RevisitReason | None, "category": SlugFilter}
# Marks a parameter sent as one comma-separated list of distinct names: a string pattern
# cannot say "each at most once", so `api.openapi` publishes it as an array of unique items.
COMMA_SEPARATED = "x-comma-separated"
_ARG = Parameter.KEYWORD_ONLY
_RANGE = [
    Parameter("period", _ARG, default="month", annotation=Period),
    Parameter("from_", _ARG, default=None, annotation=Annotated[
        LocalDate | None, Query(alias="from", description="first local date")]),
    Parameter("to", _ARG, default=None, annotation=Annotated[
        LocalDate | None, Query(description="last local date (inclusive)")]),
]


def comma_separated(parameter: dict[str, Any]) -> None:
    """Rewrites a marked OpenAPI query parameter as what it is: an array in style form."""
    names = parameter["schema"].pop(COMMA_SEPARATED)
    parameter.update(style="form", explode=False, schema={
        "type": "array", "items": {"type": "string", "enum": names}, "minItems": 1,
        "uniqueItems": True, "description": parameter["schema"].get("description", "")})


def slice_params(columns: Collection[str], *, groupable: bool = True) -> Callable[..., Slice]:
    """A dependency for a query whose read model can be filtered (and grouped) by `columns`."""
    names = [name for name, column in GROUPS.items() if column in columns]
    params = list(_RANGE)
    if groupable and names:
        choice = "|".join(names)
        params.append(Parameter("group_by", _ARG, default=None, annotation=Annotated[
            str | None, Query(pattern=f"^({choice})(,({choice}))*$",
                              description=f"comma-separated, each at most once: "
                                          f"{', '.join(names)}",
                              json_schema_extra={COMMA_SEPARATED: names})]))
    params += [Parameter(c, _ARG, default=None, annotation=FILTERS[c])
               for c in FILTERS if c in columns]

    def dependency(**values: Any) -> Slice:
        return _checked(**values)
    # FastAPI reads the query parameters from the signature, so it must name them one by one.
    dependency.__signature__ = Signature(params, return_annotation=Slice)  # type: ignore
    return dependency


def _checked(period: str, from_: date | None, to: date | None, group_by: str | None = None,
             **filters: str | None) -> Slice:
    names = group_by.split(",") if group_by else []
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        _refuse("group_by", f"names {', '.join(repeated)} more than once", group_by)
    if from_ and to and from_ > to:
        _refuse("from", f"`from` ({from_}) lies after `to` ({to})", str(from_))
    return Slice(period, from_, to, [GROUPS[g] for g in names],
                 {k: v for k, v in filters.items() if v is not None})


def _refuse(param: str, msg: str, value: str | None) -> None:
    raise RequestValidationError([{"type": "value_error", "loc": ("query", param), "msg": msg,
                                   "input": value}])
