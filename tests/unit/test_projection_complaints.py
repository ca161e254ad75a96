"""Complaints projection: Given a complaint's events → Then its one row, after every step."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from csm.domain.complaint import Complaint
from csm.domain.policy import DEFAULT_RULES
from csm.projections.complaints.projection import Complaints
from tests.unit.domain_builders import T0, at, open_complaint
from tests.unit.projection_harness import History, replay

P = Complaints()


def row_of(h: History, batches=None, zone=ZoneInfo("UTC")) -> dict:
    [row] = replay(P, h.events, zone=zone, batches=batches)["complaints"]
    return row


def opened(h: History, **kw) -> Complaint:
    c = open_complaint(**kw)
    h.record(c)
    return c


def test_an_opened_complaint_is_an_open_row_with_its_due_times():
    h = History()
    opened(h, complaint_id="c-1", severity="high", customer_id="cust-1", department_id="dept-1",
           channel="hotline", category="delivery", policy_version=3, feedback_id="fb-1")

    assert row_of(h) == {
        "complaint_id": "c-1", "department_id": "dept-1", "opened_department_id": "dept-1",
        "handler": None, "customer_id": "cust-1", "channel": "hotline", "category": "delivery",
        "severity": "high", "high_value": False, "status": "open", "escalation_level": 0,
        "opened_at": T0, "opened_day": date(2024, 3, 4), "acknowledge_due": at(8),
        "resolve_due": at(72), "acknowledged_at": None, "first_resolved_at": None,
        "first_resolve_due": None, "resolved_within_sla": None, "resolutions": 0, "reopened": 0,
        "escalations": 0, "breaches": 0, "acknowledge_breached": False,
        "resolve_breached_due": None, "closed_at": None, "customer_satisfied": None,
        "satisfaction": None, "feedback_id": "fb-1", "policy_version": 3,
        "awaiting_since": None, "waits": 0, "waited_hours": 0.0, "last_position": 1}


def test_a_high_value_customers_complaint_has_halved_due_times():
    h = History()
    opened(h, severity="critical", high_value=True)

    row = row_of(h)
    assert (row["high_value"], row["acknowledge_due"], row["resolve_due"]) == (True, at(1), at(12))


def test_the_opened_day_is_the_local_day_of_the_zone():
    h = History()
    opened(h, occurred_at=T0.replace(hour=17))  # 01:00 the next day in Shanghai

    assert row_of(h, zone=ZoneInfo("Asia/Shanghai"))["opened_day"] == date(2024, 3, 5)
    assert row_of(h)["opened_day"] == date(2024, 3, 4)


@pytest.mark.parametrize("batches", [None, 1, 2], ids=["one batch", "event by event", "pairs"])
def test_the_row_follows_every_lifecycle_step(batches):
    h = History()
    c = opened(h, severity="medium", department_id="dept-1")  # ack due at(24), resolve due at(168)

    c.acknowledge("li", at(1), at(1))
    h.record(c)
    row = row_of(h, batches)
    assert (row["status"], row["acknowledged_at"], row["last_position"]) == ("acknowledged", at(1), 2)

    c.assign("dept-2", "zhao", at(2), at(2))
    h.record(c)
    row = row_of(h, batches)
    assert (row["department_id"], row["opened_department_id"], row["handler"], row["status"]) == (
        "dept-2", "dept-1", "zhao", "acknowledged")

    c.escalate("angry", at(3), at(3))
    h.record(c)
    row = row_of(h, batches)
    assert (row["escalation_level"], row["escalations"], row["breaches"]) == (1, 1, 0)

    c.resolve("refunded", "zhao", at(4), at(4))
    h.record(c)
    row = row_of(h, batches)
    assert (row["status"], row["resolutions"], row["first_resolved_at"], row["first_resolve_due"],
            row["resolved_within_sla"]) == ("resolved", 1, at(4), at(168), True)

    c.close(True, 5, at(5), at(5))
    h.record(c)
    row = row_of(h, batches)
    assert (row["status"], row["closed_at"], row["customer_satisfied"], row["satisfaction"]) == (
        "closed", at(5), True, 5)
    assert row["last_position"] == 6


def test_a_reopen_sets_the_new_resolve_due_from_its_own_time():
    h = History()
    c = opened(h, severity="high")  # resolve within 72 h
    c.acknowledge("li", at(1), at(1))
    c.resolve("fixed", "li", at(2), at(2))
    c.close(False, 2, at(3), at(3))
    c.reopen("not fixed", DEFAULT_RULES, 0, at(100), at(100))
    h.record(c)

    row = row_of(h)

    assert (row["status"], row["reopened"], row["resolve_due"]) == ("reopened", 1, at(100 + 72))
    assert row["first_resolve_due"] == at(72)
    assert row["acknowledge_due"] == at(8)


def test_a_second_resolution_keeps_the_first_resolutions_figures():
    h = History()
    c = opened(h, severity="high")  # resolve due at(72)
    c.acknowledge("li", at(1), at(1))
    c.resolve("fixed", "li", at(2), at(2))
    h.record(c)
    c.reopen("not fixed", DEFAULT_RULES, 0, at(10), at(10))  # new resolve due at(82)
    c.resolve("fixed again", "li", at(90), at(90))  # late: breach, then resolution
    h.record(c)

    for batches in (None, 1, 3):
        row = row_of(h, batches)
        assert (row["first_resolved_at"], row["first_resolve_due"], row["resolved_within_sla"]) == (
            at(2), at(72), True)
        assert (row["resolutions"], row["reopened"], row["breaches"], row["status"]) == (
            2, 1, 1, "resolved")
        assert row["resolve_due"] == at(82)


def test_a_late_first_resolution_is_not_within_the_sla():
    h = History()
    c = opened(h, severity="critical")  # ack due at(2), resolve due at(24)
    c.acknowledge("li", at(1), at(1))
    c.resolve("fixed", "li", at(30), at(30))
    h.record(c)

    row = row_of(h)

    assert (row["resolved_within_sla"], row["first_resolve_due"], row["breaches"]) == (
        False, at(24), 1)


def test_escalations_and_breaches_are_counted_whoever_records_them():
    h = History()
    c = opened(h, severity="critical")  # ack due at(2), resolve due at(24)
    c.escalate("loud", at(1), at(1))
    c.acknowledge("li", at(3), at(3))  # late: breach (acknowledge) by the command
    h.record(c)
    for which, due in c.missed_deadlines(at(30), timedelta(seconds=300)):
        c.record_missed_deadline(which, due, at(30))  # watcher: resolve breach + escalation
    h.record(c)
    c.escalate("still loud", at(31), at(31))
    h.record(c)

    types = [e.type for e in h.events]
    assert types.count("complaint.sla_breached") == 2
    assert types.count("complaint.escalated") == 3
    for batches in (None, 1):
        row = row_of(h, batches)
        assert (row["breaches"], row["escalations"], row["escalation_level"]) == (2, 3, 3)
        assert row["status"] == "acknowledged"


def test_an_event_for_a_complaint_never_opened_changes_nothing():
    h = History()
    c = open_complaint("c-9")
    c.collect_events()  # its opening is not in the log
    c.acknowledge("li", at(1), at(1))
    h.record(c)

    assert replay(P, h.events)["complaints"] == []


def test_complaints_are_one_row_each():
    h = History()
    a = opened(h, complaint_id="c-a", department_id="dept-1")
    b = opened(h, complaint_id="c-b", department_id="dept-2", severity="low")
    a.acknowledge("li", at(1), at(1))
    h.record(a)
    b.acknowledge("wu", at(1), at(1))
    b.assign("dept-3", "wu", at(2), at(2))
    h.record(b)

    rows = replay(P, h.events, batches=2)["complaints"]

    assert [(r["complaint_id"], r["department_id"], r["status"], r["last_position"]) for r in rows] == [
        ("c-a", "dept-1", "acknowledged", 3), ("c-b", "dept-3", "acknowledged", 5)]
