"""The digest an Idempotency-Key is checked against: defined for every JSON body."""
from __future__ import annotations

import pytest

from csm.infra.idempotency import request_digest

ROUTE = "POST /v1/surveys/s1/responses"


@pytest.mark.parametrize("body", [
    {"answers": [{"question_id": "q1", "value": 2**64}]},
    {"answers": [{"question_id": "q1", "value": -10**40}]},
    {"comment": "a\ud800b"},
])
def test_a_body_orjson_cannot_write_still_has_a_digest_that_ignores_key_order(body):
    shuffled = dict(reversed(list({**body, "channel": "web"}.items())))
    assert request_digest(ROUTE, {**body, "channel": "web"}) == request_digest(ROUTE, shuffled)
    assert request_digest(ROUTE, body) != request_digest(ROUTE, {**body, "channel": "web"})


def test_bodies_that_differ_only_beyond_64_bits_have_different_digests():
    low = {"answers": [{"question_id": "q1", "value": 2**64}]}
    high = {"answers": [{"question_id": "q1", "value": 2**64 + 1}]}
    assert request_digest(ROUTE, low) != request_digest(ROUTE, high)


def test_the_same_body_on_another_route_has_another_digest():
    body = {"channel": "web", "answers": [{"question_id": "q1", "value": 4}]}
    assert request_digest(ROUTE, body) != request_digest("POST /v1/feedback", body)
