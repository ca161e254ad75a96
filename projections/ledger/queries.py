"""Department scores: ledger points per period plus the satisfaction index bonus."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg_pool import ConnectionPool

from csm.projections.query import Slice, fetch, period_sql
from csm.projections.satisfaction.queries import satisfaction


def index_bonus(csi: float | None, responses: int, target: float | None, p: dict[str, Any]) -> int:
    if csi is None or target is None or responses < p["index_min_responses"]:
        return 0
    if csi >= target:
        return p["index_bonus"]
    if csi < target - p["index_penalty_margin"]:
        return p["index_penalty"]
    return 0


def scores(pool: ConnectionPool, q: Slice, points: dict[str, Any], weights: dict[str, float]
           ) -> list[dict[str, Any]]:
    where, params = q.where("day", {"department_id"})
    ledger = fetch(pool, f"""
        SELECT {period_sql('day')} AS period_start, department_id, sum(points)::bigint AS total,
               coalesce(sum(points) FILTER (WHERE points > 0), 0)::bigint AS rewards,
               coalesce(sum(points) FILTER (WHERE points < 0), 0)::bigint AS penalties
        FROM "{q.schema}".department_score_ledger WHERE {where} GROUP BY 1, 2""", params)
    targets = {r["department_id"]: r["satisfaction_target"] for r in fetch(
        pool, f'SELECT department_id, satisfaction_target FROM "{q.schema}".departments', {})}
    by_department = Slice(q.period, q.start, q.end, ["department_id"],
                          {k: v for k, v in q.filters.items() if k == "department_id"}, q.schema)
    indices = {(r["period_start"], r["department_id"]): r
               for r in satisfaction(pool, by_department, weights) if r["department_id"]}
    rows: dict[tuple, dict[str, Any]] = {}
    for r in ledger:
        key = (r["period_start"].isoformat(), r["department_id"])
        rows[key] = {"department_id": key[1], "period_start": key[0], "ledger_points":
                     int(r["total"]), "rewards": int(r["rewards"]), "penalties": int(r["penalties"])}
    for key in indices:
        rows.setdefault(key, {"department_id": key[1], "period_start": key[0],
                              "ledger_points": 0, "rewards": 0, "penalties": 0})
    for key, row in rows.items():
        s = indices.get(key)
        row["csi"] = s["csi"] if s else None
        row["responses"] = s["responses"] if s else 0
        row["index_bonus"] = index_bonus(row["csi"], row["responses"], targets.get(key[1]), points)
        row["points"] = row["ledger_points"] + row["index_bonus"]
    return sorted(rows.values(), key=lambda r: (r["period_start"], r["department_id"]))


def _ledger_sql(schema: str, department_id: str, q: Slice, limit: int
                ) -> tuple[str, dict[str, Any]]:
    where, params = q.where("day", set())
    params.update(department_id=department_id, limit=limit)
    return f"""
        SELECT event_id, position, occurred_at, rule, points, policy_version
        FROM "{schema}".department_score_ledger
        WHERE department_id = %(department_id)s AND {where}
        ORDER BY position, rule LIMIT %(limit)s""", params


def ledger_lines(pool: ConnectionPool, schema: str, department_id: str, q: Slice, limit: int
                 ) -> list[dict[str, Any]]:
    return fetch(pool, *_ledger_sql(schema, department_id, q, limit))


def ledger_line_stream(pool: ConnectionPool, schema: str, department_id: str, q: Slice,
                       limit: int, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The same lines through a server-side cursor, `batch` at a time: a long ledger is never
    held whole. The connection (and its transaction) is held until the iterator is done or
    closed; nothing is read before the first `next`."""
    sql, params = _ledger_sql(schema, department_id, q, limit)
    with pool.connection() as conn, conn.transaction(), \
            conn.cursor(name="csm_ledger_lines") as cursor:
        cursor.itersize = batch
        cursor.execute(sql, params)
        yield from cursor
