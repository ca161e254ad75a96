"""Feedback projection: Given submitted feedback → Then daily counts per channel, kind, department."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from csm.domain.feedback import Feedback
from csm.projections.feedback import FeedbackFacts
from tests.unit.projection_harness import History, replay

P = FeedbackFacts()
NOON = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def feedback(feedback_id, kind="praise", channel="web", department_id="dept-1", rating=None,
             occurred_at=NOON, complaint_id=None):
    return Feedback.submit(feedback_id, customer_id="cust-1", channel=channel, kind=kind,
                           department_id=department_id, category=None, rating=rating,
                           text="text", severity=None, complaint_id=complaint_id,
                           occurred_at=occurred_at, now=occurred_at)


def facts(h: History, **kw) -> list[tuple]:
    return [(r["day"], r["channel"], r["kind"], r["department_id"], r["count"], r["rating_n"],
             r["rating_sum"]) for r in replay(P, h.events, **kw)["feedback_facts"]]


def test_feedback_is_counted_per_channel_kind_and_department():
    h = History()
    h.record(feedback("f-1", "praise", "web", "dept-1", rating=5))
    h.record(feedback("f-2", "praise", "web", "dept-1", rating=4))
    h.record(feedback("f-3", "praise", "app", "dept-1"))
    h.record(feedback("f-4", "criticism", "web", "dept-1", rating=1))
    h.record(feedback("f-5", "criticism", "web", "dept-2", rating=2))
    h.record(feedback("f-6", "inquiry", "web", None))
    h.record(feedback("f-7", "complaint", "hotline", "dept-2", complaint_id="f-7:complaint"))
    h.record(feedback("f-8", "suggestion", "web", "dept-2", rating=3))

    d = date(2026, 3, 31)
    expected = sorted([
        (d, "app", "praise", "dept-1", 1, 0, 0),
        (d, "hotline", "complaint", "dept-2", 1, 0, 0),
        (d, "web", "criticism", "dept-1", 1, 1, 1),
        (d, "web", "criticism", "dept-2", 1, 1, 2),
        (d, "web", "inquiry", None, 1, 0, 0),
        (d, "web", "praise", "dept-1", 2, 2, 9),
        (d, "web", "suggestion", "dept-2", 1, 1, 3)], key=lambda t: (t[1], t[2], t[3] or ""))
    for batches in (None, 1, 3):
        got = sorted(facts(h, batches=batches), key=lambda t: (t[1], t[2], t[3] or ""))
        assert got == expected


def test_ratings_are_summed_only_over_feedback_that_has_one():
    h = History()
    for i, rating in enumerate([5, None, 3, None, 1]):
        h.record(feedback(f"f-{i}", rating=rating))

    [(_, _, _, _, count, rating_n, rating_sum)] = facts(h)

    assert (count, rating_n, rating_sum) == (5, 3, 9)
    assert rating_sum / rating_n == 3.0


def test_feedback_is_bucketed_by_the_local_day_of_occurred_at():
    h = History()
    h.record(feedback("f-1", occurred_at=datetime(2026, 3, 31, 15, 59, tzinfo=UTC)))
    h.record(feedback("f-2", occurred_at=datetime(2026, 3, 31, 16, 0, tzinfo=UTC)))

    assert [(r[0], r[4]) for r in facts(h)] == [(date(2026, 3, 31), 2)]
    assert [(r[0], r[4]) for r in facts(h, zone=ZoneInfo("Asia/Shanghai"))] == [
        (date(2026, 3, 31), 1), (date(2026, 4, 1), 1)]


def test_counts_add_up_across_batches():
    h = History()
    for i in range(7):
        h.record(feedback(f"f-{i}", rating=i % 5 + 1))

    assert facts(h, batches=[2, 1, 4]) == facts(h) == [
        (date(2026, 3, 31), "web", "praise", "dept-1", 7, 7, 1 + 2 + 3 + 4 + 5 + 1 + 2)]
