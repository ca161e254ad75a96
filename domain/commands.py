"""Commands as data: one small immutable class per order a caller can give.

Each carries the ids it acts on, `now` (when the command was received) and,
where the world has a time for it, `occurred_at`. The HTTP routes, the inbound
consumer, the deadline watcher and the follow-ups build these and pass them to `handle`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from csm.domain.policy import PolicyRules

# Every command is immutable and built by name.
immutable = dataclass(frozen=True, kw_only=True)


@immutable
class Command:
    now: datetime


@immutable
class Timed(Command):
    occurred_at: datetime


@immutable
class RegisterDepartment(Command):
    department_id: str
    name: str
    satisfaction_target: float


@immutable
class RegisterCustomer(Command):
    customer_id: str
    name: str
    email: str | None
    phone: str | None
    tier: str
    segment: str | None


@immutable
class EraseCustomer(Command):
    customer_id: str
    reason: str | None = None


@immutable
class PublishPolicy(Command):
    rules: PolicyRules
    by: str | None


@immutable
class SubmitFeedback(Timed):
    feedback_id: str
    customer_id: str | None
    channel: str
    kind: str
    department_id: str | None
    category: str | None
    rating: int | None
    text: str | None
    severity: str | None
    complaint_id: str | None


@immutable
class OpenComplaint(Timed):
    complaint_id: str
    customer_id: str | None
    channel: str
    department_id: str
    category: str | None
    severity: str
    description: str


@immutable
class AcknowledgeComplaint(Timed):
    complaint_id: str
    by: str | None = None


@immutable
class AssignComplaint(Timed):
    complaint_id: str
    department_id: str | None
    handler: str


@immutable
class EscalateComplaint(Timed):
    complaint_id: str
    reason: str


@immutable
class ResolveComplaint(Timed):
    complaint_id: str
    resolution: str
    by: str | None = None


@immutable
class AwaitCustomer(Timed):
    complaint_id: str
    reason: str


@immutable
class CustomerReplied(Timed):
    complaint_id: str


@immutable
class ReopenComplaint(Timed):
    complaint_id: str
    reason: str


@immutable
class CloseComplaint(Timed):
    complaint_id: str
    customer_satisfied: bool | None = None
    satisfaction: int | None = None


@immutable
class RecordMissedDeadlines(Command):
    """The deadline watcher's order: breaches for due times that passed unmet."""
    complaint_id: str
    grace: timedelta


@immutable
class CreateSurvey(Command):
    survey_id: str
    name: str
    trigger: str
    questions: list[dict[str, Any]]


@immutable
class SendInvitations(Command):
    survey_id: str
    customer_ids: list[str]
    channel: str


@immutable
class AnswerSurvey(Timed):
    survey_id: str
    response_id: str
    customer_id: str | None
    department_id: str | None
    channel: str
    answers: list[dict[str, Any]]
    comment: str | None


@immutable
class ScheduleRevisit(Timed):
    revisit_id: str
    customer_id: str
    department_id: str
    reason: str
    complaint_id: str | None
    due_at: datetime


@immutable
class ScheduleFollowUpRevisit(ScheduleRevisit):
    """A revisit the closed loop decided (after a resolution, after a low score): no caller
    gives it; it names the event that caused it and is recorded with that event."""
    cause_event_id: str


@immutable
class InviteAfterClosure(Command):
    """The closed loop's invitation to the complaint-closure survey (no caller gives it)."""
    survey_id: str
    customer_id: str
    cause_event_id: str


@immutable
class CompleteRevisit(Timed):
    revisit_id: str
    outcome: str
    satisfaction: int | None
    notes: str | None


@immutable
class RaiseImprovement(Command):
    action_id: str
    department_id: str
    title: str
    source_ids: list[str]
    due_at: datetime


@immutable
class CompleteImprovement(Command):
    action_id: str


@immutable
class VerifyImprovement(Command):
    action_id: str
    effective: bool


def from_body(kind: type[Command], body: Any, now: datetime, **given: Any) -> Command:
    """The command a validated body asks for: its fields by name, `given` ones over them.

    A body that has a time of its own (`when`) gives `occurred_at`; a missing
    body leaves every optional field at its default.
    """
    names = {f.name for f in fields(kind)}
    values = body.model_dump() if body is not None else {}
    if "occurred_at" in names:
        values["occurred_at"] = body.when(now) if body is not None else now
    values.update(given, now=now)
    return kind(**{k: v for k, v in values.items() if k in names})
