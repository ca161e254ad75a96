"""The complaint backlog (judged at a given moment) and cohort statistics."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from csm.domain.thresholds import OVERDUE_SQL
from csm.projections.query import Slice, equal_to, fetch, period_sql, rate


def backlog(pool: ConnectionPool, schema: str, now: datetime, department_id: str | None,
            status: str | None, overdue: bool | None, limit: int) -> dict[str, Any]:
    clauses, params = ["status <> 'closed'"], {"now": now, "limit": limit}
    equal_to(clauses, params, department_id=department_id or None, status=status or None)
    if overdue is not None:
        clauses.append(OVERDUE_SQL if overdue else f"NOT {OVERDUE_SQL}")
    where = " AND ".join(clauses)
    rows = fetch(pool, f"""
        SELECT complaint_id, department_id, handler, severity, status, escalation_level,
               opened_at, acknowledge_due, resolve_due, {OVERDUE_SQL} AS overdue,
               extract(epoch FROM %(now)s - opened_at) / 3600.0 AS age_hours
        FROM "{schema}".complaints WHERE {where} ORDER BY opened_at, complaint_id""", params)
    summary = {"open": len(rows), "overdue": sum(1 for r in rows if r["overdue"]),
               "by_status": dict(Counter(r["status"] for r in rows)),
               "by_severity": dict(Counter(r["severity"] for r in rows))}
    items = [{**r, "age_hours": float(r["age_hours"])} for r in rows[:limit]]
    return {"as_of": now, "summary": summary, "items": items}


STATS_GROUPS = {"department_id", "channel", "severity", "category"}


def stats(pool: ConnectionPool, q: Slice) -> list[dict[str, Any]]:
    groups, cols, where, params = q.grouped("opened_day", STATS_GROUPS)
    rows = fetch(pool, f"""
        SELECT {period_sql('opened_day')} AS period_start{cols}, count(*) AS received,
               count(first_resolved_at) AS resolved,
               count(*) FILTER (WHERE resolved_within_sla) AS within_sla,
               avg(extract(epoch FROM acknowledged_at - opened_at)) / 3600.0 AS ack_hours,
               avg(extract(epoch FROM first_resolved_at - opened_at)) / 3600.0 AS resolve_hours,
               coalesce(sum(escalations), 0) AS escalations,
               count(*) FILTER (WHERE reopened > 0) AS reopened
        FROM "{q.schema}".complaints WHERE {where} GROUP BY 1{cols} ORDER BY 1{cols}""", params)
    return [{"period_start": r["period_start"].isoformat(), **{g: r[g] for g in groups},
             "received": r["received"], "resolved": r["resolved"],
             "resolution_rate": rate(r["resolved"], r["received"]),
             "within_sla_rate": rate(r["within_sla"], r["resolved"]),
             "mean_hours_to_acknowledge": _float(r["ack_hours"]),
             "mean_hours_to_resolve": _float(r["resolve_hours"]),
             "escalations": int(r["escalations"]), "reopened": r["reopened"]} for r in rows]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
