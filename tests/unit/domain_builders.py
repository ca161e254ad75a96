"""Builders for domain unit tests: fixed business times, default ids, aggregates in a given state.

Tests read Given / When / Then: `given(aggregate)` records its history (clears the
pending events), the test calls one command, and `recorded(aggregate)` returns the
events that command produced.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csm.domain.base import CsmAggregate, CsmEvent
from csm.domain.complaint import Complaint
from csm.domain.customer import Customer
from csm.domain.improvement import ImprovementAction
from csm.domain.policy import DEFAULT_RULES, PolicyRules
from csm.domain.revisit import Revisit
from csm.domain.survey import Survey

# A Monday morning; every time in the unit tests is an offset from it.
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def at(hours: float = 0, **more: float) -> datetime:
    """T0 plus some hours (and optionally minutes/seconds/days)."""
    return T0 + timedelta(hours=hours, **more)


def given(aggregate: CsmAggregate) -> Any:
    """The aggregate with its history already recorded: nothing pending."""
    aggregate.collect_events()
    return aggregate


def recorded(aggregate: CsmAggregate) -> list[CsmEvent]:
    """The events the last command(s) recorded."""
    return list(aggregate.collect_events())


def types_of(events: list[CsmEvent]) -> list[str]:
    return [type(e).TYPE for e in events]


# -- complaints ----------------------------------------------------------------
# The times at which `complaint_in` drives a complaint; on time for every severity
# but critical high-value (1 h to acknowledge), so no breach appears by accident.
ACK_AT = at(0.5)
RESOLVE_AT = at(2)
CLOSE_AT = at(3)
REOPEN_AT = at(4)


def open_complaint(complaint_id: str = "c-1", *, severity: str = "medium",
                   high_value: bool = False, rules: PolicyRules = DEFAULT_RULES,
                   policy_version: int = 1, occurred_at: datetime = T0,
                   now: datetime | None = None, customer_id: str | None = "cust-1",
                   department_id: str = "dept-1", channel: str = "web",
                   category: str | None = "billing", description: str | None = "Charged twice",
                   feedback_id: str | None = None) -> Complaint:
    return Complaint.open(
        complaint_id, customer_id=customer_id, high_value=high_value, channel=channel,
        department_id=department_id, category=category, severity=severity,
        description=description, feedback_id=feedback_id, rules=rules,
        policy_version=policy_version, occurred_at=occurred_at,
        now=occurred_at if now is None else now)


def complaint_in(status: str, **open_args: Any) -> Complaint:
    """A complaint driven (on time) to `status`, with its events already recorded."""
    c = open_complaint(**open_args)
    if status in ("acknowledged", "resolved", "closed", "reopened"):
        c.acknowledge("agent-1", ACK_AT, ACK_AT)
    if status in ("resolved", "closed", "reopened"):
        c.resolve("Refunded", "agent-1", RESOLVE_AT, RESOLVE_AT)
    if status == "closed":
        c.close(True, 5, CLOSE_AT, CLOSE_AT)
    if status == "reopened":
        c.reopen("Still charged twice", DEFAULT_RULES, 1, REOPEN_AT, REOPEN_AT)
    assert c.status == status
    return given(c)


def escalated_to(c: Complaint, level: int, when: datetime = ACK_AT) -> Complaint:
    for _ in range(level):
        c.escalate("customer is angry", when, when)
    return given(c)


# -- customers, surveys, revisits, improvement actions --------------------------
def a_customer(customer_id: str = "cust-1", tier: str = "standard") -> Customer:
    return Customer.register(customer_id, "Ada Lovelace", "ada@example.org", "+44 20 7946 0000",
                             tier, "retail", T0)


def question(question_id: str, scale: str, dimension: str = "product_quality",
             text: str = "How satisfied are you?") -> dict[str, Any]:
    return {"question_id": question_id, "text": text, "dimension": dimension, "scale": scale}


QUESTIONS = [
    question("q-quality", "likert5", "product_quality"),
    question("q-recommend", "nps10", "recommendation"),
    question("q-expect", "expectation5", "experience"),
    question("q-rival", "competitor5", "price_value"),
]


def a_survey(survey_id: str = "s-1", questions: list[dict[str, Any]] | None = None) -> Survey:
    return Survey.create(survey_id, "After purchase", "event",
                         list(QUESTIONS if questions is None else questions), T0)


def a_revisit(revisit_id: str = "r-1") -> Revisit:
    return Revisit.schedule(revisit_id, customer_id="cust-1", department_id="dept-1",
                            reason="complaint_followup", complaint_id="c-1", due_at=at(72),
                            cause_event_id="c-1@4", occurred_at=T0, now=T0)


def an_improvement_action(action_id: str = "ia-1") -> ImprovementAction:
    return ImprovementAction.raise_action(action_id, department_id="dept-1",
                                          title="Fix double charging", source_ids=["c-1", "c-2"],
                                          due_at=at(24 * 30), now=T0)
