"""SLA of complaints: due times, breaches by command and watcher, escalation."""
from __future__ import annotations

from datetime import timedelta

import pytest

from csm.domain.base import event_id
from csm.domain.policy import DEFAULT_RULES, PolicyRules
from tests.unit.domain_builders import (
    T0, at, complaint_in, escalated_to, given, open_complaint, recorded, types_of,
)

GRACE = timedelta(seconds=300)

DEFAULT_HOURS = [
    ("low", 48, 336),
    ("medium", 24, 168),
    ("high", 8, 72),
    ("critical", 2, 24),
]


def with_hours(acknowledge: float, resolve: float, **more) -> PolicyRules:
    """Rules with the same SLA hours for every severity."""
    return PolicyRules(sla_hours={s: {"acknowledge": acknowledge, "resolve": resolve}
                                  for s in ("low", "medium", "high", "critical")}, **more)


# -- due times ------------------------------------------------------------------
@pytest.mark.parametrize(("severity", "ack_hours", "resolve_hours"), DEFAULT_HOURS)
def test_due_times_follow_the_default_policy_from_the_time_the_complaint_occurred(
        severity, ack_hours, resolve_hours):
    c = open_complaint(severity=severity, occurred_at=T0, now=at(30))

    [opened] = recorded(c)
    assert opened.acknowledge_due == at(ack_hours)
    assert opened.resolve_due == at(resolve_hours)


@pytest.mark.parametrize(("severity", "ack_hours", "resolve_hours"), DEFAULT_HOURS)
def test_due_times_are_halved_for_high_value_customers(severity, ack_hours, resolve_hours):
    c = open_complaint(severity=severity, high_value=True)

    [opened] = recorded(c)
    assert opened.high_value is True
    assert opened.acknowledge_due == at(ack_hours / 2)
    assert opened.resolve_due == at(resolve_hours / 2)


def test_a_custom_policy_changes_the_due_times():
    rules = PolicyRules(sla_hours={
        "low": {"acknowledge": 10, "resolve": 100},
        "medium": {"acknowledge": 4, "resolve": 40},
        "high": {"acknowledge": 2, "resolve": 20},
        "critical": {"acknowledge": 1, "resolve": 6},
    }, high_value_factor=0.25)

    standard = open_complaint("c-std", severity="medium", rules=rules, policy_version=2)
    valued = open_complaint("c-hv", severity="medium", high_value=True, rules=rules, policy_version=2)

    [std] = recorded(standard)
    [hv] = recorded(valued)
    assert (std.acknowledge_due, std.resolve_due) == (at(4), at(40))
    assert (hv.acknowledge_due, hv.resolve_due) == (at(1), at(10))
    assert std.policy_version == hv.policy_version == 2


# -- breaches recorded by the command ------------------------------------------------
def test_a_late_acknowledge_records_the_breach_just_before_the_acknowledgement():
    c = given(open_complaint(severity="high"))  # acknowledge due at T0 + 8 h

    c.acknowledge("li.na", at(9), at(9, minutes=1))

    events = recorded(c)
    assert types_of(events) == ["complaint.sla_breached", "complaint.acknowledged"]
    breach, ack = events
    assert (breach.which, breach.due, breach.occurred_at) == ("acknowledge", at(8), at(8))
    assert breach.detected_by == "command" and breach.department_id == "dept-1"
    assert breach.timestamp == at(9, minutes=1)
    assert ack.occurred_at == at(9)
    assert breach.originator_version + 1 == ack.originator_version


def test_an_acknowledge_on_time_records_no_breach():
    c = given(open_complaint(severity="high"))

    c.acknowledge("li.na", at(7), at(7))

    assert types_of(recorded(c)) == ["complaint.acknowledged"]


def test_an_acknowledge_exactly_at_the_due_time_is_on_time():
    c = given(open_complaint(severity="high"))

    c.acknowledge("li.na", at(8), at(8))

    assert types_of(recorded(c)) == ["complaint.acknowledged"]


def test_a_late_acknowledge_recorded_long_after_still_breaches_by_its_business_time():
    c = given(open_complaint(severity="critical", occurred_at=T0, now=at(100)))

    c.acknowledge("li.na", at(3), at(100))

    [breach, _] = recorded(c)
    assert (breach.which, breach.due) == ("acknowledge", at(2))


def test_a_late_resolve_records_the_breach_before_a_resolution_that_is_not_on_time():
    c = complaint_in("acknowledged", severity="critical")  # resolve due at T0 + 24 h

    c.resolve("Refund", "li.na", at(30), at(30))

    events = recorded(c)
    assert types_of(events) == ["complaint.sla_breached", "complaint.resolved"]
    breach, resolved = events
    assert (breach.which, breach.due, breach.occurred_at) == ("resolve", at(24), at(24))
    assert breach.detected_by == "command"
    assert (resolved.on_time, resolved.resolve_due) == (False, at(24))


def test_a_resolve_exactly_at_the_due_time_is_on_time():
    c = complaint_in("acknowledged", severity="critical")

    c.resolve("Refund", "li.na", at(24), at(24))

    [resolved] = recorded(c)
    assert type(resolved).TYPE == "complaint.resolved"
    assert resolved.on_time is True


def test_a_late_resolve_of_a_high_value_complaint_breaches_against_the_halved_due():
    c = complaint_in("acknowledged", severity="critical", high_value=True)  # due T0 + 12 h

    c.resolve("Refund", None, at(13), at(13))

    breach, resolved = recorded(c)
    assert breach.due == at(12) and resolved.on_time is False


# -- reopen: a new resolve due -------------------------------------------------------
def test_a_reopen_counts_a_new_resolve_due_from_its_own_time_with_the_policy_passed_to_it():
    c = complaint_in("resolved", severity="medium")

    c.reopen("Still broken", with_hours(1, 10), 2, at(100), at(100, minutes=5))

    [reopened] = recorded(c)
    assert reopened.resolve_due == at(110)
    assert reopened.policy_version == 2
    assert c.resolve_due == at(110)


def test_a_reopen_of_a_high_value_complaint_keeps_the_high_value_factor_of_the_policy():
    c = complaint_in("resolved", severity="medium", high_value=True)

    c.reopen("Still broken", with_hours(1, 10, high_value_factor=0.25), 2, at(100), at(100))

    [reopened] = recorded(c)
    assert reopened.resolve_due == at(102.5)


def test_a_late_second_resolve_breaches_against_the_new_due_time():
    c = complaint_in("resolved", severity="medium")  # first resolve due T0 + 168 h, met
    c.reopen("Still broken", with_hours(1, 10), 2, at(100), at(100))
    given(c)

    c.resolve("Replaced", None, at(111), at(111))

    breach, resolved = recorded(c)
    assert (breach.which, breach.due, breach.occurred_at) == ("resolve", at(110), at(110))
    assert (resolved.resolve_due, resolved.on_time) == (at(110), False)


def test_a_second_resolve_after_the_old_due_but_before_the_new_one_is_on_time():
    c = complaint_in("resolved", severity="medium")
    c.reopen("Still broken", DEFAULT_RULES, 1, at(100), at(100))  # new due T0 + 268 h
    given(c)

    c.resolve("Replaced", None, at(200), at(200))

    [resolved] = recorded(c)
    assert (resolved.resolve_due, resolved.on_time) == (at(268), True)


def test_each_due_time_may_be_breached_once_so_a_late_reopened_resolve_breaches_again():
    c = complaint_in("acknowledged", severity="critical")
    c.resolve("Refund", None, at(30), at(30))  # breaches the due at T0 + 24 h
    c.reopen("Again", DEFAULT_RULES, 1, at(31), at(31))  # new due T0 + 55 h
    given(c)

    c.resolve("Refund again", None, at(60), at(60))

    breach, _ = recorded(c)
    assert (breach.which, breach.due) == ("resolve", at(55))


# -- the deadline watcher --------------------------------------------------------
def test_a_breach_recorded_by_the_watcher_is_not_recorded_again_by_a_late_resolve():
    c = complaint_in("acknowledged", severity="critical")
    c.record_missed_deadline("resolve", at(24), at(25))
    given(c)

    c.resolve("Refund", None, at(30), at(30))

    [resolved] = recorded(c)
    assert type(resolved).TYPE == "complaint.resolved"
    assert resolved.on_time is False


def test_a_breach_recorded_by_the_watcher_is_not_recorded_again_by_a_late_acknowledge():
    c = given(open_complaint(severity="critical"))
    c.record_missed_deadline("acknowledge", at(2), at(3))
    given(c)

    c.acknowledge("li.na", at(4), at(4))

    assert types_of(recorded(c)) == ["complaint.acknowledged"]


def test_the_watcher_records_a_missed_deadline_only_once():
    c = given(open_complaint(severity="critical"))
    c.record_missed_deadline("acknowledge", at(2), at(3))
    given(c)

    c.record_missed_deadline("acknowledge", at(2), at(4))

    assert recorded(c) == []


def test_the_watchers_acknowledge_breach_is_dated_at_the_due_time_and_does_not_escalate():
    c = given(open_complaint(severity="critical"))

    c.record_missed_deadline("acknowledge", at(2), at(3))

    [breach] = recorded(c)
    assert type(breach).TYPE == "complaint.sla_breached"
    assert (breach.which, breach.due, breach.occurred_at, breach.timestamp) == (
        "acknowledge", at(2), at(2), at(3))
    assert breach.detected_by == "watcher"
    assert c.level == 0


def test_the_watchers_resolve_breach_also_escalates_one_level_caused_by_the_breach():
    c = escalated_to(complaint_in("acknowledged", severity="critical"), 1)

    c.record_missed_deadline("resolve", at(24), at(25))

    events = recorded(c)
    assert types_of(events) == ["complaint.sla_breached", "complaint.escalated"]
    breach, escalated = events
    assert (breach.which, breach.due, breach.occurred_at) == ("resolve", at(24), at(24))
    assert breach.detected_by == "watcher"
    assert (escalated.reason, escalated.level, escalated.occurred_at) == ("sla_breach", 2, at(24))
    assert escalated.timestamp == at(25)
    assert escalated.cause_event_id == event_id("c-1", breach.originator_version)
    assert escalated.cause_event_id == f"c-1@{breach.originator_version}"
    assert c.level == 2


def test_the_watchers_resolve_breach_at_level_three_does_not_escalate():
    c = escalated_to(complaint_in("acknowledged", severity="critical"), 3)

    c.record_missed_deadline("resolve", at(24), at(25))

    assert types_of(recorded(c)) == ["complaint.sla_breached"]
    assert c.level == 3


# -- which deadlines the watcher finds -----------------------------------------------
def test_no_deadline_is_missed_before_the_due_times():
    c = given(open_complaint(severity="critical"))

    assert c.missed_deadlines(at(1), GRACE) == []


def test_an_open_complaint_past_both_due_times_has_missed_acknowledge_and_resolve():
    c = given(open_complaint(severity="critical"))  # due T0 + 2 h and T0 + 24 h

    assert c.missed_deadlines(at(3), GRACE) == [("acknowledge", at(2))]
    assert c.missed_deadlines(at(25), GRACE) == [("acknowledge", at(2)), ("resolve", at(24))]


def test_nothing_is_missed_inside_the_grace_after_the_complaint_was_recorded():
    # Backfilled: it occurred three days ago but is recorded only now.
    recorded_at = at(72)
    c = given(open_complaint(severity="critical", occurred_at=T0, now=recorded_at))

    assert c.missed_deadlines(recorded_at + timedelta(seconds=299), GRACE) == []
    assert c.missed_deadlines(recorded_at + GRACE, GRACE) == []
    assert c.missed_deadlines(recorded_at + timedelta(seconds=301), GRACE) == [
        ("acknowledge", at(2)), ("resolve", at(24))]


def test_an_acknowledged_complaint_can_only_miss_its_resolve_due():
    c = complaint_in("acknowledged", severity="critical")

    assert c.missed_deadlines(at(25), GRACE) == [("resolve", at(24))]


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_finished_complaint_misses_no_deadline(status):
    c = complaint_in(status, severity="critical")

    assert c.missed_deadlines(at(1000), GRACE) == []


def test_deadlines_already_breached_are_not_missed_again():
    c = given(open_complaint(severity="critical"))
    c.record_missed_deadline("acknowledge", at(2), at(30))
    c.record_missed_deadline("resolve", at(24), at(30))

    assert c.missed_deadlines(at(31), GRACE) == []


def test_an_acknowledge_breach_recorded_by_the_command_leaves_only_the_resolve_to_miss():
    c = given(open_complaint(severity="critical"))
    c.acknowledge("li.na", at(3), at(3))

    assert c.missed_deadlines(at(25), GRACE) == [("resolve", at(24))]


def test_after_a_reopen_the_grace_and_the_due_time_count_from_the_reopen():
    c = complaint_in("resolved", severity="critical")
    # Reopen backfilled: it occurred at T0 + 10 h and is recorded at T0 + 50 h.
    c.reopen("Again", DEFAULT_RULES, 1, at(10), at(50))  # new due T0 + 34 h

    assert c.missed_deadlines(at(50, seconds=200), GRACE) == []
    assert c.missed_deadlines(at(50, seconds=400), GRACE) == [("resolve", at(34))]


def test_a_reopened_complaint_whose_first_due_was_breached_misses_its_new_due():
    c = complaint_in("acknowledged", severity="critical")
    c.record_missed_deadline("resolve", at(24), at(25))
    c.resolve("Refund", None, at(26), at(26))
    c.reopen("Again", DEFAULT_RULES, 1, at(27), at(27))  # new due T0 + 51 h

    assert c.missed_deadlines(at(52), GRACE) == [("resolve", at(51))]
