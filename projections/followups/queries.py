"""Feedback statistics, survey response rates, revisit statistics, improvement actions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from csm.projections.query import Slice, equal_to, fetch, period_sql, rate

FEEDBACK_GROUPS = {"channel", "kind", "department_id"}


def feedback_stats(pool: ConnectionPool, q: Slice) -> list[dict[str, Any]]:
    groups, cols, where, params = q.grouped("day", FEEDBACK_GROUPS)
    rows = fetch(pool, f"""
        SELECT {period_sql('day')} AS period_start{cols}, sum(count)::bigint AS count,
               coalesce(sum(count) FILTER (WHERE kind IN ('criticism', 'complaint')), 0)::bigint
                   AS problems,
               sum(rating_n)::bigint AS rating_n, sum(rating_sum)::bigint AS rating_sum
        FROM "{q.schema}".feedback_facts WHERE {where} GROUP BY 1{cols} ORDER BY 1{cols}""",
                 params)
    return [{"period_start": r["period_start"].isoformat(), **{g: r[g] for g in groups},
             "count": r["count"], "problem_rate": rate(r["problems"], r["count"]),
             "mean_rating": rate(r["rating_sum"], r["rating_n"])} for r in rows]


def survey_stats(pool: ConnectionPool, schema: str, survey_id: str) -> dict[str, Any] | None:
    rows = fetch(pool, f"""
        SELECT s.survey_id, s.name, s.suppressed,
          (SELECT count(*) FROM "{schema}".survey_invitations i WHERE i.survey_id = s.survey_id)
              AS invited,
          (SELECT count(*) FROM "{schema}".survey_invitations i WHERE i.survey_id = s.survey_id
              AND EXISTS (SELECT 1 FROM "{schema}".survey_responses r
                          WHERE r.survey_id = i.survey_id AND r.customer_id = i.customer_id))
              AS responded,
          (SELECT count(*) FROM "{schema}".survey_responses r WHERE r.survey_id = s.survey_id)
              AS responses
        FROM "{schema}".surveys s WHERE s.survey_id = %(id)s""", {"id": survey_id})
    if not rows:
        return None
    r = rows[0]
    return {**r, "response_rate": rate(r["responded"], r["invited"])}


REVISIT_GROUPS = {"department_id", "reason"}


def revisit_stats(pool: ConnectionPool, q: Slice, now: datetime) -> list[dict[str, Any]]:
    groups, cols, where, params = q.grouped("scheduled_day", REVISIT_GROUPS)
    params["now"] = now
    rows = fetch(pool, f"""
        SELECT {period_sql('scheduled_day')} AS period_start{cols}, count(*) AS scheduled,
               count(completed_at) AS completed,
               count(*) FILTER (WHERE outcome = 'reached') AS reached,
               count(*) FILTER (WHERE outcome = 'unreachable') AS unreachable,
               count(*) FILTER (WHERE outcome = 'declined') AS declined,
               count(*) FILTER (WHERE completed_at IS NULL AND due_at < %(now)s) AS overdue,
               avg(satisfaction)::float8 AS mean_satisfaction
        FROM "{q.schema}".revisits WHERE {where} GROUP BY 1{cols} ORDER BY 1{cols}""", params)
    return [{**r, "period_start": r["period_start"].isoformat(),
             "completion_rate": rate(r["completed"], r["scheduled"])} for r in rows]


def improvement_actions(pool: ConnectionPool, schema: str, now: datetime,
                        department_id: str | None, status: str | None, limit: int
                        ) -> list[dict[str, Any]]:
    clauses, params = ["TRUE"], {"now": now, "limit": limit}
    equal_to(clauses, params, department_id=department_id or None, status=status or None)
    return fetch(pool, f"""
        SELECT *, (status = 'raised' AND due_at < %(now)s) AS overdue
        FROM "{schema}".improvement_actions WHERE {' AND '.join(clauses)}
        ORDER BY due_at, action_id LIMIT %(limit)s""", params)
