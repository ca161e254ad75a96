"""The `error` header of a dead letter: the field or the place in the bytes, in plain words."""
from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from csm.api.schemas import ComplaintIn
from csm.consumers.inbound_commands import Envelope
from csm.consumers.refusal_reasons import not_found, reason
from csm.domain.errors import NotFound


def refusal(raw: bytes) -> str:
    try:
        Envelope.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        return reason(exc, raw=raw)
    raise AssertionError("accepted")


@pytest.mark.parametrize(("raw", "says"), [
    (b"[1, 2]", "message: must be a JSON object, not an array"),
    (b"null", "message: must be a JSON object, not null"),
    (b'{"message_id": "m", "type": "feedback.submitted", "source": "s", "payload": [1]}',
     "payload: must be a JSON object, not an array"),
    (b'{"type": "feedback.submitted", "source": "s", "payload": {}}', "message_id: is required"),
    (b'{"message_id": "m", "type": "feedback.submitted", "source": "s", "payload": {}, "x": 1}',
     "x: is not a known field"),
    (b'{"message_id": "a\\u0001b", "type": "feedback.submitted", "source": "s", "payload": {}}',
     "message_id: has characters that are not allowed here"),
    (b"", "empty message"),
    (b'{"message_id": "\xff"}', "not UTF-8 text: byte 16 (0xff) does not belong to a UTF-8 character"),
    (b'{"message_id": "\\ud800"}', "not valid JSON (line 1, column 17): a string holds an unpaired "
                                  "surrogate escape"),
    (b"[" * 2000 + b"]" * 2000, "not valid JSON (line 1, column 1026): nested deeper than 1024"),
    (b'{"message_id": ', "not valid JSON (line 1, column 16): unexpected end of data"),
])
def test_a_refused_envelope_is_explained_by_its_field_or_its_place_in_the_bytes(raw, says):
    assert refusal(raw).startswith(says), refusal(raw)


def test_a_refused_payload_names_its_fields_under_payload():
    with pytest.raises(ValidationError) as caught:
        ComplaintIn.model_validate({"channel": "web", "department_id": "d", "severity": "dire",
                                    "description": "x", "extra": 1})
    said = reason(caught.value, where="payload.")
    assert said.startswith("payload.severity: Input should be 'low', 'medium', 'high' or "
                           "'critical'; payload.extra: is not a known field"), said


def test_a_target_still_unknown_after_the_retries_names_the_payload_field_and_the_wait():
    exc = NotFound("customer 'c-9' not found")
    assert not_found(exc, {"customer_id": "c-9"}, 600) == (
        "payload.customer_id: customer 'c-9' not found, still after 600 s of retries")
    assert not_found(exc, {"complaint_id": "k"}, 2.5) == (
        "customer 'c-9' not found, still after 2.5 s of retries")
