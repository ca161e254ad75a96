"""The service layer on the library's in-memory persistence: handler tests without a database."""
from __future__ import annotations

from typing import Any

from csm.domain import commands as c
from csm.domain.csm import CsmApplication
from csm.domain.policy import DEFAULT_RULES
from tests.unit.domain_builders import QUESTIONS, T0


def in_memory_app() -> CsmApplication:
    return CsmApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def stream_types(app: CsmApplication, stream_id: str) -> list[str]:
    return [type(e).TYPE for e in app.events.get(stream_id)]


def with_basics(app: CsmApplication, **followups: Any) -> CsmApplication:
    """A department, a customer and a survey; the policy's follow-ups as given."""
    rules = DEFAULT_RULES.model_copy(
        update={"followups": DEFAULT_RULES.followups.model_copy(update=followups)})
    app.handle(c.PublishPolicy(rules=rules, by="admin", now=T0))
    app.handle(c.RegisterDepartment(department_id="dept-1", name="Service",
                                    satisfaction_target=80, now=T0))
    app.handle(c.RegisterCustomer(customer_id="cust-1", name="Ada Lovelace",
                                  email="ada@example.org", phone=None, tier="standard",
                                  segment=None, now=T0))
    app.handle(c.CreateSurvey(survey_id="s-1", name="After purchase", trigger="event",
                              questions=list(QUESTIONS), now=T0))
    return app


def opened(app: CsmApplication, complaint_id: str = "c-1", severity: str = "medium") -> Any:
    return app.handle(c.OpenComplaint(
        complaint_id=complaint_id, customer_id="cust-1", channel="web", department_id="dept-1",
        category="billing", severity=severity, description="Charged twice", occurred_at=T0,
        now=T0))
