"""Request bodies of the commands: strict types, unknown fields refused, ids and slugs checked.

Every text and timestamp is one of the field types of `domain.fields`, which the
inbound consumer shares: HTTP and `csm.inbound` accept the same values.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    model_validator,
)

from csm.domain.fields import (
    WHOLE_NUMBER,
    Id,
    SafeInteger,
    Short,
    Slug,
    Text,
    Timestamp,
    storable_text,
)
from csm.domain.values import (
    FeedbackKind,
    RevisitOutcome,
    RevisitReason,
    ScaleName,
    Severity,
    SurveyTrigger,
    Tier,
)

MAX_FUTURE = timedelta(minutes=5)
# No @, control character or space of any script on either side of the @: spelled out, as
# \s means other characters in ECMAScript (the OpenAPI's regex dialect) than in Rust or Python.
_PART = r"[^@\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
EMAIL = f"^{_PART}@{_PART}$"
Score = Annotated[int, Strict(), Field(ge=1, le=5), WHOLE_NUMBER]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Timed(Body):
    occurred_at: Timestamp | None = None

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
    satisfaction_target: Annotated[float, Strict()] = Field(default=80, ge=0, le=100,
                                                            allow_inf_nan=False)


class CustomerIn(Body):
    customer_id: Id | None = None
    name: Short
    email: Annotated[str, StringConstraints(strict=True, max_length=254, pattern=EMAIL),
                     BeforeValidator(storable_text)] | None = None
    phone: Annotated[str, StringConstraints(strict=True, max_length=40,
                                            pattern=r"^[0-9+()\-. ]{3,40}$"),
                     BeforeValidator(storable_text)] | None = None
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
    rating: Score | None = None
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


class AwaitCustomerIn(Timed):
    reason: Text


class CustomerRepliedIn(Timed):
    pass


class CloseIn(Timed):
    customer_satisfied: StrictBool | None = None
    satisfaction: Score | None = None


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
    # Bounded so that any value can be digested and stored; its question's scale decides.
    value: SafeInteger


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
    due_at: Timestamp


class RevisitCompleteIn(Timed):
    outcome: RevisitOutcome
    satisfaction: Score | None = None
    notes: Text | None = None


class ImprovementIn(Body):
    action_id: Id | None = None
    department_id: Id
    title: Short
    source_ids: list[Id] = Field(default_factory=list, max_length=1000)
    due_at: Timestamp


class VerifyIn(Body):
    effective: StrictBool


class EmptyIn(Body):
    @model_validator(mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return {} if v is None else v
