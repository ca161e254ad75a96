"""The overdue rule PostgreSQL applies is the one the domain applies, case by case."""
from datetime import UTC, datetime, timedelta
from itertools import product

import orjson

from csm.domain.thresholds import (
    ACKNOWLEDGE_OVERDUE_SQL,
    OVERDUE_SQL,
    RESOLVE_OVERDUE_SQL,
    acknowledge_overdue,
    overdue,
    resolve_overdue,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
STATUSES = ("open", "acknowledged", "resolved", "reopened", "closed")
DUES = (NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1))


def test_the_overdue_sql_judges_every_status_and_due_time_as_the_domain_does(runtime):
    cases = list(product(STATUSES, DUES, DUES))
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {ACKNOWLEDGE_OVERDUE_SQL} AS ack, {RESOLVE_OVERDUE_SQL} AS res, "
            f"{OVERDUE_SQL} AS any FROM (SELECT (c->>0) AS status, "
            f"(c->>1)::timestamptz AS acknowledge_due, (c->>2)::timestamptz AS resolve_due, "
            f"ord FROM jsonb_array_elements(%(cases)s::jsonb) WITH ORDINALITY AS t(c, ord)) x "
            f"ORDER BY ord",
            {"now": NOW, "cases": _json(cases)}).fetchall()

    assert [(r["ack"], r["res"], r["any"]) for r in rows] == [
        (acknowledge_overdue(s, a, NOW), resolve_overdue(s, r, NOW), overdue(s, a, r, NOW))
        for s, a, r in cases]
    assert any(r["any"] for r in rows) and not all(r["any"] for r in rows)


def _json(cases) -> str:
    return orjson.dumps([[s, a.isoformat(), r.isoformat()] for s, a, r in cases]).decode()
