"""The store-fed runner with a projection that cannot apply an event in memory (its code
raises on a value it cannot take), across a restart, and a rebuild that meets such an event."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csm.domain import commands as c
from csm.domain.department import Department
from csm.domain.feedback import Feedback
from csm.projections.failure import ProjectionFailed
from csm.projections.rebuild import ensure_read_models, rebuild
from csm.projections.registry import ALL
from csm.projections.runner import Runner
from csm.projections.store import head_position
from tests.read_model_checks import compare_with_rebuild
from tests.unstorable_events import record_as_a_bug_would, status_rows

# A time the projections cannot bucket: year 1 at +14:00 is in year 0 in UTC.
MARK, OUT_OF_RANGE = b"2001-01-01T00:00:00+14:00", b"0001-01-01T00:00:00+14:00"


def feedback(i: int, occurred_at: datetime) -> Feedback:
    return Feedback.submit(f"f-{i}", customer_id=None, channel="web", kind="praise",
                           department_id="d-1", category=None, rating=4, text=None,
                           severity=None, complaint_id=None, occurred_at=occurred_at,
                           now=datetime.now(UTC))


@pytest.fixture
def store(fresh_runtime):
    """Feedback, one of which a bug recorded at an instant out of range, then more."""
    rt = fresh_runtime
    now = datetime.now(UTC)
    rt.app.handle(c.RegisterDepartment(department_id="d-1", name="Sales",
                                       satisfaction_target=80.0, now=now))
    for i in range(3):
        rt.app.handle(c.SubmitFeedback(
            feedback_id=f"g-{i}", customer_id=None, channel="web", kind="praise",
            department_id="d-1", category=None, rating=5, text=None, severity=None,
            complaint_id=None, occurred_at=now, now=now))
    bad = record_as_a_bug_would(rt, feedback(0, datetime.fromisoformat(MARK.decode())),
                                (MARK, OUT_OF_RANGE))
    for i in range(3, 6):
        rt.app.handle(c.SubmitFeedback(
            feedback_id=f"g-{i}", customer_id=None, channel="web", kind="criticism",
            department_id="d-1", category=None, rating=2, text=None, severity=None,
            complaint_id=None, occurred_at=now, now=now))
    ensure_read_models(rt.pool, list(ALL.values()), rt.settings.zone)
    return rt, bad, head_position(rt.pool)


def test_a_projection_whose_code_raises_stops_there_and_a_restarted_runner_resumes_it(
        store, monkeypatch):
    rt, bad, head = store
    clock = [0.0]
    runner = Runner(rt.pool, list(ALL.values()), rt.settings.zone, isolate=True,
                    clock=lambda: clock[0])
    runner.catch_up()
    rows = status_rows(rt)
    # feedback and ledger both bucket feedback by day: both stop at the event before it.
    for name in ("feedback", "ledger"):
        assert (rows[name]["position"], rows[name]["failed_position"]) == (bad - 1, bad)
        assert rows[name]["failed_event_id"] == "f-0@1"
        assert "OverflowError" in rows[name]["failed_error"]
    for name in ("satisfaction", "complaints", "followups"):
        assert (rows[name]["position"], rows[name]["failed_position"]) == (head, None)
    assert runner.stopped["feedback"].retry_at == 1.0

    # Not due yet: nothing is tried. Due: tried again, failing again, later next time.
    runner.catch_up()
    assert runner.stopped["feedback"].attempts == 1
    clock[0] = 1.0
    runner.catch_up()
    assert runner.stopped["feedback"].attempts == 2 and runner.stopped["feedback"].retry_at == 3.0
    clock[0] = 1000.0
    for _ in range(6):
        runner.catch_up()
        clock[0] += 100
    assert runner.stopped["feedback"].attempts == 8
    assert clock[0] - runner.stopped["feedback"].retry_at == 100 - 30  # the backoff stops at 30 s
    assert status_rows(rt)["feedback"]["failures"] == 1

    # The cause gone (the bad event's time stays, the code now takes it): a new process,
    # told by the status row, tries at once and goes on to the head.
    for name in ("feedback", "ledger"):
        monkeypatch.setattr(ALL[name], "apply", skipping_year_one(ALL[name].apply))
    restarted = Runner(rt.pool, list(ALL.values()), rt.settings.zone, isolate=True)
    assert set(restarted.stopped) == {"feedback", "ledger"}
    restarted.catch_up()
    rows = status_rows(rt)
    assert all(rows[n]["position"] == head and rows[n]["failed_position"] is None for n in ALL)
    assert not restarted.stopped
    problems, counts, at = compare_with_rebuild(rt)
    assert at == head and not problems, "\n".join(problems)
    assert counts["feedback_facts"] == 2  # praise and criticism on one day


def skipping_year_one(apply):
    """The fixed code: feedback from before 1900 is not bucketed."""
    def skipping(ev, w):
        if ev.occurred_at.year >= 1900:
            apply(ev, w)
    return skipping


def assert_rebuild_fails_at_feedback(rt, projections, bad: int) -> None:
    """The rebuild raises ProjectionFailed naming feedback at the unstorable event, and leaves
    no build schema behind."""
    with pytest.raises(ProjectionFailed) as failed:
        rebuild(rt.pool, projections, rt.settings.zone)
    assert (failed.value.projection, failed.value.position, failed.value.event_id) == (
        "feedback", bad, "f-0@1")
    assert "OverflowError" in str(failed.value)
    with rt.pool.connection() as conn:
        left = conn.execute("SELECT count(*) AS n FROM pg_namespace WHERE nspname LIKE "
                            "'csm_build_%'").fetchone()["n"]
    assert left == 0


def test_a_rebuild_that_meets_an_event_a_projection_cannot_apply_fails_naming_it(
        store, monkeypatch):
    rt, bad, head = store
    live = Runner(rt.pool, list(ALL.values()), rt.settings.zone, isolate=True)
    live.catch_up()
    before = status_rows(rt)["complaints"]
    assert_rebuild_fails_at_feedback(rt, [ALL["feedback"]], bad)
    assert status_rows(rt)["feedback"]["position"] == bad - 1
    assert status_rows(rt)["complaints"] == before

    # With the code fixed, a rebuild goes past the event, and the failure is gone with it.
    monkeypatch.setattr(ALL["feedback"], "apply", skipping_year_one(ALL["feedback"].apply))
    assert rebuild(rt.pool, [ALL["feedback"]], rt.settings.zone) == head
    rows = status_rows(rt)
    assert (rows["feedback"]["position"], rows["feedback"]["failed_position"]) == (head, None)
    assert rows["ledger"]["failed_position"] == bad  # not rebuilt: still stopped there


def test_an_event_the_store_reader_cannot_decode_stops_only_the_projections_of_its_type(
        fresh_runtime):
    rt = fresh_runtime
    now = datetime.now(UTC)
    rt.app.handle(c.RegisterDepartment(department_id="d-1", name="Sales",
                                       satisfaction_target=80.0, now=now))
    bad = record_as_a_bug_would(rt, Department.register("d-2", "a-LONE-b", 80.0, now),
                                (b"-LONE-", b"\\ud800"))  # a lone surrogate: not JSON text
    for i in range(3):
        rt.app.handle(c.SubmitFeedback(
            feedback_id=f"g-{i}", customer_id=None, channel="web", kind="praise",
            department_id="d-1", category=None, rating=5, text=None, severity=None,
            complaint_id=None, occurred_at=now, now=now))
    ensure_read_models(rt.pool, list(ALL.values()), rt.settings.zone)
    head = head_position(rt.pool)
    Runner(rt.pool, list(ALL.values()), rt.settings.zone, isolate=True).catch_up()
    rows = status_rows(rt)
    assert (rows["ledger"]["position"], rows["ledger"]["failed_position"]) == (bad - 1, bad)
    assert rows["ledger"]["failed_error"] == ("UndecodableEvent: the stored event cannot be "
                                              "decoded")
    assert all((rows[n]["position"], rows[n]["failed_position"]) == (head, None)
               for n in ALL if n != "ledger")
