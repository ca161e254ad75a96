"""What commands and record reads answer: the ids, positions and fields each route sends."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from csm.domain.policy import PolicyRules


class CommandAnswer(BaseModel):
    """Every command's answer."""
    id: str = Field(description="the business id of the record the command changed or made")
    position: int = Field(description="global position of the last event recorded: pass it as "
                          "`min_position` to read your own write")


class ComplaintOpened(CommandAnswer):
    acknowledge_due: datetime
    resolve_due: datetime


class FeedbackRecorded(CommandAnswer):
    """Feedback of kind `complaint` also opens a complaint: then its id and due times."""
    complaint_id: str | None = None
    acknowledge_due: datetime | None = None
    resolve_due: datetime | None = None


class Escalated(CommandAnswer):
    escalation_level: int


class Reopened(CommandAnswer):
    resolve_due: datetime


class Replied(Reopened):
    """The customer's reply: `resolve_due` as the wait moved it."""


class InvitationsSent(CommandAnswer):
    invited: int = Field(description="customers invited now")
    suppressed: int = Field(description="customers not invited: the contact-frequency limit")


class PolicyPublished(CommandAnswer):
    version: int


class CustomerRecord(BaseModel):
    customer_id: str
    name: str | None = Field(description="`***` unless the caller is an agent or an admin")
    email: str | None
    phone: str | None
    tier: str
    segment: str | None
    erased: bool
    version: int


class TimelineEvent(BaseModel):
    """One recorded event as callers see it; personal fields masked as for the record."""
    event_id: str
    version: int
    type: str
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any]


class AuditedEvent(TimelineEvent):
    position: int
    recorded_at: datetime


class ComplaintRecord(BaseModel):
    complaint_id: str
    status: str
    department_id: str
    handler: str | None
    severity: str
    escalation_level: int
    customer_id: str | None
    opened_at: datetime
    acknowledge_due: datetime
    resolve_due: datetime
    reopen_count: int
    version: int
    timeline: list[TimelineEvent]


class StreamEvents(BaseModel):
    stream_id: str
    items: list[AuditedEvent]


class ChainVerified(BaseModel):
    ok: bool
    events_checked: int
    first_bad_position: int | None
    reason: str | None = Field(description="why the first bad position is bad; null when ok")
    sealed_from: int | None = Field(description="events from this position on carry a seal; "
                                    "those before it are covered by the upgrade checkpoint")
    gaps: int = Field(description="positions the database itself left unused (rolled back)")
    checkpoints_checked: int


class PolicyVersion(BaseModel):
    version: int = Field(description="0: the defaults, never published")
    published_at: datetime | None
    rules: PolicyRules


class PolicyInForce(PolicyVersion):
    history: list[PolicyVersion]


class Alive(BaseModel):
    # Health answers may grow: a field added later is sent, not filtered out.
    model_config = ConfigDict(extra="allow")
    status: str


class Readiness(BaseModel):
    """Whether this process can serve: the store, each part and read model, their lag."""
    model_config = ConfigDict(extra="allow")
    status: str = Field(description="`ready`, or why not")
