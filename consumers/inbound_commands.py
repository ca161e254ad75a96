"""What a channel message on `csm.inbound` means: its envelope, and the command per type.

Payloads are the HTTP bodies of the same commands (validated by the same
schemas); the target's id travels inside the payload. A message without a
record id gets one derived from its `message_id`, so a redelivery names the
same record.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from csm.api.schemas import (
    AwaitCustomerIn,
    ComplaintIn,
    CustomerIn,
    CustomerRepliedIn,
    FeedbackIn,
    ReopenIn,
    ResponseIn,
    RevisitCompleteIn,
)
from csm.domain import commands as c
from csm.domain.fields import Id, Timestamp, storable_text

INBOUND_NS = uuid.UUID("6f1d8a52-3c0e-4d7e-9a55-0c2b6f5e9d11")
# Printable text: message_id and source are logged and sent back in DLQ headers.
Label = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200,
                                         pattern=r"^[^\x00-\x1f\x7f]+$"),
                  BeforeValidator(storable_text)]


class ReopenMessage(ReopenIn):
    complaint_id: Id


class AnswerMessage(ResponseIn):
    survey_id: Id


class RevisitDoneMessage(RevisitCompleteIn):
    revisit_id: Id


class AwaitCustomerMessage(AwaitCustomerIn):
    complaint_id: Id


class CustomerRepliedMessage(CustomerRepliedIn):
    complaint_id: Id


@dataclass(frozen=True)
class Meaning:
    """What a message type asks for: its payload's schema, its command, the id it may derive."""
    schema: type[BaseModel]
    command: type[c.Command]
    derived_id: str | None  # the record id a payload may leave out


MEANINGS: dict[str, Meaning] = {
    "customer.registered": Meaning(CustomerIn, c.RegisterCustomer, "customer_id"),
    "feedback.submitted": Meaning(FeedbackIn, c.SubmitFeedback, "feedback_id"),
    "complaint.opened": Meaning(ComplaintIn, c.OpenComplaint, "complaint_id"),
    "complaint.reopened": Meaning(ReopenMessage, c.ReopenComplaint, None),
    "survey.answered": Meaning(AnswerMessage, c.AnswerSurvey, "response_id"),
    "revisit.completed": Meaning(RevisitDoneMessage, c.CompleteRevisit, None),
    "complaint.awaiting_customer": Meaning(AwaitCustomerMessage, c.AwaitCustomer, None),
    "complaint.customer_replied": Meaning(CustomerRepliedMessage, c.CustomerReplied, None),
}
MessageType = Literal[tuple(MEANINGS)]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: Label
    type: MessageType
    source: Label
    occurred_at: Timestamp | None = None
    payload: dict[str, Any]


def command_for(env: Envelope, now: datetime) -> tuple[BaseModel, c.Command]:
    """The validated payload and the command it asks for (raises on invalid input)."""
    meaning = MEANINGS[env.type]
    payload = dict(env.payload)
    if env.occurred_at is not None and "occurred_at" in meaning.schema.model_fields:
        payload.setdefault("occurred_at", env.occurred_at.isoformat())
    body = meaning.schema.model_validate(payload)
    given = {}
    if meaning.derived_id is not None:
        given[meaning.derived_id] = (getattr(body, meaning.derived_id)
                                     or str(uuid.uuid5(INBOUND_NS, env.message_id)))
    return body, c.from_body(meaning.command, body, now, **given)
