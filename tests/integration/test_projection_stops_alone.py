"""An event a projection cannot apply, put straight into the store as a bug would: that
projection stops alone, says so, and resumes by itself once the cause is gone."""
from __future__ import annotations

import csm.projections.failure
from csm.projections.registry import ALL
from bench.stack import LiveServer
from tests.read_model_checks import compare_with_rebuild
from tests.unstorable_events import (
    department_named_with_a_nul,
    fix_the_ledger,
    ledger_stuck_the_others_at,
    metric,
    status_rows,
    wait_for,
)


class Said:
    """The failure log lines, kept (and passed on) to count them."""

    def __init__(self, log):
        self.log, self.lines = log, []

    def __getattr__(self, level):
        def say(event, **kw):
            self.lines.append(event)
            getattr(self.log, level)(event, **kw)
        return say


def test_a_projection_that_cannot_store_an_event_stops_alone_says_so_and_resumes_once_fixed(
        fresh_runtime, monkeypatch):
    rt = fresh_runtime
    said = Said(csm.projections.failure.log)
    monkeypatch.setattr(csm.projections.failure, "log", said)
    rt.start_projectors()
    live = LiveServer(rt)
    try:
        with live.client("admin") as c:
            bad, bad_id, head = department_named_with_a_nul(rt, c)

            # The others reach the head; the ledger stays before the bad event, and says why.
            ledger = ledger_stuck_the_others_at(rt, head, 30)
            assert ledger["failed_position"] == bad
            assert ledger["failed_event_id"] == f"{bad_id}@1"
            assert ledger["position"] == bad - 1
            assert "NUL" in ledger["failed_error"]
            assert ledger["failures"] == 1

            ready = c.get("/ready")
            assert ready.status_code == 503, ready.text
            body = ready.json()
            assert body["status"] == "not_ready"
            named = [p for p in body["problems"] if p.startswith("projection ledger")]
            assert len(named) == 1 and f"{bad_id}@1" in named[0]
            assert f"position {bad}" in named[0] and "NUL" in named[0]
            row = next(p for p in body["projections"] if p["name"] == "ledger")
            assert row["failed"]["position"] == bad and row["lag"] == head - (bad - 1)
            assert all(p["lag"] == 0 and p["failed"] is None
                       for p in body["projections"] if p["name"] != "ledger")

            metrics = c.get("/metrics").text
            assert metric(metrics, "csm_projection_failed", "ledger") == 1
            assert metric(metrics, "csm_projection_failed_position", "ledger") == bad
            assert metric(metrics, "csm_projection_lag_events", "ledger") == head - (bad - 1)
            assert metric(metrics, "csm_projection_failures_total", "ledger") == 1
            assert metric(metrics, "csm_projection_failed", "complaints") == 0
            assert metric(metrics, "csm_projection_lag_events", "complaints") == 0

            # It is tried again with a backoff, and says so once, not once per attempt.
            wait_for(lambda: rt.projectors.runner.stopped["ledger"].attempts >= 3, 20,
                     "three attempts")
            assert status_rows(rt)["ledger"]["failures"] == 1
            assert said.lines.count("projection_failed") == 1

            # The code fixed: it resumes by itself, from the event it stopped at.
            fix_the_ledger(monkeypatch)
            wait_for(lambda: status_rows(rt)["ledger"]["position"] == head, 40,
                     "the ledger back at the head")
            ledger = status_rows(rt)["ledger"]
            assert said.lines.count("projection_recovered") == 1
            assert said.lines.count("projection_failed") == 1
            assert ledger["failed_position"] is None and ledger["failed_error"] is None
            ready = c.get("/ready")
            assert ready.status_code == 200, ready.text
            assert metric(c.get("/metrics").text, "csm_projection_failed", "ledger") == 0
        with rt.pool.connection() as conn:
            assert conn.execute("SELECT name FROM csm_read.departments WHERE department_id = %s",
                                (bad_id,)).fetchone()["name"] == "ab"
        problems, counts, at = compare_with_rebuild(rt)
        assert at == head
        assert not problems, "\n".join(problems)
        assert counts["feedback_facts"] > 0 and counts["department_score_ledger"] > 0
        assert set(counts) >= {t.name for p in ALL.values() for t in p.tables}
    finally:
        live.stop()
