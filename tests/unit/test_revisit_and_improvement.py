"""Revisits (completed once) and improvement actions (raised → completed → verified)."""
from __future__ import annotations

import pytest

from csm.domain.errors import InvalidTransition
from tests.unit.domain_builders import T0, a_revisit, an_improvement_action, at, given, recorded


# -- revisits ---------------------------------------------------------------------
def test_scheduling_a_revisit_records_whom_to_contact_why_and_by_when():
    r = a_revisit("r-1")

    [scheduled] = recorded(r)
    assert type(scheduled).TYPE == "revisit.scheduled"
    assert (scheduled.revisit_id, scheduled.customer_id, scheduled.department_id) == (
        "r-1", "cust-1", "dept-1")
    assert (scheduled.reason, scheduled.complaint_id, scheduled.cause_event_id) == (
        "complaint_followup", "c-1", "c-1@4")
    assert scheduled.due_at == at(72)
    assert scheduled.occurred_at == scheduled.timestamp == T0
    assert r.completed is False


def test_completing_a_revisit_records_the_outcome_for_its_customer_and_department():
    r = given(a_revisit())

    r.complete("reached", 4, "Happy now", at(50), at(51))

    [completed] = recorded(r)
    assert type(completed).TYPE == "revisit.completed"
    assert (completed.customer_id, completed.department_id) == ("cust-1", "dept-1")
    assert (completed.outcome, completed.satisfaction, completed.notes) == ("reached", 4, "Happy now")
    assert (completed.occurred_at, completed.timestamp) == (at(50), at(51))
    assert r.completed is True


def test_completing_a_revisit_twice_is_refused():
    r = a_revisit("r-1")
    r.complete("unreachable", None, None, at(50), at(50))
    given(r)

    with pytest.raises(InvalidTransition, match="revisit 'r-1' has already been completed"):
        r.complete("reached", 5, None, at(60), at(60))
    assert recorded(r) == []


# -- improvement actions ------------------------------------------------------------
def test_raising_an_improvement_action_records_its_department_title_sources_and_due_date():
    a = an_improvement_action("ia-1")

    [raised] = recorded(a)
    assert type(raised).TYPE == "improvement.raised"
    assert (raised.action_id, raised.department_id, raised.title) == (
        "ia-1", "dept-1", "Fix double charging")
    assert raised.source_ids == ["c-1", "c-2"]
    assert (raised.due_at, raised.cause_event_id) == (at(24 * 30), None)
    assert raised.occurred_at == raised.timestamp == T0
    assert a.status == "raised"


def test_completing_an_improvement_action_records_it_for_its_department():
    a = given(an_improvement_action())

    a.complete(at(100))

    [completed] = recorded(a)
    assert type(completed).TYPE == "improvement.completed"
    assert completed.department_id == "dept-1" and completed.occurred_at == at(100)
    assert a.status == "completed"


@pytest.mark.parametrize("effective", [True, False])
def test_verifying_a_completed_improvement_action_records_whether_it_worked(effective):
    a = an_improvement_action()
    a.complete(at(100))
    given(a)

    a.verify(effective, at(200))

    [verified] = recorded(a)
    assert type(verified).TYPE == "improvement.verified"
    assert (verified.department_id, verified.effective, verified.occurred_at) == (
        "dept-1", effective, at(200))
    assert a.status == "verified"


def test_completing_an_improvement_action_twice_is_refused():
    a = an_improvement_action("ia-1")
    a.complete(at(100))
    given(a)

    with pytest.raises(InvalidTransition, match="improvement action 'ia-1' is already completed"):
        a.complete(at(101))
    assert recorded(a) == []


def test_verifying_an_improvement_action_before_it_is_completed_is_refused():
    a = given(an_improvement_action("ia-1"))

    with pytest.raises(InvalidTransition,
                       match="'ia-1' is raised; only a completed action can be verified"):
        a.verify(True, at(100))
    assert recorded(a) == []


def test_verifying_an_improvement_action_twice_is_refused():
    a = an_improvement_action("ia-1")
    a.complete(at(100))
    a.verify(True, at(200))
    given(a)

    with pytest.raises(InvalidTransition, match="is verified; only a completed action"):
        a.verify(False, at(300))
    assert recorded(a) == []


def test_completing_a_verified_improvement_action_is_refused():
    a = an_improvement_action("ia-1")
    a.complete(at(100))
    a.verify(True, at(200))
    given(a)

    with pytest.raises(InvalidTransition, match="is already verified"):
        a.complete(at(300))
