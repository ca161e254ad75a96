"""What every read-model query shares: periods, date ranges, filters, group-by columns."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg_pool import ConnectionPool

from csm.projections.pg_names import READ_SCHEMA

PERIODS = ("day", "week", "month", "quarter", "year")
GROUPS = {"department": "department_id", "channel": "channel", "dimension": "dimension",
          "survey": "survey_id", "tier": "tier", "kind": "kind", "severity": "severity",
          "reason": "reason",
          "category": "category"}


@dataclass
class Slice:
    """A query's period, range, grouping and filters, already checked."""
    period: str = "month"
    start: date | None = None
    end: date | None = None
    group_by: list[str] = field(default_factory=list)  # column names
    filters: dict[str, Any] = field(default_factory=dict)  # column → value
    schema: str = READ_SCHEMA

    def where(self, day_column: str, allowed: set[str]) -> tuple[str, dict[str, Any]]:
        clauses, params = ["TRUE"], {"period": self.period}
        if self.start:
            clauses.append(f"{day_column} >= %(start)s")
            params["start"] = self.start
        if self.end:
            clauses.append(f"{day_column} <= %(end)s")
            params["end"] = self.end
        for column, value in self.filters.items():
            if column in allowed:
                clauses.append(f'"{column}" = %(f_{column})s')
                params[f"f_{column}"] = value
        return " AND ".join(clauses), params

    def groups(self, allowed: set[str]) -> list[str]:
        return [g for g in self.group_by if g in allowed]

    def grouped(self, day_column: str, allowed: set[str]
                ) -> tuple[list[str], str, str, dict[str, Any]]:
        """The group columns, them as a `, "a", "b"` list for SELECT and GROUP BY, and the
        WHERE clause with its parameters."""
        groups = self.groups(allowed)
        return (groups, "".join(f', "{g}"' for g in groups), *self.where(day_column, allowed))


def equal_to(clauses: list[str], params: dict[str, Any], **values: Any) -> None:
    """Adds `column = value` for each value given (None: no condition on that column)."""
    for column, value in values.items():
        if value is not None:
            clauses.append(f'"{column}" = %({column})s')
            params[column] = value


def period_sql(day_column: str) -> str:
    return f"date_trunc(%(period)s, {day_column})::date"


def fetch(pool: ConnectionPool, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        return conn.execute(sql, params).fetchall()


def rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
