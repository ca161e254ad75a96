"""Query parameters shared by the statistics endpoints: period, from, to, group_by, filters."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Query

from csm.domain.errors import InvalidInput
from csm.projections.query import GROUPS, Slice

Period = Literal["day", "week", "month", "quarter", "year"]


def slice_params(
    period: Period = "month",
    from_: Annotated[date | None, Query(alias="from", description="first local date")] = None,
    to: Annotated[date | None, Query(description="last local date (inclusive)")] = None,
    group_by: Annotated[str | None, Query(description="comma-separated: department, channel, "
                                          "dimension, survey, tier, kind")] = None,
    department_id: str | None = None, channel: str | None = None, dimension: str | None = None,
    survey_id: str | None = None, tier: str | None = None, kind: str | None = None,
    severity: str | None = None, reason: str | None = None,
) -> Slice:
    names = [g.strip() for g in group_by.split(",") if g.strip()] if group_by else []
    unknown = [g for g in names if g not in GROUPS]
    if unknown:
        raise InvalidInput(f"unknown group_by {unknown}; use {sorted(GROUPS)}")
    if from_ and to and from_ > to:
        raise InvalidInput("`from` lies after `to`")
    filters = {k: v for k, v in {
        "department_id": department_id, "channel": channel, "dimension": dimension,
        "survey_id": survey_id, "tier": tier, "kind": kind, "severity": severity,
        "reason": reason}.items() if v is not None}
    return Slice(period, from_, to, [GROUPS[g] for g in names], filters)
