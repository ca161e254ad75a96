"""Hostile bodies get a 4xx problem+json, never a 500, and record nothing."""
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http_builders import complaint, department, survey

PROBLEM = "application/problem+json"


def _refused(response, status=422):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("body", [
    {"channel": "hotline", "department_id": "d", "severity": "low", "description": 5},
    {"channel": "hotline", "department_id": "d", "severity": "urgent", "description": "x"},
    {"channel": "hotline", "department_id": "d", "severity": "low", "description": "x",
     "colour": "red"},
    {"channel": "hotline", "department_id": "d", "severity": "low"},
    {"channel": "hotline", "department_id": "bad id!", "severity": "low", "description": "x"},
    {"channel": "hotline", "department_id": "d", "severity": "low", "description": "x",
     "occurred_at": "yesterday"},
    {"channel": "hotline", "department_id": "d", "severity": "low", "description": "x",
     "occurred_at": "2026-01-01T10:00:00"},
    [1, 2, 3], "a string", None,
])
def test_wrong_types_unknown_fields_and_missing_fields_are_422(http, body):
    errors = _refused(http("channel").post("/v1/complaints", json=body))
    assert "errors" in errors


def test_a_future_occurred_at_is_refused(http):
    dep = department(http)
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    body = _refused(http("channel").post("/v1/complaints", json={
        "channel": "hotline", "department_id": dep, "severity": "low", "description": "x",
        "occurred_at": future}))
    assert "future" in body["detail"]


@pytest.mark.parametrize("answers", [
    [{"question_id": "q1", "value": 0}], [{"question_id": "q1", "value": 6}],
    [{"question_id": "q2", "value": 11}], [{"question_id": "q2", "value": -1}],
    [{"question_id": "q9", "value": 3}], [{"question_id": "q1", "value": 3}] * 2,
    [], [{"question_id": "q1", "value": 3.5}], [{"question_id": "q1", "value": "3"}],
])
def test_invalid_survey_answers_are_422(http, answers):
    sid = survey(http)
    _refused(http("channel").post(f"/v1/surveys/{sid}/responses", json={
        "channel": "web", "answers": answers}))


def test_malformed_json_is_422(http):
    _refused(http("channel").post("/v1/complaints", content=b'{"channel": "hot',
                                  headers={"content-type": "application/json"}))


def test_a_two_mebibyte_body_is_413(http):
    big = json.dumps({"channel": "web", "kind": "praise", "text": "x" * (2 * 1024 * 1024)})
    _refused(http("channel").post("/v1/feedback", content=big.encode(),
                                  headers={"content-type": "application/json"}), status=413)


def test_a_chunked_body_over_the_limit_is_413(http):
    def chunks():
        yield b'{"channel": "web", "kind": "praise", "text": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'
    _refused(http("channel").post("/v1/feedback", content=chunks(),
                                  headers={"content-type": "application/json"}), status=413)


def test_an_escalation_with_a_wrong_type_reason_records_nothing(http):
    cid = complaint(http, department(http))["id"]
    _refused(http("agent").post(f"/v1/complaints/{cid}/escalate", json={"reason": ["x"]}))
    events = http("auditor").get(f"/v1/audit/streams/{cid}/events").json()["items"]
    assert [e["type"] for e in events] == ["complaint.opened"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                               max_size=5),
    max_leaves=12)
ENDPOINTS = ["/v1/complaints", "/v1/feedback", "/v1/customers", "/v1/surveys", "/v1/revisits",
             "/v1/improvement-actions", "/v1/departments", "/v1/complaints/x/resolve",
             "/v1/surveys/x/responses"]


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(endpoint=st.sampled_from(ENDPOINTS), body=json_values)
def test_random_json_bodies_never_cause_a_server_error(http, endpoint, body):
    response = http("admin").post(endpoint, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM
