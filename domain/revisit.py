"""A follow-up contact with a customer (回访): scheduled, then completed once."""
from __future__ import annotations

from datetime import datetime

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.errors import InvalidTransition


class Revisit(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Scheduled(CsmCreated, Event):
        TYPE = "revisit.scheduled"
        revisit_id: str
        customer_id: str
        department_id: str
        reason: str
        complaint_id: str | None
        due_at: datetime
        cause_event_id: str | None

        def apply(self, r: "Revisit") -> None:
            r.customer_id, r.department_id, r.completed = self.customer_id, self.department_id, False

    class Completed(Event):
        TYPE = "revisit.completed"
        PERSONAL = ("notes",)
        customer_id: str
        department_id: str
        outcome: str
        satisfaction: int | None
        notes: str | None

        def apply(self, r: "Revisit") -> None:
            r.completed = True


    @classmethod
    def schedule(cls, revisit_id: str, *, customer_id: str, department_id: str, reason: str,
                 complaint_id: str | None, due_at: datetime, cause_event_id: str | None,
                 occurred_at: datetime, now: datetime) -> "Revisit":
        return cls._start(cls.Scheduled, revisit_id, now, occurred_at, revisit_id=revisit_id,
                          customer_id=customer_id, department_id=department_id, reason=reason,
                          complaint_id=complaint_id, due_at=due_at, cause_event_id=cause_event_id)

    def complete(self, outcome: str, satisfaction: int | None, notes: str | None,
                 occurred_at: datetime, now: datetime) -> None:
        if self.completed:
            raise InvalidTransition(f"revisit '{self.id}' has already been completed")
        self._record(self.Completed, now, occurred_at, customer_id=self.customer_id,
                     department_id=self.department_id, outcome=outcome,
                     satisfaction=satisfaction, notes=notes)
