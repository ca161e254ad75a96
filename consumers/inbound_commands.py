"""What a channel message on `csm.inbound` means: its envelope, and the command per type.

Payloads are the HTTP bodies of the same commands (validated by the same
schemas); the target's id travels inside the payload. A message without a
record id gets one derived from its `message_id`, so a redelivery names the
same record.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from csm.api.schemas import (
    ComplaintIn,
    CustomerIn,
    FeedbackIn,
    Id,
    ReopenIn,
    ResponseIn,
    RevisitCompleteIn,
)
from csm.domain.application import Hook, Recorded
from csm.domain.csm import CsmApplication

MessageType = Literal["customer.registered", "feedback.submitted", "complaint.opened",
                      "complaint.reopened", "survey.answered", "revisit.completed"]
INBOUND_NS = uuid.UUID("6f1d8a52-3c0e-4d7e-9a55-0c2b6f5e9d11")


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    type: MessageType
    source: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    occurred_at: AwareDatetime | None = None
    payload: dict[str, Any]


class ReopenMessage(ReopenIn):
    complaint_id: Id


class AnswerMessage(ResponseIn):
    survey_id: Id


class RevisitDoneMessage(RevisitCompleteIn):
    revisit_id: Id


Command = Callable[[Sequence[Hook]], Recorded]


def command_for(app: CsmApplication, env: Envelope, now: datetime) -> tuple[BaseModel, Command]:
    """The validated payload and the command it asks for (raises on invalid input)."""
    payload = dict(env.payload)
    if env.occurred_at is not None and env.type != "customer.registered":
        payload.setdefault("occurred_at", env.occurred_at.isoformat())
    derived = str(uuid.uuid5(INBOUND_NS, env.message_id))
    t = env.type
    if t == "customer.registered":
        c = CustomerIn.model_validate(payload)
        return c, lambda h: app.register_customer(
            c.customer_id or derived, c.name, c.email, c.phone, c.tier, c.segment, now, hooks=h)
    if t == "feedback.submitted":
        f = FeedbackIn.model_validate(payload)
        when = f.when(now)
        return f, lambda h: app.submit_feedback(
            f.feedback_id or derived, customer_id=f.customer_id, channel=f.channel, kind=f.kind,
            department_id=f.department_id, category=f.category, rating=f.rating, text=f.text,
            severity=f.severity, complaint_id=f.complaint_id, occurred_at=when, now=now, hooks=h)
    if t == "complaint.opened":
        o = ComplaintIn.model_validate(payload)
        when = o.when(now)
        return o, lambda h: app.open_complaint(
            o.complaint_id or derived, customer_id=o.customer_id, channel=o.channel,
            department_id=o.department_id, category=o.category, severity=o.severity,
            description=o.description, occurred_at=when, now=now, hooks=h)
    if t == "complaint.reopened":
        r = ReopenMessage.model_validate(payload)
        when = r.when(now)
        return r, lambda h: app.reopen_complaint(r.complaint_id, r.reason, when, now, hooks=h)
    if t == "survey.answered":
        a = AnswerMessage.model_validate(payload)
        when = a.when(now)
        return a, lambda h: app.answer_survey(
            a.survey_id, a.response_id or derived, customer_id=a.customer_id,
            department_id=a.department_id, channel=a.channel,
            answers=[x.model_dump() for x in a.answers], comment=a.comment, occurred_at=when,
            now=now, hooks=h)
    d = RevisitDoneMessage.model_validate(payload)
    when = d.when(now)
    return d, lambda h: app.complete_revisit(d.revisit_id, d.outcome, d.satisfaction, d.notes,
                                             when, now, hooks=h)
