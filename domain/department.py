"""A department: owns complaints and actions, earns points, has a satisfaction target."""
from __future__ import annotations

from datetime import datetime

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent


class Department(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Registered(CsmCreated, Event):
        TYPE = "department.registered"
        department_id: str
        name: str
        satisfaction_target: float

        def apply(self, d: "Department") -> None:
            d.name, d.satisfaction_target = self.name, self.satisfaction_target


    @classmethod
    def register(cls, department_id: str, name: str, satisfaction_target: float,
                 now: datetime) -> "Department":
        return cls._start(cls.Registered, department_id, now, now, department_id=department_id,
                          name=name, satisfaction_target=satisfaction_target)
