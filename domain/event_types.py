"""Every event class by the name it is stored under, and by the names older releases used.

The `topic` column of the events table names the class of each stored event. Up to
commit 3b53c04 that was the class's Python path (`domain.complaint:Complaint.Opened`),
which moving a module would orphan; an event is now stored under its `TYPE`
(`complaint.opened`), which no refactoring changes. Stored rows are never rewritten
(the hash chain covers their topic), so `LEGACY_TOPICS` keeps every path that was
written, as plain text bound to today's name: it still resolves once the classes
live elsewhere.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.complaint import Complaint
from csm.domain.customer import Customer
from csm.domain.department import Department
from csm.domain.feedback import Feedback
from csm.domain.improvement import ImprovementAction
from csm.domain.policy import Policy
from csm.domain.revisit import Revisit
from csm.domain.survey import Survey, SurveyResponse

AGGREGATES: tuple[type[CsmAggregate], ...] = (
    Complaint, Customer, Department, Feedback, ImprovementAction, Policy, Revisit, Survey,
    SurveyResponse)

# Policy.Republished shares its TYPE with Policy.Published: readers see one kind of
# event (a policy version was published), while the store needs one name per class.
STORED_AS_OTHER_THAN_TYPE: Mapping[type[CsmEvent], str] = MappingProxyType({
    Policy.Republished: "policy.republished"})

LEGACY_TOPICS: Mapping[str, str] = MappingProxyType({
    "domain.complaint:Complaint.Opened": "complaint.opened",
    "domain.complaint:Complaint.Acknowledged": "complaint.acknowledged",
    "domain.complaint:Complaint.Assigned": "complaint.assigned",
    "domain.complaint:Complaint.Escalated": "complaint.escalated",
    "domain.complaint:Complaint.SlaBreached": "complaint.sla_breached",
    "domain.complaint:Complaint.Resolved": "complaint.resolved",
    "domain.complaint:Complaint.Reopened": "complaint.reopened",
    "domain.complaint:Complaint.Closed": "complaint.closed",
    "domain.customer:Customer.Registered": "customer.registered",
    "domain.customer:Customer.Erased": "customer.erased",
    "domain.customer:Customer.Invited": "customer.invited",
    "domain.department:Department.Registered": "department.registered",
    "domain.feedback:Feedback.Submitted": "feedback.submitted",
    "domain.improvement:ImprovementAction.Raised": "improvement.raised",
    "domain.improvement:ImprovementAction.Completed": "improvement.completed",
    "domain.improvement:ImprovementAction.Verified": "improvement.verified",
    "domain.policy:Policy.Published": "policy.published",
    "domain.policy:Policy.Republished": "policy.republished",
    "domain.revisit:Revisit.Scheduled": "revisit.scheduled",
    "domain.revisit:Revisit.Completed": "revisit.completed",
    "domain.survey:Survey.Created": "survey.created",
    "domain.survey:Survey.InvitationsSent": "survey.invitations_sent",
    "domain.survey:SurveyResponse.Answered": "survey.answered",
})


class UnknownEventTopic(LookupError):
    """A stored topic that names no event class of this release."""


def declared_events(aggregate: type[CsmAggregate]) -> list[type[CsmEvent]]:
    """The event classes an aggregate declares (those with a TYPE of their own)."""
    return [v for v in vars(aggregate).values()
            if isinstance(v, type) and issubclass(v, CsmEvent) and "TYPE" in vars(v)]


def _registry() -> tuple[dict[type[CsmEvent], str], dict[str, type[CsmEvent]],
                         dict[type[CsmEvent], type[CsmAggregate]]]:
    topic_of, by_topic, aggregate_of = {}, {}, {}
    for aggregate in AGGREGATES:
        for cls in declared_events(aggregate):
            topic = STORED_AS_OTHER_THAN_TYPE.get(cls, cls.TYPE)
            if topic in by_topic:
                raise TypeError(f"{by_topic[topic].__qualname__} and {cls.__qualname__} would "
                                f"both be stored as {topic!r}; give one a name of its own")
            topic_of[cls], by_topic[topic] = topic, cls
            if issubclass(cls, CsmCreated):
                aggregate_of[cls] = aggregate
    for legacy, topic in LEGACY_TOPICS.items():
        by_topic[legacy] = by_topic[topic]
    return topic_of, by_topic, aggregate_of


_TOPIC_OF, _BY_TOPIC, _AGGREGATE_OF = _registry()
TOPIC_OF: Mapping[type[CsmEvent], str] = MappingProxyType(_TOPIC_OF)
EVENT_CLASSES: Mapping[str, type[CsmEvent]] = MappingProxyType(_BY_TOPIC)
AGGREGATE_OF: Mapping[type[CsmEvent], type[CsmAggregate]] = MappingProxyType(_AGGREGATE_OF)


def event_class(topic: str) -> type[CsmEvent]:
    """The class of a stored event, whether its topic is an event type or a legacy path."""
    try:
        return EVENT_CLASSES[topic]
    except KeyError:
        raise UnknownEventTopic(f"no event class is stored as {topic!r}") from None


def stored_topic(cls: type) -> str:
    """The topic an event of this class is stored under."""
    try:
        return TOPIC_OF[cls]
    except KeyError:
        raise UnknownEventTopic(f"{cls.__qualname__} is not a registered event class; "
                                f"declare it in one of {[a.__name__ for a in AGGREGATES]}"
                                ) from None
