"""Ledger projection: Given events → Then one points line per scoring rule, to the owner then."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from csm.domain.department import Department
from csm.domain.feedback import Feedback
from csm.domain.policy import DEFAULT_RULES, Points, Policy
from csm.domain.revisit import Revisit
from csm.projections.ledger.projection import Ledger
from tests.unit.domain_builders import T0, at, open_complaint
from tests.unit.projection_harness import History, replay

P = Ledger()


def lines(h: History, **kw) -> list[tuple]:
    """(event type, rule, department, points, policy_version) per line, in log order."""
    types = {e.event_id: e.type for e in h.events}
    rows = sorted(replay(P, h.events, **kw)["department_score_ledger"], key=lambda r: r["position"])
    return [(types[r["event_id"]], r["rule"], r["department_id"], r["points"], r["policy_version"])
            for r in rows]


def rules_and_points(h: History, **kw) -> list[tuple[str, int]]:
    return [(rule, points) for _, rule, _, points, _ in lines(h, **kw)]


def feedback(feedback_id, kind, department_id="dept-1", rating=None, occurred_at=T0):
    return Feedback.submit(feedback_id, customer_id=None, channel="web", kind=kind,
                           department_id=department_id, category=None, rating=rating, text=None,
                           severity=None, complaint_id=None, occurred_at=occurred_at,
                           now=occurred_at)


def revisit(revisit_id, department_id="dept-1"):
    return Revisit.schedule(revisit_id, customer_id="cust-1", department_id=department_id,
                            reason="after_service", complaint_id=None, due_at=at(72),
                            cause_event_id=None, occurred_at=T0, now=T0)


# -- each rule with its default points ---------------------------------------------------------
def test_praise_earns_two_points():
    h = History()
    h.record(feedback("fb-1", "praise"))

    [line] = replay(P, h.events)["department_score_ledger"]

    assert line == {"event_id": "fb-1@1", "rule": "praise", "position": 1,
                    "department_id": "dept-1", "occurred_at": T0, "day": date(2024, 3, 4),
                    "points": 2, "policy_version": 0}


@pytest.mark.parametrize("kind", ["suggestion", "criticism", "inquiry", "complaint"])
def test_feedback_other_than_praise_earns_nothing_by_itself(kind):
    h = History()
    h.record(feedback("fb-1", kind))

    assert lines(h) == []


def test_praise_without_a_department_gives_no_line():
    h = History()
    h.record(feedback("fb-1", "praise", department_id=None))

    assert lines(h) == []


@pytest.mark.parametrize("severity, points", [("low", -1), ("medium", -2), ("high", -4),
                                               ("critical", -8)])
def test_a_received_complaint_costs_points_by_severity(severity, points):
    h = History()
    h.record(open_complaint(severity=severity))

    assert rules_and_points(h) == [(f"complaint_received_{severity}", points)]


def test_every_rule_of_the_contract_gives_its_default_points():
    h = History()
    h.record(feedback("fb-1", "praise"))
    c = open_complaint("c-1", severity="critical")  # ack due at(2), resolve due at(24)
    c.escalate("angry", at(1), at(1))
    c.acknowledge("li", at(3), at(3))  # late: acknowledge breach
    c.resolve("fixed", "li", at(4), at(4))  # on time
    c.close(True, 5, at(5), at(5))
    c.reopen("again", DEFAULT_RULES, 0, at(6), at(6))  # resolve due at(30)
    c.resolve("fixed again", "li", at(40), at(40))  # late: resolve breach, no on-time point
    c.close(False, 1, at(41), at(41))
    h.record(c)
    good, bad, meh = revisit("r-good"), revisit("r-bad"), revisit("r-meh")
    good.complete("reached", 5, None, at(1), at(1))
    bad.complete("reached", 1, None, at(1), at(1))
    meh.complete("reached", 3, None, at(1), at(1))
    h.record(good, bad, meh)

    assert rules_and_points(h) == [
        ("praise", 2), ("complaint_received_critical", -8), ("escalation", -3),
        ("sla_breach_acknowledge", -2), ("resolved_on_time", 1), ("closed_satisfied", 1),
        ("reopened", -2), ("sla_breach_resolve", -2), ("closed_dissatisfied", -1),
        ("revisit_satisfied", 1), ("revisit_dissatisfied", -1)]


def test_a_watcher_breach_and_its_escalation_each_cost_points_on_the_missed_due_day():
    h = History()
    c = open_complaint("c-1", severity="critical")
    c.acknowledge("li", at(1), at(1))
    for which, due in c.missed_deadlines(at(48), timedelta(seconds=300)):
        c.record_missed_deadline(which, due, at(48))
    h.record(c)

    rows = replay(P, h.events)["department_score_ledger"]

    assert sorted((r["rule"], r["points"], r["occurred_at"]) for r in rows) == [
        ("complaint_received_critical", -8, T0), ("escalation", -3, at(24)),
        ("sla_breach_resolve", -2, at(24))]


@pytest.mark.parametrize("satisfaction, rule", [(5, "revisit_satisfied"), (4, "revisit_satisfied"),
                                                (3, None), (2, "revisit_dissatisfied"),
                                                (1, "revisit_dissatisfied"), (None, None)])
def test_a_completed_revisit_scores_by_the_satisfaction_it_found(satisfaction, rule):
    h = History()
    r = revisit("r-1", department_id="dept-7")
    r.complete("reached", satisfaction, None, at(1), at(1))
    h.record(r)

    expected = [] if rule is None else [
        ("revisit.completed", rule, "dept-7", 1 if rule == "revisit_satisfied" else -1, 0)]
    assert lines(h) == expected


@pytest.mark.parametrize("satisfied, rule, points", [(True, "closed_satisfied", 1),
                                                     (False, "closed_dissatisfied", -1)])
def test_closing_scores_whether_the_customer_was_satisfied(satisfied, rule, points):
    h = History()
    c = open_complaint("c-1", severity="low")
    c.acknowledge("li", at(1), at(1))
    c.resolve("done", "li", at(2), at(2))
    c.close(satisfied, None, at(3), at(3))
    h.record(c)

    assert rules_and_points(h)[-1] == (rule, points)


def test_a_resolution_after_its_due_time_earns_no_on_time_point():
    h = History()
    c = open_complaint("c-1", severity="critical")  # resolve due at(24)
    c.acknowledge("li", at(1), at(1))
    c.resolve("done", "li", at(24), at(24))  # exactly on the due time: still on time
    h.record(c)
    late = open_complaint("c-2", severity="critical")
    late.acknowledge("li", at(1), at(1))
    late.resolve("done", "li", at(24, seconds=1), at(24, seconds=1))
    h.record(late)

    assert rules_and_points(h) == [
        ("complaint_received_critical", -8), ("resolved_on_time", 1),
        ("complaint_received_critical", -8), ("sla_breach_resolve", -2)]


# -- to whom ------------------------------------------------------------------------------------
def test_a_reassigned_complaints_later_points_go_to_the_new_department():
    h = History()
    c = open_complaint("c-1", severity="high", department_id="dept-1")  # resolve due at(72)
    c.acknowledge("li", at(1), at(1))
    c.escalate("angry", at(2), at(2))
    h.record(c)
    c.assign("dept-2", "zhao", at(3), at(3))
    c.escalate("angrier", at(4), at(4))
    c.resolve("done", "zhao", at(5), at(5))
    h.record(c)

    for batches in (None, 1):
        assert [(rule, department) for _, rule, department, _, _ in lines(h, batches=batches)] == [
            ("complaint_received_high", "dept-1"), ("escalation", "dept-1"),
            ("escalation", "dept-2"), ("resolved_on_time", "dept-2")]


# -- which policy ---------------------------------------------------------------------------------
def rules_with(**points) -> object:
    return DEFAULT_RULES.model_copy(update={"points": Points(**points)})


def test_a_policy_change_applies_only_to_events_recorded_after_it():
    h = History()
    h.record(open_complaint("c-before", severity="medium"))
    h.record(feedback("fb-before", "praise"))
    policy = Policy.publish_first(rules_with(praise=5, complaint_received={
        "low": -10, "medium": -20, "high": -40, "critical": -80}), "admin", T0)
    h.record(policy)
    h.record(open_complaint("c-after", severity="medium"))
    h.record(feedback("fb-after", "praise"))
    policy.publish(rules_with(praise=7), "admin", T0)
    h.record(policy)
    h.record(feedback("fb-last", "praise"))

    expected = [
        ("complaint.opened", "complaint_received_medium", "dept-1", -2, 0),
        ("feedback.submitted", "praise", "dept-1", 2, 0),
        ("complaint.opened", "complaint_received_medium", "dept-1", -20, 1),
        ("feedback.submitted", "praise", "dept-1", 5, 1),
        ("feedback.submitted", "praise", "dept-1", 7, 2)]
    for batches in (None, 1, 2, 3):
        assert lines(h, batches=batches) == expected


def test_the_policy_in_force_is_kept_in_state():
    h = History()
    h.record(Policy.publish_first(rules_with(escalation=-9), "admin", T0))

    result = replay(P, h.events)

    assert result.state["policy_version"] == 1
    assert result.state["points"]["escalation"] == -9
    assert result.state["points"]["praise"] == 2


def test_a_rule_worth_zero_points_writes_no_line():
    h = History()
    h.record(Policy.publish_first(rules_with(praise=0), "admin", T0))
    h.record(feedback("fb-1", "praise"))

    assert lines(h) == []


# -- when ---------------------------------------------------------------------------------------
def test_lines_are_bucketed_by_the_local_day_of_occurred_at():
    h = History()
    h.record(feedback("fb-1", "praise", occurred_at=datetime(2026, 3, 31, 20, 0, tzinfo=UTC)))

    [utc] = replay(P, h.events)["department_score_ledger"]
    [shanghai] = replay(P, h.events, zone=ZoneInfo("Asia/Shanghai"))["department_score_ledger"]

    assert (utc["day"], shanghai["day"]) == (date(2026, 3, 31), date(2026, 4, 1))


def test_a_registered_department_is_kept_with_its_target():
    h = History()
    h.record(Department.register("dept-1", "Billing", 85.0, T0))

    result = replay(P, h.events)

    assert result["departments"] == [
        {"department_id": "dept-1", "name": "Billing", "satisfaction_target": 85.0}]
    assert result["department_score_ledger"] == []
