"""The closed loop: follow-ups decided from what just happened.

Each follow-up is a command (`ScheduleFollowUpRevisit`, `InviteAfterClosure`) that the handler of its cause hands
to `handle` in the same unit of work, so both are recorded in one transaction. It carries
the id of the event that caused it and takes an id derived from that event, so the same
cause can never yield it twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from csm.domain.base import event_id
from csm.domain.commands import InviteAfterClosure, ScheduleFollowUpRevisit
from csm.domain.complaint import Complaint
from csm.domain.customer import Customer
from csm.domain.policy import PolicyRules
from csm.domain.survey import SurveyResponse
from csm.domain.thresholds import low_score as is_low_score
from csm.domain.values import derived_id


def followup_id(kind: str, cause_stream_id: str, cause_version: int) -> str:
    return derived_id(kind, cause_stream_id, cause_version)


def revisit_after_resolution(c: Complaint, rules: PolicyRules, resolved_at: datetime,
                             now: datetime) -> ScheduleFollowUpRevisit | None:
    f = rules.followups
    if not f.revisit_after_resolution or c.customer_id is None:
        return None
    cause = event_id(c.id, c.version)
    return ScheduleFollowUpRevisit(
        revisit_id=followup_id("revisit", c.id, c.version), customer_id=c.customer_id,
        department_id=c.department_id, reason="complaint_followup", complaint_id=c.id,
        due_at=resolved_at + timedelta(days=f.revisit_after_resolution_days),
        cause_event_id=cause, occurred_at=resolved_at, now=now)


def low_score(answers: list[dict]) -> bool:
    return any(is_low_score(a["scale"], a["value"]) for a in answers)


def revisit_on_low_score(r: SurveyResponse, rules: PolicyRules,
                         now: datetime) -> ScheduleFollowUpRevisit | None:
    f = rules.followups
    answered = r.pending_events[0]
    d = answered.data()
    if not f.revisit_on_low_score or not d["customer_id"] or not d["department_id"]:
        return None
    if not low_score(d["answers"]):
        return None
    cause = event_id(r.id, 1)
    return ScheduleFollowUpRevisit(
        revisit_id=followup_id("revisit", r.id, 1), customer_id=d["customer_id"],
        department_id=d["department_id"], reason="after_service", complaint_id=None,
        due_at=answered.occurred_at + timedelta(days=f.revisit_on_low_score_days),
        cause_event_id=cause, occurred_at=answered.occurred_at, now=now)


def may_invite(customer: Customer, rules: PolicyRules, now: datetime) -> bool:
    """The contact-frequency limit across surveys (off unless the policy sets one)."""
    f = rules.followups
    if f.invitation_limit is None:
        return True
    since = now - timedelta(days=f.invitation_limit_days)
    return customer.invitations_since(since) < f.invitation_limit


def closure_invitation(c: Complaint, rules: PolicyRules,
                       now: datetime) -> InviteAfterClosure | None:
    """The invitation to the policy's complaint-closure survey, if it names one."""
    survey_id = rules.followups.closure_survey_id
    if survey_id is None or c.customer_id is None:
        return None
    return InviteAfterClosure(survey_id=survey_id, customer_id=c.customer_id,
                              cause_event_id=event_id(c.id, c.version), now=now)
