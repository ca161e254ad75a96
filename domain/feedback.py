"""A feedback item from any channel: praise, suggestion, criticism, inquiry or complaint."""
from __future__ import annotations

from datetime import datetime

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent


class Feedback(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Submitted(CsmCreated, Event):
        TYPE = "feedback.submitted"
        PERSONAL = ("text",)
        feedback_id: str
        customer_id: str | None
        channel: str
        kind: str
        department_id: str | None
        category: str | None
        rating: int | None
        text: str | None
        severity: str | None
        complaint_id: str | None

        def apply(self, f: "Feedback") -> None:
            f.kind, f.customer_id, f.complaint_id = self.kind, self.customer_id, self.complaint_id


    @classmethod
    def submit(cls, feedback_id: str, *, customer_id: str | None, channel: str, kind: str,
               department_id: str | None, category: str | None, rating: int | None,
               text: str | None, severity: str | None, complaint_id: str | None,
               occurred_at: datetime, now: datetime) -> "Feedback":
        return cls._start(cls.Submitted, feedback_id, now, occurred_at, feedback_id=feedback_id,
                          customer_id=customer_id, channel=channel, kind=kind,
                          department_id=department_id, category=category, rating=rating,
                          text=text, severity=severity, complaint_id=complaint_id)
