"""The closed loop: which follow-up command a resolution, a low score, a closure or an
invitation leads to."""
from datetime import timedelta

import pytest

from csm.domain.commands import InviteAfterClosure, ScheduleFollowUpRevisit
from csm.domain.followups import (
    closure_invitation,
    may_invite,
    revisit_after_resolution,
    revisit_on_low_score,
)
from csm.domain.policy import DEFAULT_RULES, PolicyRules
from csm.domain.survey import SurveyResponse
from tests.unit.domain_builders import RESOLVE_AT, T0, a_customer, a_survey, at, complaint_in, given


def _rules(**followups) -> PolicyRules:
    return PolicyRules.model_validate({"followups": followups})


def test_a_resolution_schedules_a_followup_revisit_three_days_later_caused_by_it():
    c = complaint_in("resolved")
    scheduled = revisit_after_resolution(c, DEFAULT_RULES, RESOLVE_AT, RESOLVE_AT)
    assert isinstance(scheduled, ScheduleFollowUpRevisit)
    assert scheduled.revisit_id == f"revisit:{c.id}:{c.version}"
    assert scheduled.cause_event_id == f"{c.id}@{c.version}"
    assert (scheduled.reason, scheduled.customer_id, scheduled.department_id) == (
        "complaint_followup", "cust-1", "dept-1")
    assert scheduled.due_at == RESOLVE_AT + timedelta(days=3)


def test_no_revisit_when_switched_off_or_without_a_customer():
    assert revisit_after_resolution(complaint_in("resolved"),
                                    _rules(revisit_after_resolution=False), at(2), at(2)) is None
    anonymous = complaint_in("resolved", customer_id=None)
    assert revisit_after_resolution(anonymous, DEFAULT_RULES, at(2), at(2)) is None


def test_a_closure_invites_to_the_closure_survey_the_policy_names():
    c = complaint_in("closed")
    assert closure_invitation(c, DEFAULT_RULES, at(3)) is None  # the default names none
    invite = closure_invitation(c, _rules(closure_survey_id="s-closure"), at(3))
    assert invite == InviteAfterClosure(survey_id="s-closure", customer_id="cust-1",
                                        cause_event_id=f"{c.id}@{c.version}", now=at(3))
    anonymous = complaint_in("closed", customer_id=None)
    assert closure_invitation(anonymous, _rules(closure_survey_id="s-closure"), at(3)) is None


def _response(values: dict[str, int], customer_id="cust-1", department_id="dept-1"):
    return SurveyResponse.answer(
        "resp-1", given(a_survey()), customer_id=customer_id, tier="standard",
        department_id=department_id, channel="web",
        answers=[{"question_id": q, "value": v} for q, v in values.items()], comment=None,
        occurred_at=T0, now=T0)


@pytest.mark.parametrize("values, expected", [
    ({"q-quality": 2}, True), ({"q-quality": 3}, False), ({"q-recommend": 6}, True),
    ({"q-recommend": 7}, False), ({"q-expect": 1, "q-rival": 1}, False),
])
def test_a_low_likert_or_nps_answer_schedules_a_revisit(values, expected):
    revisit = revisit_on_low_score(_response(values), DEFAULT_RULES, T0)
    assert (revisit is not None) is expected
    if revisit:
        assert (revisit.reason, revisit.cause_event_id) == ("after_service", "resp-1@1")


def test_a_low_score_without_customer_or_department_schedules_nothing():
    assert revisit_on_low_score(_response({"q-quality": 1}, customer_id=None),
                                DEFAULT_RULES, T0) is None
    assert revisit_on_low_score(_response({"q-quality": 1}, department_id=None),
                                DEFAULT_RULES, T0) is None
    assert revisit_on_low_score(_response({"q-quality": 1}),
                                _rules(revisit_on_low_score=False), T0) is None


def test_the_contact_limit_is_off_by_default_and_counts_invitations_in_its_window():
    c = given(a_customer())
    for day in (0, 10):
        c.invite("s-1", T0 + timedelta(days=day))
    assert may_invite(c, DEFAULT_RULES, T0 + timedelta(days=11))
    limit = _rules(invitation_limit=2, invitation_limit_days=30)
    assert not may_invite(c, limit, T0 + timedelta(days=11))
    assert may_invite(c, limit, T0 + timedelta(days=31))  # the first one has left the window
