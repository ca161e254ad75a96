"""The deadline watcher: time passing becomes `complaint.sla_breached` events.

Every scan it asks the complaints read model which complaints have a due time
behind them with no breach recorded for it, and lets each complaint decide
(grace after recording, once per due time, escalation on a resolve breach).
The watcher may read the clock — injected, so tests can move it; the
projections never do. A lagging read model only delays a breach to a later
scan; two watchers at once still record each breach once. Each scan's time goes
into the part's status (readiness tells a watcher that stopped scanning); a scan
that fails is said once, and its recovery once.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from csm.domain.application import NothingToRecord
from csm.domain.commands import RecordMissedDeadlines
from csm.domain.csm import CsmApplication
from csm.domain.thresholds import ACKNOWLEDGE_OVERDUE_SQL, RESOLVE_OVERDUE_SQL
from csm.projections.pg_names import READ_SCHEMA

log = structlog.get_logger()
BREACHES = Counter("csm_deadline_breaches_total",
                   "Complaints the deadline watcher recorded a missed due time for")
CANDIDATES = f"""
SELECT complaint_id FROM {READ_SCHEMA}.complaints
WHERE ({ACKNOWLEDGE_OVERDUE_SQL} AND NOT coalesce(acknowledge_breached, false))
   OR ({RESOLVE_OVERDUE_SQL} AND resolve_breached_due IS DISTINCT FROM resolve_due)
ORDER BY complaint_id LIMIT %(limit)s"""


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeadlineWatcher:
    def __init__(self, pool: ConnectionPool, app: CsmApplication, grace_seconds: float,
                 scan_seconds: float, clock: Callable[[], datetime] = utc_now,
                 status: Any = None):
        self.pool, self.app, self.clock, self.status = pool, app, clock, status
        self.grace, self.scan_seconds = timedelta(seconds=grace_seconds), scan_seconds
        self.recorded = 0
        if status is not None:
            status.update(scan_seconds=scan_seconds, last_scan_at=None)

    def scan(self, limit: int = 10_000) -> int:
        """One pass; returns how many complaints got breaches recorded."""
        now = self.clock()
        with self.pool.connection() as conn:
            ids = [r["complaint_id"] for r in conn.execute(
                CANDIDATES, {"now": now, "limit": limit}).fetchall()]
        recorded = 0
        for complaint_id in ids:
            try:
                self.app.handle(RecordMissedDeadlines(complaint_id=complaint_id,
                                                      grace=self.grace, now=now))
            except NothingToRecord:
                continue
            recorded += 1
        if recorded:
            BREACHES.inc(recorded)
            log.info("deadlines_breached", complaints=recorded, candidates=len(ids))
        self.recorded += recorded
        return recorded

    def run(self, stop: threading.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                self.scan()
                if self.status is not None:
                    self.status.update(last_scan_at=utc_now().isoformat(),
                                       breaches_recorded=self.recorded)
                    self.status.ok()
                if failing:
                    log.info("deadline_scan_recovered")
                failing = False
            except Exception as exc:  # noqa: BLE001 - the store is away: scan again later
                error = f"{type(exc).__name__}: {exc}"[:500]
                if not failing:
                    log.error("deadline_scan_failed", error=error)
                if self.status is not None:
                    self.status.failed("", error)
                failing = True
            stop.wait(self.scan_seconds)
