"""An improvement action (改进措施): raised, completed, then verified effective or not."""
from __future__ import annotations

from datetime import datetime

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.errors import InvalidTransition


class ImprovementAction(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Raised(CsmCreated, Event):
        TYPE = "improvement.raised"
        action_id: str
        department_id: str
        title: str
        source_ids: list[str]
        due_at: datetime
        cause_event_id: str | None

        def apply(self, a: "ImprovementAction") -> None:
            a.status, a.department_id = "raised", self.department_id

    class Completed(Event):
        TYPE = "improvement.completed"
        department_id: str

        def apply(self, a: "ImprovementAction") -> None:
            a.status = "completed"

    class Verified(Event):
        TYPE = "improvement.verified"
        department_id: str
        effective: bool

        def apply(self, a: "ImprovementAction") -> None:
            a.status = "verified"


    @classmethod
    def raise_action(cls, action_id: str, *, department_id: str, title: str,
                     source_ids: list[str], due_at: datetime, now: datetime,
                     cause_event_id: str | None = None) -> "ImprovementAction":
        return cls._start(cls.Raised, action_id, now, now, action_id=action_id,
                          department_id=department_id, title=title, source_ids=source_ids,
                          due_at=due_at, cause_event_id=cause_event_id)

    def complete(self, now: datetime) -> None:
        if self.status != "raised":
            raise InvalidTransition(f"improvement action '{self.id}' is already {self.status}")
        self._record(self.Completed, now, now, department_id=self.department_id)

    def verify(self, effective: bool, now: datetime) -> None:
        if self.status != "completed":
            raise InvalidTransition(
                f"improvement action '{self.id}' is {self.status}; only a completed action can "
                "be verified")
        self._record(self.Verified, now, now, department_id=self.department_id, effective=effective)
