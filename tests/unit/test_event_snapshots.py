"""Pins the serialized form of events consumers rely on, so a schema drift is seen.

A failure here means an event's fields or stored name changed: fields need a new
`class_version` with an upcaster, a stored name never changes (a new one keeps the
old in domain/event_types.py), so neither is fixed by editing an expected value below.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent

from csm.domain.base import CsmEvent
from csm.domain.complaint import Complaint
from csm.domain.csm import CsmApplication  # imports every module that declares events
from csm.domain.event_types import AGGREGATES, LEGACY_TOPICS, TOPIC_OF, declared_events
from csm.domain.policy import DEFAULT_RULES, Policy
from csm.domain.survey import SurveyResponse
from csm.infra.personal_data import PersonalDataMapper
from tests.unit.domain_builders import (
    T0,
    a_survey,
    at,
    complaint_in,
    open_complaint,
    recorded,
)

# None of the events mapped below carries personal data, so no key is ever needed.
MAPPER = PersonalDataMapper(CsmApplication().construct_transcoder(), keys=None)


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


def test_events_are_stored_under_their_type():
    [opened] = recorded(open_complaint(description=None))
    complaint = complaint_in("acknowledged", severity="critical")
    complaint.record_missed_deadline("resolve", complaint.resolve_due, at(30))
    breached, escalated = recorded(complaint)
    policy = Policy.publish_first(DEFAULT_RULES, "admin", T0)
    policy.publish(DEFAULT_RULES, "admin", at(1))
    published, republished = recorded(policy)

    assert [MAPPER.to_stored_event(e).topic for e in
            (opened, breached, escalated, published, republished)] == [
        "complaint.opened", "complaint.sla_breached", "complaint.escalated",
        "policy.published", "policy.republished"]
    assert type(republished).TYPE == "policy.published"


def test_a_created_event_is_stored_without_the_path_of_its_aggregate_and_rebuilds_it():
    [opened] = recorded(open_complaint("c-9", description=None))
    stored = MAPPER.to_stored_event(opened)

    assert b"originator_topic" not in stored.state
    complaint = MAPPER.to_domain_event(stored).mutate(None)
    assert (type(complaint), complaint.id, complaint.status) == (Complaint, "c-9", "open")


def test_a_row_of_the_previous_release_loads_whatever_path_its_aggregate_had():
    [opened] = recorded(open_complaint("c-7", description=None))
    state = MAPPER.transcoder.decode(MAPPER.to_stored_event(opened).state)
    # As commit 3b53c04 stored it, but naming an aggregate path that no longer imports,
    # as every path will once the modules move.
    state["originator_topic"] = "moved.away:Complaint"
    row = StoredEvent("c-7", 1, "domain.complaint:Complaint.Opened",
                      MAPPER.transcoder.encode(state))

    event = MAPPER.to_domain_event(row)
    assert (type(event), event.data()) == (Complaint.Opened, opened.data())
    assert event.mutate(None).status == "open"


def test_every_event_class_of_the_domain_is_stored_under_a_name_of_its_own():
    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]
    concrete = {c for c in subclasses(CsmEvent) if "TYPE" in vars(c)}

    assert concrete == set(TOPIC_OF) == {c for a in AGGREGATES for c in declared_events(a)}
    assert len(set(TOPIC_OF.values())) == len(TOPIC_OF)
    assert set(LEGACY_TOPICS.values()) <= set(TOPIC_OF.values())
