"""A channel message's type names its command; its payload is the HTTP body of that command."""
from __future__ import annotations

import uuid
from typing import get_args

import pytest
from pydantic import ValidationError

from csm.consumers.inbound_commands import INBOUND_NS, MEANINGS, Envelope, MessageType, command_for
from csm.domain import commands as c
from tests.unit.domain_builders import T0, at


def envelope(type_: str, payload: dict, occurred_at: str | None = None) -> Envelope:
    return Envelope.model_validate({"message_id": "m-1", "type": type_, "source": "crm",
                                    "occurred_at": occurred_at, "payload": payload})


def test_every_message_type_has_a_meaning_and_every_meaning_a_type():
    assert set(get_args(MessageType)) == set(MEANINGS)


def test_a_message_without_a_record_id_gets_one_derived_from_its_message_id():
    _, command = command_for(envelope("customer.registered", {"name": "Ada"}), T0)
    assert command == c.RegisterCustomer(customer_id=str(uuid.uuid5(INBOUND_NS, "m-1")),
                                         name="Ada", email=None, phone=None, tier="standard",
                                         segment=None, now=T0)


def test_the_envelope_time_is_when_the_command_occurred_unless_the_payload_says():
    payload = {"complaint_id": "c-1", "reason": "still broken"}
    _, command = command_for(envelope("complaint.reopened", payload, at(-1).isoformat()), T0)
    assert command == c.ReopenComplaint(complaint_id="c-1", reason="still broken",
                                        occurred_at=at(-1), now=T0)


def test_a_payload_the_http_body_would_refuse_is_refused():
    with pytest.raises(ValidationError):
        command_for(envelope("complaint.reopened", {"reason": "no target"}), T0)


def test_channels_can_say_the_complaint_waits_on_the_customer_and_that_the_customer_replied():
    _, waits = command_for(envelope("complaint.awaiting_customer",
                                    {"complaint_id": "c-1", "reason": "photos"},
                                    at(-2).isoformat()), T0)
    _, replied = command_for(envelope("complaint.customer_replied", {"complaint_id": "c-1"},
                                      at(-1).isoformat()), T0)
    assert waits == c.AwaitCustomer(complaint_id="c-1", reason="photos", occurred_at=at(-2),
                                    now=T0)
    assert replied == c.CustomerReplied(complaint_id="c-1", occurred_at=at(-1), now=T0)
