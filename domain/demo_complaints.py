"""The complaints of the demo year: each one walks its lifecycle one step at a time.

Every step gives the command and applies the same change to a copy of the complaint kept
here (the real aggregate, in memory), so the story knows what the application will know:
due times, status, escalation level, the version a resolution is recorded at (which names
its follow-up revisit) and the breaches the deadline watcher would find.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from csm.domain import commands as c
from csm.domain.complaint import Complaint
from csm.domain.demo_cast import (DESCRIPTIONS, ESCALATION_REASONS, REOPEN_REASONS,
                                  RESOLUTIONS, SEVERITIES, WAIT_REASONS, DemoCustomer,
                                  DemoDepartment)
from csm.domain.values import MAX_ESCALATION_LEVEL, derived_id

MIN_GAP = timedelta(minutes=5)
WATCHER_GRACE = timedelta(minutes=5)
WATCHER_DELAY = timedelta(minutes=7)  # how long after a due time the watcher notices it
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass
class Case:
    """A complaint of the story: the in-memory complaint and what the story remembers."""
    c: Complaint
    dep: DemoDepartment
    customer: DemoCustomer | None
    waited: bool = False
    escalations: int = 0
    reopens: int = 0

    @property
    def id(self) -> str:
        return self.c.id


class ComplaintSteps:
    """The complaint steps of the story (mixed into it: uses its rng, clock and output)."""

    def open_complaint(self, at: datetime, dep: DemoDepartment) -> None:
        rng = self.rng
        customer = self.pick_customer() if rng.random() < 0.96 else None
        severity = self.weighted(SEVERITIES)
        category = rng.choice(dep.categories)
        text, occurred = DESCRIPTIONS[category], self.occurred(at)
        if customer is not None and rng.random() < 0.35:
            feedback_id = self.new_id("f")
            complaint_id, channel = derived_id(feedback_id, "complaint"), self.channel(dep)
            self.emit(c.SubmitFeedback(
                feedback_id=feedback_id, customer_id=customer.id, channel=channel,
                kind="complaint", department_id=dep.id, category=category,
                rating=rng.choice((1, 1, 2)), text=text, severity=severity, complaint_id=None,
                occurred_at=occurred, now=at))
        else:
            feedback_id, complaint_id = None, self.new_id("k")
            channel = rng.choice(("hotline", "hotline", "store", "email", self.channel(dep)))
            self.emit(c.OpenComplaint(
                complaint_id=complaint_id, customer_id=customer and customer.id,
                channel=channel, department_id=dep.id, category=category, severity=severity,
                description=text, occurred_at=occurred, now=at))
        shadow = Complaint.open(
            complaint_id, customer_id=customer and customer.id,
            high_value=bool(customer and customer.high_value), channel=channel,
            department_id=dep.id, category=category, severity=severity, description=text,
            feedback_id=feedback_id, rules=self.rules, policy_version=0,
            occurred_at=occurred, now=at)
        case = Case(shadow, dep, customer)
        self.recent[dep.id].append(complaint_id)
        self.watch(case, at)
        if rng.random() < 0.012:
            return  # nobody ever picks it up: it ages in the backlog
        self.plan(self.when(at, shadow.acknowledge_due, dep.late[0]), self.acknowledge, case)

    # -- the steps ----------------------------------------------------------------------
    def acknowledge(self, at: datetime, case: Case) -> None:
        occurred, by = self.occurred(at), self.agent()
        case.c.acknowledge(by, occurred, at)
        self.emit(c.AcknowledgeComplaint(complaint_id=case.id, by=by, occurred_at=occurred,
                                         now=at))
        r = self.rng.random()
        if r < 0.6:
            self.plan(at + self.rng.uniform(0.2, 4) * HOUR, self.assign, case, r < 0.12)
        else:
            self.work(at, case)

    def assign(self, at: datetime, case: Case, elsewhere: bool) -> None:
        dep_id = self.other_department(case.c.department_id) if elsewhere else None
        occurred, handler = self.occurred(at), self.agent()
        case.c.assign(dep_id or case.c.department_id, handler, occurred, at)
        self.emit(c.AssignComplaint(complaint_id=case.id, department_id=dep_id,
                                    handler=handler, occurred_at=occurred, now=at))
        self.work(at, case)

    def work(self, at: datetime, case: Case) -> None:
        """Plans what happens next to a complaint being worked on."""
        r, x = self.rng.random(), case.c
        if x.level < MAX_ESCALATION_LEVEL and case.escalations < 2 and r < 0.09:
            self.plan(at + self.rng.uniform(2, 40) * HOUR, self.escalate, case)
        elif not case.waited and r < 0.25:
            self.plan(at + self.rng.uniform(1, 30) * HOUR, self.await_customer, case)
        else:
            self.plan(self.when(at, x.resolve_due, case.dep.late[1]), self.resolve, case)

    def escalate(self, at: datetime, case: Case) -> None:
        if case.c.level >= MAX_ESCALATION_LEVEL:
            return self.work(at, case)
        occurred, reason = self.occurred(at), self.rng.choice(ESCALATION_REASONS)
        case.c.escalate(reason, occurred, at)
        case.escalations += 1
        self.emit(c.EscalateComplaint(complaint_id=case.id, reason=reason, occurred_at=occurred,
                                      now=at))
        self.work(at, case)

    def await_customer(self, at: datetime, case: Case) -> None:
        occurred, reason = self.occurred(at), self.rng.choice(WAIT_REASONS)
        case.c.await_customer(reason, occurred, at)
        case.waited = True
        self.emit(c.AwaitCustomer(complaint_id=case.id, reason=reason, occurred_at=occurred,
                                  now=at))
        r = self.rng.random()
        if r < 0.82:
            self.plan(at + self.rng.uniform(3, 96) * HOUR, self.customer_replied, case)
        elif r < 0.96:  # the customer never answers: resolved as it is after a while
            self.plan(at + self.rng.uniform(5, 9) * DAY, self.resolve, case)

    def customer_replied(self, at: datetime, case: Case) -> None:
        occurred = self.occurred(at)
        case.c.customer_replied(self.rules, 0, occurred, at)
        self.emit(c.CustomerReplied(complaint_id=case.id, occurred_at=occurred, now=at))
        self.watch(case, at)
        self.work(at, case)

    def resolve(self, at: datetime, case: Case) -> None:
        x, occurred = case.c, self.occurred(at)
        resolution, by = self.rng.choice(RESOLUTIONS), self.agent()
        x.resolve(resolution, by, occurred, at, self.rules)
        on_time = x.pending_events[-1].on_time
        self.emit(c.ResolveComplaint(complaint_id=case.id, resolution=resolution, by=by,
                                     occurred_at=occurred, now=at))
        followups = self.rules.followups
        if followups.revisit_after_resolution and case.customer is not None:
            due = occurred + timedelta(days=followups.revisit_after_resolution_days)
            self.followup_revisit(derived_id("revisit", x.id, x.version), case.customer,
                                  x.department_id, due, at, 0.3 if on_time else -0.4)
        self.after_resolution(at, case, on_time)

    def after_resolution(self, at: datetime, case: Case, on_time: bool) -> None:
        rng = self.rng
        r = rng.random()
        if case.reopens < 2 and r < (0.07 if on_time else 0.16):
            self.plan(at + rng.uniform(6, 120) * HOUR, self.reopen, case)
        elif r < 0.82:
            mood = self.mood(case.c.department_id, at) + (0.3 if on_time else -0.5)
            satisfied = rng.random() < 0.6 + 0.3 * mood - 0.1 * case.c.level
            self.plan(at + rng.uniform(2, 96) * HOUR, self.close, case, satisfied)
        else:  # the customer never confirms: closed without their verdict after a while
            self.plan(at + rng.uniform(7, 14) * DAY, self.close, case, None)

    def close(self, at: datetime, case: Case, satisfied: bool | None) -> None:
        rng, occurred = self.rng, self.occurred(at)
        score = None
        if satisfied is not None and rng.random() < 0.9:
            score = rng.choice((4, 5, 5) if satisfied else (1, 2, 2, 3))
        case.c.close(satisfied, score, occurred, at)
        self.emit(c.CloseComplaint(complaint_id=case.id, customer_satisfied=satisfied,
                                   satisfaction=score, occurred_at=occurred, now=at))
        if case.reopens < 2 and rng.random() < (0.02 if satisfied is not False else 0.08):
            self.plan(at + rng.uniform(2, 20) * DAY, self.reopen, case)

    def reopen(self, at: datetime, case: Case) -> None:
        occurred, reason = self.occurred(at), self.rng.choice(REOPEN_REASONS)
        case.c.reopen(reason, self.rules, 0, occurred, at)
        case.reopens += 1
        self.emit(c.ReopenComplaint(complaint_id=case.id, reason=reason, occurred_at=occurred,
                                    now=at))
        self.watch(case, at)
        self.work(at, case)

    # -- the deadline watcher -----------------------------------------------------------
    def watch(self, case: Case, at: datetime) -> None:
        """The watcher looks shortly after each due time the complaint has now."""
        x = case.c
        if x.status == "open":
            self.plan(x.acknowledge_due + WATCHER_DELAY, self.scan, case)
        self.plan(max(x.resolve_due, at) + WATCHER_DELAY, self.scan, case)

    def scan(self, at: datetime, case: Case) -> None:
        missed = case.c.missed_deadlines(at, WATCHER_GRACE)
        if not missed:
            return
        for which, due in missed:
            case.c.record_missed_deadline(which, due, at)
        self.emit(c.RecordMissedDeadlines(complaint_id=case.id, grace=WATCHER_GRACE, now=at))

    # -- helpers ------------------------------------------------------------------------
    def when(self, since: datetime, due: datetime, late_share: float) -> datetime:
        """When the next step happens: before `due`, or (a `late_share` of the time, and
        whenever `due` is too close) after it."""
        rng = self.rng
        if due - since <= 2 * MIN_GAP or rng.random() < late_share:
            window = max(due - since, 2 * HOUR)
            at = max(due, since) + window * rng.uniform(0.05, 1.0)
        else:
            at = since + (due - since) * rng.uniform(0.1, 0.9)
        return max(at, since + MIN_GAP)
