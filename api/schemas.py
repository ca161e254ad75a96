"""Request bodies of CONTRACT §2: strict types, unknown fields refused, ids and slugs checked."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from csm.domain.values import (
    ID_PATTERN,
    SLUG_PATTERN,
    FeedbackKind,
    RevisitOutcome,
    RevisitReason,
    ScaleName,
    Severity,
    SurveyTrigger,
    Tier,
)

Id = Annotated[str, StringConstraints(strict=True, pattern=ID_PATTERN)]
Slug = Annotated[str, StringConstraints(strict=True, pattern=SLUG_PATTERN)]
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=20_000)]
Short = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
MAX_FUTURE = timedelta(minutes=5)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Timed(Body):
    occurred_at: AwareDatetime | None = None

    def when(self, now: datetime) -> datetime:
        """occurred_at, defaulting to the time of receipt; never more than 5 minutes ahead."""
        from csm.domain.errors import InvalidInput
        if self.occurred_at is None:
            return now
        if self.occurred_at > now + MAX_FUTURE:
            raise InvalidInput(f"occurred_at {self.occurred_at.isoformat()} lies more than 5 "
                               "minutes in the future", loc=("occurred_at",))
        return self.occurred_at


class DepartmentIn(Body):
    department_id: Id | None = None
    name: Short
    satisfaction_target: Annotated[float, Strict()] = Field(default=80, ge=0, le=100)


class CustomerIn(Body):
    customer_id: Id | None = None
    name: Short
    email: Annotated[str, StringConstraints(strict=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, StringConstraints(strict=True, max_length=40, pattern=r"^[0-9+()\-. ]{3,40}$")] | None = None
    tier: Tier = "standard"
    segment: Slug | None = None


class EraseIn(Body):
    reason: Short | None = None


class FeedbackIn(Timed):
    feedback_id: Id | None = None
    complaint_id: Id | None = None
    customer_id: Id | None = None
    channel: Slug
    kind: FeedbackKind
    department_id: Id | None = None
    category: Slug | None = None
    rating: StrictInt | None = Field(default=None, ge=1, le=5)
    text: Text | None = None
    severity: Severity | None = None


class ComplaintIn(Timed):
    complaint_id: Id | None = None
    customer_id: Id | None = None
    channel: Slug
    department_id: Id
    category: Slug | None = None
    severity: Severity
    description: Text


class AcknowledgeIn(Timed):
    by: Short | None = None


class AssignIn(Timed):
    department_id: Id | None = None
    handler: Short


class EscalateIn(Timed):
    reason: Short


class ResolveIn(Timed):
    resolution: Text
    by: Short | None = None


class ReopenIn(Timed):
    reason: Text


class CloseIn(Timed):
    customer_satisfied: StrictBool | None = None
    satisfaction: StrictInt | None = Field(default=None, ge=1, le=5)


class QuestionIn(Body):
    question_id: Id
    text: Text | None = None
    dimension: Slug
    scale: ScaleName


class SurveyIn(Body):
    survey_id: Id | None = None
    name: Short
    trigger: SurveyTrigger = "periodic"
    questions: list[QuestionIn] = Field(min_length=1, max_length=200)


class InvitationsIn(Body):
    customer_ids: list[Id] = Field(min_length=1, max_length=10_000)
    channel: Slug


class AnswerIn(Body):
    question_id: Id
    value: StrictInt


class ResponseIn(Timed):
    response_id: Id | None = None
    customer_id: Id | None = None
    department_id: Id | None = None
    channel: Slug
    answers: list[AnswerIn] = Field(min_length=1, max_length=200)
    comment: Text | None = None


class RevisitIn(Timed):
    revisit_id: Id | None = None
    customer_id: Id
    department_id: Id
    reason: RevisitReason
    complaint_id: Id | None = None
    due_at: AwareDatetime


class RevisitCompleteIn(Timed):
    outcome: RevisitOutcome
    satisfaction: StrictInt | None = Field(default=None, ge=1, le=5)
    notes: Text | None = None


class ImprovementIn(Body):
    action_id: Id | None = None
    department_id: Id
    title: Short
    source_ids: list[Id] = Field(default_factory=list, max_length=1000)
    due_at: AwareDatetime


class VerifyIn(Body):
    effective: StrictBool


class EmptyIn(Body):
    @model_validator(mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return {} if v is None else v
