"""What the dashboard and the report show, gathered from the query API for one scope:
a month (and the eleven before it, for trends) and optionally one department."""
from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from csm.api.dashboard.source import QuerySource

# A month from 1901 on, so that the year before it (the trends) is a year of dates too.
MONTH = re.compile(r"^(190[1-9]|19[1-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])$")
AGES = (("< 1 d", 24.0), ("1–3 d", 72.0), ("3–7 d", 168.0), ("7–30 d", 720.0),
        ("> 30 d", float("inf")))
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Scope:
    month: date  # its first day
    department_id: str | None = None

    @classmethod
    def parse(cls, period: str, department_id: str | None = None) -> Scope:
        match = MONTH.match(period)
        if not match:
            raise ValueError(f"period {period!r} is not a month YYYY-MM")
        return cls(date(int(match[1]), int(match[2]), 1), department_id or None)

    @classmethod
    def current(cls, now: datetime, department_id: str | None = None) -> Scope:
        return cls(now.date().replace(day=1), department_id or None)

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def last_day(self) -> date:
        return (self.month + timedelta(days=32)).replace(day=1) - timedelta(days=1)

    def months(self, n: int = 12) -> list[date]:
        y, m = self.month.year, self.month.month
        firsts = [((y * 12 + m - 1 - k) // 12, (y * 12 + m - 1 - k) % 12 + 1) for k in range(n)]
        return [date(yy, mm, 1) for yy, mm in reversed(firsts)]

    def before(self) -> Scope:
        """The month before, for the same department."""
        return Scope(self.months(2)[0], self.department_id)

    def dates(self) -> dict[str, str]:
        """The month as a query's `from` and `to`."""
        return {"from": self.month.isoformat(), "to": self.last_day.isoformat()}

    def within(self) -> dict[str, str]:
        """The month as one period of a statistics query."""
        return {"period": "month", **self.dates()}


async def overview(src: QuerySource, scope: Scope) -> dict[str, Any]:
    """The dashboard's figures: satisfaction trend, NPS split, dimensions, backlog,
    scoreboard, survey response rates."""
    first = scope.months()[0]
    d = scope.department_id
    trend, backlog, scores, surveyed, lag = await asyncio.gather(
        src.get("/v1/satisfaction", period="month", department_id=d,
                **{"from": first.isoformat(), "to": scope.last_day.isoformat()}),
        src.get("/v1/complaints/backlog", department_id=d, limit=10000),
        src.get("/v1/departments/scores", **scope.within()),
        src.get("/v1/satisfaction", period="year", group_by="survey", department_id=d,
                **{"from": first.isoformat(), "to": scope.last_day.isoformat()}),
        src.lag())
    survey_ids = sorted({r["survey_id"] for r in surveyed["rows"]})
    surveys = await asyncio.gather(*(src.get(f"/v1/surveys/{s}/stats") for s in survey_ids))
    by_month = {r["period_start"][:7]: r for r in trend["rows"]}
    return {"scope": scope, "months": [m.strftime("%Y-%m") for m in scope.months()],
            "trend": by_month, "current": by_month.get(scope.label),
            "backlog": backlog, "ages": backlog_by_age(backlog["items"]),
            "scores": scores["rows"], "surveys": list(surveys), "lag": lag}


async def monthly(src: QuerySource, scope: Scope) -> dict[str, Any]:
    """The report's figures: the overview's and the month's complaints by category,
    improvement actions, and the points of each department by rule."""
    d = scope.department_id
    figures, stats, categories, actions = await asyncio.gather(
        overview(src, scope),
        src.get("/v1/complaints/stats", department_id=d, **scope.within()),
        src.get("/v1/complaints/stats", department_id=d, group_by="category", **scope.within()),
        src.get("/v1/improvement-actions", department_id=d, limit=10000))
    departments = [r["department_id"] for r in figures["scores"]
                   if d is None or r["department_id"] == d]
    ledgers = await asyncio.gather(*(
        src.get(f"/v1/departments/{dept}/ledger", limit=100000, **scope.dates())
        for dept in departments))
    return figures | {
        "complaints": stats["rows"][0] if stats["rows"] else None,
        "categories": sorted(categories["rows"], key=lambda r: (-r["received"],
                                                                r["category"] or "")),
        "actions": [a for a in actions["items"] if _in_play(a, scope)],
        "points": {dept: points_by_rule(lines["items"])
                   for dept, lines in zip(departments, ledgers, strict=True)}}


def backlog_by_age(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Open complaints counted by age bucket and severity, and the overdue per bucket."""
    counts = {s: [0] * len(AGES) for s in SEVERITIES}
    overdue = [0] * len(AGES)
    for item in items:
        i = next(k for k, (_, limit) in enumerate(AGES) if item["age_hours"] < limit)
        counts.setdefault(item["severity"], [0] * len(AGES))[i] += 1
        overdue[i] += bool(item["overdue"])
    return {"columns": [label for label, _ in AGES], "counts": counts, "overdue": overdue}


def points_by_rule(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A department's ledger lines summed per rule: how many, and the points."""
    rules: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        rules[line["rule"]][0] += 1
        rules[line["rule"]][1] += line["points"]
    return [{"rule": rule, "lines": n, "points": points}
            for rule, (n, points) in sorted(rules.items(), key=lambda kv: kv[1][1])]


def _in_play(action: dict[str, Any], scope: Scope) -> bool:
    """An action raised by the month's end and not verified before the month began."""
    raised = datetime.fromisoformat(action["raised_at"]).date()
    verified = action["verified_at"] and datetime.fromisoformat(action["verified_at"]).date()
    return raised <= scope.last_day and not (verified and verified < scope.month)
