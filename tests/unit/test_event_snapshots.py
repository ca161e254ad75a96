"""Pins the serialized form of events consumers rely on, so a schema drift is seen.

A failure here means an event's fields changed: that needs a new `class_version`
with an upcaster (STYLE.md), not an edit of the expected value below.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from csm.domain.survey import SurveyResponse
from tests.unit.domain_builders import T0, a_survey, at, open_complaint, recorded


def serialized(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def test_the_data_of_complaint_opened_is_pinned():
    [opened] = recorded(open_complaint(
        "c-1", severity="high", customer_id="cust-1", department_id="dept-1", channel="hotline",
        category="delivery", description="Parcel lost", feedback_id="fb-1", policy_version=3,
        occurred_at=T0, now=at(1)))

    assert serialized(opened.data()) == {
        "occurred_at": "2024-03-04T09:00:00+00:00",
        "complaint_id": "c-1",
        "customer_id": "cust-1",
        "channel": "hotline",
        "department_id": "dept-1",
        "category": "delivery",
        "severity": "high",
        "description": "Parcel lost",
        "high_value": False,
        "acknowledge_due": "2024-03-04T17:00:00+00:00",
        "resolve_due": "2024-03-07T09:00:00+00:00",
        "policy_version": 3,
        "feedback_id": "fb-1",
    }
    assert type(opened).PERSONAL == ("description",)


def test_the_data_of_survey_answered_is_pinned():
    survey = a_survey("s-1")
    [answered] = recorded(SurveyResponse.answer(
        "resp-1", survey, customer_id="cust-1", tier="standard", department_id="dept-1",
        channel="online",
        answers=[{"question_id": "q-quality", "value": 4}, {"question_id": "q-recommend", "value": 9}],
        comment="Good overall", occurred_at=T0, now=at(1)))

    assert serialized(answered.data()) == {
        "occurred_at": "2024-03-04T09:00:00+00:00",
        "response_id": "resp-1",
        "survey_id": "s-1",
        "customer_id": "cust-1",
        "tier": "standard",
        "department_id": "dept-1",
        "channel": "online",
        "answers": [
            {"question_id": "q-quality", "value": 4, "dimension": "product_quality",
             "scale": "likert5"},
            {"question_id": "q-recommend", "value": 9, "dimension": "recommendation",
             "scale": "nps10"},
        ],
        "comment": "Good overall",
    }
    assert type(answered).PERSONAL == ("comment",)


def test_event_data_leaves_out_the_envelope():
    [opened] = recorded(open_complaint())

    assert {"originator_id", "originator_version", "timestamp", "originator_topic"}.isdisjoint(
        opened.data())
