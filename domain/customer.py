"""A customer: personal data (encrypted at rest) and the tier that shortens SLAs."""
from __future__ import annotations

from datetime import datetime

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.errors import InvalidTransition


class Customer(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Registered(CsmCreated, Event):
        TYPE = "customer.registered"
        PERSONAL = ("name", "email", "phone")
        customer_id: str
        name: str | None
        email: str | None
        phone: str | None
        tier: str
        segment: str | None

        def apply(self, c: "Customer") -> None:
            c.name, c.email, c.phone = self.name, self.email, self.phone
            c.tier, c.segment, c.erased = self.tier, self.segment, False

    class Erased(Event):
        TYPE = "customer.erased"
        customer_id: str
        reason: str | None

        def apply(self, c: "Customer") -> None:
            c.erased = True
            c.name = c.email = c.phone = None


    class Invited(Event):
        TYPE = "customer.invited"
        customer_id: str
        survey_id: str
        cause_event_id: str | None

        def apply(self, c: "Customer") -> None:
            c.invited_at = [*getattr(c, "invited_at", [])[-49:], self.timestamp.isoformat()]

    @property
    def high_value(self) -> bool:
        return self.tier == "high_value"

    @classmethod
    def register(cls, customer_id: str, name: str, email: str | None, phone: str | None,
                 tier: str, segment: str | None, now: datetime) -> "Customer":
        return cls._start(cls.Registered, customer_id, now, now, customer_id=customer_id,
                          name=name, email=email, phone=phone, tier=tier, segment=segment)

    def invitations_since(self, since: datetime) -> int:
        """How many survey invitations reached this customer since a moment."""
        return sum(1 for at in getattr(self, "invited_at", []) if datetime.fromisoformat(at) > since)

    def invite(self, survey_id: str, now: datetime, cause_event_id: str | None = None) -> None:
        self._record(self.Invited, now, now, customer_id=self.id, survey_id=survey_id,
                     cause_event_id=cause_event_id)

    def erase(self, reason: str | None, now: datetime) -> None:
        if self.erased:
            raise InvalidTransition(f"customer '{self.id}' has already been erased")
        self._record(self.Erased, now, now, customer_id=self.id, reason=reason)

    def ensure_active(self) -> None:
        if self.erased:
            raise InvalidTransition(
                f"customer '{self.id}' has been erased; nothing more can be recorded for them")
