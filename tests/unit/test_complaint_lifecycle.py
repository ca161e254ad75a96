"""Complaint lifecycle: each command's events, and every transition that is refused."""
from __future__ import annotations

import pytest

from csm.domain.errors import InvalidInput, InvalidTransition
from csm.domain.policy import DEFAULT_RULES
from tests.unit.domain_builders import (
    ACK_AT, T0, at, complaint_in, escalated_to, given, open_complaint, recorded, types_of,
)


# -- each command succeeding ------------------------------------------------------
def test_opening_a_complaint_records_what_was_received_and_its_due_times():
    c = open_complaint("c-7", severity="high", customer_id="cust-9", department_id="dept-2",
                       channel="hotline", category="delivery", description="Parcel lost",
                       feedback_id="fb-3", policy_version=4, occurred_at=T0, now=at(1))

    [opened] = recorded(c)
    assert type(opened).TYPE == "complaint.opened"
    assert opened.originator_id == "c-7" and opened.originator_version == 1
    assert opened.timestamp == at(1) and opened.occurred_at == T0
    assert (opened.complaint_id, opened.customer_id, opened.department_id) == ("c-7", "cust-9", "dept-2")
    assert (opened.channel, opened.category, opened.severity) == ("hotline", "delivery", "high")
    assert (opened.description, opened.feedback_id, opened.policy_version) == ("Parcel lost", "fb-3", 4)
    assert opened.high_value is False
    assert (opened.acknowledge_due, opened.resolve_due) == (at(8), at(72))
    assert (c.status, c.level, c.handler, c.reopen_count) == ("open", 0, None, 0)


def test_acknowledging_an_open_complaint_records_who_acknowledged_it():
    c = complaint_in("open", department_id="dept-1")

    c.acknowledge("li.na", at(1), at(1, minutes=1))

    [ack] = recorded(c)
    assert type(ack).TYPE == "complaint.acknowledged"
    assert (ack.by, ack.department_id, ack.occurred_at, ack.timestamp) == (
        "li.na", "dept-1", at(1), at(1, minutes=1))
    assert c.status == "acknowledged"


@pytest.mark.parametrize("status", ["open", "acknowledged", "reopened"])
def test_assigning_an_active_complaint_moves_it_to_the_new_department_and_handler(status):
    c = complaint_in(status, department_id="dept-1")

    c.assign("dept-2", "zhao", at(5), at(5))

    [assigned] = recorded(c)
    assert type(assigned).TYPE == "complaint.assigned"
    assert (assigned.department_id, assigned.previous_department_id, assigned.handler) == (
        "dept-2", "dept-1", "zhao")
    assert (c.department_id, c.handler, c.status) == ("dept-2", "zhao", status)


def test_events_after_an_assignment_belong_to_the_new_department():
    c = complaint_in("acknowledged", department_id="dept-1")
    c.assign("dept-2", "zhao", at(1), at(1))
    given(c)

    c.resolve("Replaced", "zhao", at(2), at(2))

    assert [e.department_id for e in recorded(c)] == ["dept-2"]


@pytest.mark.parametrize("status", ["open", "acknowledged", "reopened"])
def test_escalating_an_active_complaint_raises_its_level_by_one(status):
    c = complaint_in(status)

    c.escalate("customer called twice", at(5), at(5))

    [escalated] = recorded(c)
    assert type(escalated).TYPE == "complaint.escalated"
    assert (escalated.level, escalated.reason, escalated.cause_event_id) == (
        1, "customer called twice", None)
    assert escalated.department_id == "dept-1" and escalated.occurred_at == at(5)
    assert c.level == 1


def test_manual_escalations_record_levels_one_two_and_three():
    c = complaint_in("acknowledged")

    for _ in range(3):
        c.escalate("no answer", at(1), at(1))

    events = recorded(c)
    assert types_of(events) == ["complaint.escalated"] * 3
    assert [e.level for e in events] == [1, 2, 3]
    assert c.level == 3


def test_a_manual_escalation_at_level_three_is_refused():
    c = escalated_to(complaint_in("acknowledged"), 3)

    with pytest.raises(InvalidTransition, match="already at the highest escalation level"):
        c.escalate("still no answer", at(2), at(2))
    assert recorded(c) == [] and c.level == 3


@pytest.mark.parametrize("status", ["acknowledged", "reopened"])
def test_resolving_an_acknowledged_or_reopened_complaint_records_the_resolution(status):
    c = complaint_in(status)

    c.resolve("Refund sent", "li.na", at(6), at(6))

    [resolved] = recorded(c)
    assert type(resolved).TYPE == "complaint.resolved"
    assert (resolved.resolution, resolved.by, resolved.department_id) == ("Refund sent", "li.na", "dept-1")
    assert resolved.resolve_due == c.resolve_due and resolved.on_time is True
    assert c.status == "resolved"


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_reopening_a_resolved_or_closed_complaint_records_the_reason_and_a_new_due_time(status):
    c = complaint_in(status, customer_id="cust-5", severity="medium")

    c.reopen("Still broken", DEFAULT_RULES, 3, at(10), at(10))

    [reopened] = recorded(c)
    assert type(reopened).TYPE == "complaint.reopened"
    assert (reopened.reason, reopened.customer_id, reopened.department_id) == (
        "Still broken", "cust-5", "dept-1")
    assert reopened.resolve_due == at(10 + 168) and reopened.policy_version == 3
    assert (c.status, c.reopen_count, c.resolve_due) == ("reopened", 1, at(178))


def test_closing_a_resolved_complaint_records_the_customers_satisfaction():
    c = complaint_in("resolved")

    c.close(False, 2, at(7), at(7))

    [closed] = recorded(c)
    assert type(closed).TYPE == "complaint.closed"
    assert (closed.customer_satisfied, closed.satisfaction, closed.department_id) == (False, 2, "dept-1")
    assert c.status == "closed"


def test_a_complaint_may_be_reopened_and_resolved_again_and_then_closed():
    c = complaint_in("closed")

    c.reopen("Leaks again", DEFAULT_RULES, 1, at(10), at(10))
    c.resolve("Repaired on site", "zhao", at(11), at(11))
    c.close(True, 4, at(12), at(12))

    assert types_of(recorded(c)) == ["complaint.reopened", "complaint.resolved", "complaint.closed"]
    assert (c.status, c.reopen_count) == ("closed", 1)


# -- refused transitions ----------------------------------------------------------
@pytest.mark.parametrize("status", ["acknowledged", "resolved", "closed", "reopened"])
def test_acknowledging_a_complaint_that_is_not_open_is_refused(status):
    c = complaint_in(status)

    with pytest.raises(InvalidTransition, match=f"is {status}; only an open complaint can be acknowledged"):
        c.acknowledge("li.na", at(20), at(20))
    assert recorded(c) == [] and c.status == status


def test_resolving_an_open_complaint_is_refused_with_a_hint_to_acknowledge_it_first():
    c = complaint_in("open")

    with pytest.raises(InvalidTransition, match=r"is open; .* can be resolved \(acknowledge it first\)"):
        c.resolve("Refund", None, at(1), at(1))
    assert recorded(c) == []


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_resolving_a_resolved_or_closed_complaint_is_refused(status):
    c = complaint_in(status)

    with pytest.raises(InvalidTransition,
                       match=f"is {status}; only an acknowledged, reopened or awaiting_customer complaint can be resolved$"):
        c.resolve("Refund", None, at(20), at(20))
    assert recorded(c) == [] and c.status == status


@pytest.mark.parametrize("status", ["open", "acknowledged", "reopened", "closed"])
def test_closing_a_complaint_that_is_not_resolved_is_refused(status):
    c = complaint_in(status)

    with pytest.raises(InvalidTransition, match=f"is {status}; only a resolved complaint can be closed"):
        c.close(True, 5, at(20), at(20))
    assert recorded(c) == [] and c.status == status


@pytest.mark.parametrize("status", ["open", "acknowledged", "reopened"])
def test_reopening_a_complaint_that_is_neither_resolved_nor_closed_is_refused(status):
    c = complaint_in(status)

    with pytest.raises(InvalidTransition,
                       match=f"is {status}; only a resolved or closed complaint can be reopened"):
        c.reopen("Again", DEFAULT_RULES, 1, at(20), at(20))
    assert recorded(c) == [] and c.status == status


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_assigning_a_resolved_or_closed_complaint_is_refused(status):
    c = complaint_in(status)

    with pytest.raises(InvalidTransition, match=f"is {status}; it can no longer be assigned"):
        c.assign("dept-2", "zhao", at(20), at(20))
    assert recorded(c) == [] and c.department_id == "dept-1"


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_escalating_a_resolved_or_closed_complaint_is_refused(status):
    c = complaint_in(status)

    with pytest.raises(InvalidTransition, match=f"is {status}; it can no longer be escalated"):
        c.escalate("angry", at(20), at(20))
    assert recorded(c) == [] and c.level == 0


# -- business time may not precede the opening --------------------------------------
BEFORE_OPENING = at(-1)

COMMANDS_BEFORE_OPENING = {
    "acknowledge": ("open", lambda c: c.acknowledge("li.na", BEFORE_OPENING, T0)),
    "assign": ("open", lambda c: c.assign("dept-2", "zhao", BEFORE_OPENING, T0)),
    "escalate": ("open", lambda c: c.escalate("angry", BEFORE_OPENING, T0)),
    "resolve": ("acknowledged", lambda c: c.resolve("Refund", None, BEFORE_OPENING, T0)),
    "reopen": ("resolved", lambda c: c.reopen("Again", DEFAULT_RULES, 1, BEFORE_OPENING, T0)),
    "close": ("resolved", lambda c: c.close(True, 5, BEFORE_OPENING, T0)),
}


@pytest.mark.parametrize("command", sorted(COMMANDS_BEFORE_OPENING))
def test_a_command_that_occurred_before_the_complaint_was_opened_is_invalid_input(command):
    status, when = COMMANDS_BEFORE_OPENING[command]
    c = complaint_in(status)

    with pytest.raises(InvalidInput, match="lies before complaint 'c-1' was opened"):
        when(c)
    assert recorded(c) == [] and c.status == status


def test_a_command_at_the_very_moment_of_opening_is_accepted():
    c = complaint_in("open")

    c.acknowledge("li.na", T0, T0)

    assert types_of(recorded(c)) == ["complaint.acknowledged"]


def test_escalation_levels_survive_a_resolve_and_reopen():
    c = escalated_to(complaint_in("acknowledged"), 2, ACK_AT)
    c.resolve("Refund", None, at(2), at(2))
    c.reopen("Again", DEFAULT_RULES, 1, at(3), at(3))
    given(c)

    c.escalate("third time", at(4), at(4))

    [escalated] = recorded(c)
    assert escalated.level == 3
