"""A complaint's lifecycle: open → acknowledged → resolved → closed, with reopen, escalation
and waits on the customer.

Due times come from the policy in force when they are set (opening, reopen, the customer's
reply) — its SLA hours on the business calendar of the owning department — and are written
into the events, so history never depends on a later policy or a recomputed calendar.
While the complaint awaits the customer the resolve clock stands still: the reply moves
`resolve_due` later by the open time that passed meanwhile (nothing, if the wait began after
the due time had passed). A late acknowledge/resolve records `complaint.sla_breached` just
before its own event, once per due time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from csm.domain import calendars
from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent, event_id
from csm.domain.errors import InvalidInput, InvalidTransition
from csm.domain.policy import DEFAULT_RULES, PolicyRules
from csm.domain.thresholds import acknowledge_overdue, resolve_overdue
from csm.domain.values import MAX_ESCALATION_LEVEL


class Complaint(CsmAggregate):
    class Event(CsmEvent):
        pass

    class Opened(CsmCreated, Event):
        TYPE = "complaint.opened"
        PERSONAL = ("description",)
        complaint_id: str
        customer_id: str | None
        channel: str
        department_id: str
        category: str | None
        severity: str
        description: str | None
        high_value: bool
        acknowledge_due: datetime
        resolve_due: datetime
        policy_version: int
        feedback_id: str | None

        def apply(self, c: "Complaint") -> None:
            c.status, c.level, c.handler = "open", 0, None
            c.customer_id, c.department_id = self.customer_id, self.department_id
            c.severity, c.high_value = self.severity, self.high_value
            c.opened_at = self.occurred_at
            c.acknowledge_due, c.resolve_due = self.acknowledge_due, self.resolve_due
            c.due_recorded_at = self.timestamp
            c.breached = []
            c.reopen_count = 0
            c.waiting_since, c.status_before_wait = None, None

    class Acknowledged(Event):
        TYPE = "complaint.acknowledged"
        department_id: str
        by: str | None

        def apply(self, c: "Complaint") -> None:
            c.status = "acknowledged"

    class Assigned(Event):
        TYPE = "complaint.assigned"
        department_id: str
        previous_department_id: str
        handler: str

        def apply(self, c: "Complaint") -> None:
            c.department_id, c.handler = self.department_id, self.handler

    class Escalated(Event):
        TYPE = "complaint.escalated"
        department_id: str
        reason: str
        level: int
        cause_event_id: str | None

        def apply(self, c: "Complaint") -> None:
            c.level = self.level

    class SlaBreached(Event):
        TYPE = "complaint.sla_breached"
        department_id: str
        which: str
        due: datetime
        detected_by: str

        def apply(self, c: "Complaint") -> None:
            c.breached = [*c.breached, _breach_key(self.which, self.due)]

    class Resolved(Event):
        TYPE = "complaint.resolved"
        department_id: str
        resolution: str
        by: str | None
        resolve_due: datetime
        on_time: bool

        def apply(self, c: "Complaint") -> None:
            c.status = "resolved"

    class Reopened(Event):
        TYPE = "complaint.reopened"
        PERSONAL = ("reason",)
        department_id: str
        customer_id: str | None
        reason: str
        resolve_due: datetime
        policy_version: int

        def apply(self, c: "Complaint") -> None:
            c.status, c.resolve_due = "reopened", self.resolve_due
            c.due_recorded_at = self.timestamp
            c.reopen_count += 1

    class AwaitingCustomer(Event):
        TYPE = "complaint.awaiting_customer"
        PERSONAL = ("reason",)
        department_id: str
        reason: str

        def apply(self, c: "Complaint") -> None:
            c.status_before_wait, c.status = c.status, "awaiting_customer"
            c.waiting_since = self.occurred_at

    class CustomerReplied(Event):
        TYPE = "complaint.customer_replied"
        department_id: str
        waiting_since: datetime
        waited_seconds: float  # the open time that passed while waiting, by which the due moved
        resolve_due: datetime
        policy_version: int

        def apply(self, c: "Complaint") -> None:
            c.status, c.resolve_due = c.status_before_wait, self.resolve_due
            c.waiting_since, c.status_before_wait = None, None
            c.due_recorded_at = self.timestamp

    class Closed(Event):
        TYPE = "complaint.closed"
        department_id: str
        customer_satisfied: bool | None
        satisfaction: int | None

        def apply(self, c: "Complaint") -> None:
            c.status = "closed"

    # State is set by the events' apply(); the library turns class annotations into __init__ args.

    @classmethod
    def open(cls, complaint_id: str, *, customer_id: str | None, high_value: bool, channel: str,
             department_id: str, category: str | None, severity: str, description: str | None,
             feedback_id: str | None, rules: PolicyRules, policy_version: int,
             occurred_at: datetime, now: datetime) -> "Complaint":
        return cls._start(
            cls.Opened, complaint_id, now, occurred_at, complaint_id=complaint_id,
            customer_id=customer_id, channel=channel, department_id=department_id,
            category=category, severity=severity, description=description,
            high_value=high_value,
            acknowledge_due=rules.acknowledge_due(severity, high_value, occurred_at,
                                                  department_id),
            resolve_due=rules.resolve_due(severity, high_value, occurred_at, department_id),
            policy_version=policy_version, feedback_id=feedback_id)

    def acknowledge(self, by: str | None, occurred_at: datetime, now: datetime) -> None:
        self._check_time(occurred_at)
        if self.status != "open":
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; only an open complaint can be acknowledged")
        self._breach_if_late("acknowledge", self.acknowledge_due, occurred_at, now)
        self._record(self.Acknowledged, now, occurred_at, department_id=self.department_id, by=by)

    def assign(self, department_id: str, handler: str, occurred_at: datetime, now: datetime) -> None:
        self._check_time(occurred_at)
        self._refuse_when_finished("assigned")
        self._record(self.Assigned, now, occurred_at, department_id=department_id,
                     previous_department_id=self.department_id, handler=handler)

    def escalate(self, reason: str, occurred_at: datetime, now: datetime,
                 cause_event_id: str | None = None) -> None:
        self._check_time(occurred_at)
        self._refuse_when_finished("escalated")
        if self.level >= MAX_ESCALATION_LEVEL:
            raise InvalidTransition(
                f"complaint '{self.id}' is already at the highest escalation level "
                f"({MAX_ESCALATION_LEVEL})")
        self._record(self.Escalated, now, occurred_at, department_id=self.department_id,
                     reason=reason, level=self.level + 1, cause_event_id=cause_event_id)

    def resolve(self, resolution: str, by: str | None, occurred_at: datetime, now: datetime,
                rules: PolicyRules = DEFAULT_RULES) -> None:
        """Resolves; while awaiting the customer, judged against `resolve_due` extended by the
        wait so far on the calendar of `rules`, the policy in force."""
        self._check_time(occurred_at)
        if self.status not in ("acknowledged", "reopened", "awaiting_customer"):
            hint = " (acknowledge it first)" if self.status == "open" else ""
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; only an acknowledged, reopened or "
                f"awaiting_customer complaint can be resolved{hint}")
        due = self._due_after_wait(rules, occurred_at)[0] if self.waiting_since else \
            self.resolve_due
        self._breach_if_late("resolve", due, occurred_at, now)
        self._record(self.Resolved, now, occurred_at, department_id=self.department_id,
                     resolution=resolution, by=by, resolve_due=due, on_time=occurred_at <= due)

    def await_customer(self, reason: str, occurred_at: datetime, now: datetime) -> None:
        """The resolve clock stops until the customer replies (or the complaint is resolved)."""
        self._check_time(occurred_at)
        if self.status not in ("acknowledged", "reopened"):
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; only an acknowledged or reopened "
                "complaint can wait on the customer")
        self._record(self.AwaitingCustomer, now, occurred_at, department_id=self.department_id,
                     reason=reason)

    def customer_replied(self, rules: PolicyRules, policy_version: int, occurred_at: datetime,
                         now: datetime) -> None:
        """The clock runs again; `resolve_due` moves later by the open time spent waiting."""
        self._check_time(occurred_at)
        if self.status != "awaiting_customer":
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; only a complaint awaiting the "
                "customer can take the customer's reply")
        if occurred_at < self.waiting_since:
            raise InvalidInput(
                f"occurred_at {occurred_at.isoformat()} lies before complaint '{self.id}' began "
                f"to wait on the customer ({self.waiting_since.isoformat()})",
                loc=("occurred_at",))
        due, waited = self._due_after_wait(rules, occurred_at)
        self._record(self.CustomerReplied, now, occurred_at, department_id=self.department_id,
                     waiting_since=self.waiting_since, waited_seconds=waited.total_seconds(),
                     resolve_due=due, policy_version=policy_version)

    def _due_after_wait(self, rules: PolicyRules, until: datetime) -> tuple[datetime, timedelta]:
        """`resolve_due` moved by the open time from the start of the wait to `until` (on the
        calendar in force now), and that time; a wait begun after the due changes nothing."""
        if self.waiting_since >= self.resolve_due or until <= self.waiting_since:
            return self.resolve_due, timedelta(0)
        calendar = rules.calendar(self.severity, self.department_id)
        waited = calendars.open_between(calendar, self.waiting_since, until)
        return calendars.add(calendar, self.resolve_due, waited), waited

    def reopen(self, reason: str, rules: PolicyRules, policy_version: int,
               occurred_at: datetime, now: datetime) -> None:
        self._check_time(occurred_at)
        if self.status not in ("resolved", "closed"):
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; only a resolved or closed complaint "
                "can be reopened")
        self._record(self.Reopened, now, occurred_at, department_id=self.department_id,
                     customer_id=self.customer_id, reason=reason,
                     resolve_due=rules.resolve_due(self.severity, self.high_value, occurred_at,
                                                   self.department_id),
                     policy_version=policy_version)

    def close(self, customer_satisfied: bool | None, satisfaction: int | None,
              occurred_at: datetime, now: datetime) -> None:
        self._check_time(occurred_at)
        if self.status != "resolved":
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; only a resolved complaint can be closed")
        self._record(self.Closed, now, occurred_at, department_id=self.department_id,
                     customer_satisfied=customer_satisfied, satisfaction=satisfaction)

    def missed_deadlines(self, now: datetime, grace: timedelta) -> list[tuple[str, datetime]]:
        """Due times passed with nothing meeting them, once the grace after recording is over."""
        if now - self.due_recorded_at <= grace:
            return []
        missed = []
        if acknowledge_overdue(self.status, self.acknowledge_due, now):
            missed.append(("acknowledge", self.acknowledge_due))
        if resolve_overdue(self.status, self.resolve_due, now):
            missed.append(("resolve", self.resolve_due))
        return [(w, d) for w, d in missed if _breach_key(w, d) not in self.breached]

    def record_missed_deadline(self, which: str, due: datetime, now: datetime) -> None:
        """The deadline watcher's breach: at the missed due time, escalating on a resolve breach."""
        if _breach_key(which, due) in self.breached:
            return
        self._record(self.SlaBreached, now, due, department_id=self.department_id,
                     which=which, due=due, detected_by="watcher")
        if which == "resolve" and self.level < MAX_ESCALATION_LEVEL:
            self._record(self.Escalated, now, due, department_id=self.department_id,
                         reason="sla_breach", level=self.level + 1,
                         cause_event_id=event_id(self.id, self.version))

    def _breach_if_late(self, which: str, due: datetime, occurred_at: datetime, now: datetime) -> None:
        if occurred_at > due and _breach_key(which, due) not in self.breached:
            self._record(self.SlaBreached, now, due, department_id=self.department_id,
                         which=which, due=due, detected_by="command")

    def _refuse_when_finished(self, verb: str) -> None:
        if self.status in ("resolved", "closed"):
            raise InvalidTransition(
                f"complaint '{self.id}' is {self.status}; it can no longer be {verb} "
                "(reopen it first)")

    def _check_time(self, occurred_at: datetime) -> None:
        if occurred_at < self.opened_at:
            raise InvalidInput(
                f"occurred_at {occurred_at.isoformat()} lies before complaint '{self.id}' was "
                f"opened ({self.opened_at.isoformat()})", loc=("occurred_at",))


def _breach_key(which: str, due: datetime) -> str:
    return f"{which}@{due.isoformat()}"
