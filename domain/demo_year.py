"""A year of demo data as commands: pure and deterministic, no I/O, no clock.

    for command in demo_year(seed=1, end=datetime(2026, 1, 31, tzinfo=UTC)): app.handle(command)

Six departments with satisfaction targets, six hundred customers (some high value),
feedback of every kind over every channel, complaints walking their lifecycles (late,
escalated, reassigned, reopened, waiting on the customer, closed satisfied or not, some
still open at `end`), a relationship survey sent in two waves and an after-service
survey sent every evening, follow-up revisits, improvement actions and a policy change in
the seventh month. Each department has a mood that drifts over the year (seasonal peaks,
an incident, improvement actions that work) and colours its scores and complaints.

Every record's next step is planned when the one before it happens and played from a heap
in time order, so the commands come out in the order a real system would have received
them (`now` never decreases); steps that would fall at or after `end` never happen.
The follow-ups the application makes itself (a revisit after each resolution and after a
low score) are not given as commands, but their completions are, under the ids the
application derives for them; the deadline watcher's breaches are given, at the moments it
would have found them. The complaint steps are in `demo_complaints.py`, the surveys,
revisits and actions in `demo_followups.py`, the data in `demo_cast.py`.
"""
from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

from csm.domain import commands as c
from csm.domain.demo_cast import (AFTER_SERVICE_SURVEY, AGENTS, DEPARTMENT, DEPARTMENTS,
                                  FEEDBACK_TEXTS, FIRST_POLICY, GIVEN_NAMES, INCIDENTS, PREFIX,
                                  RELATIONSHIP_SURVEY, SCRIPTED_ACTIONS, SECOND_POLICY,
                                  SECOND_POLICY_DAY, SEGMENTS, SURNAMES, WAVE_CHANNELS,
                                  WAVE_DAYS, DemoCustomer, DemoDepartment)
from csm.domain.demo_complaints import DAY, HOUR, ComplaintSteps
from csm.domain.demo_followups import FollowUpSteps
from csm.domain.policy import PolicyRules

YEAR = timedelta(days=365)
LOCAL = timezone(timedelta(hours=8))  # the business's own clock, for its opening hours
INITIAL_CUSTOMERS, LATER_CUSTOMERS = 520, 80
# How busy each local hour is (0–23), relative to the busiest.
HOURS = (0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.4, 0.8, 1, 1, 1, 0.8, 0.9, 1, 1, 0.9,
         0.8, 0.7, 0.6, 0.5, 0.35, 0.2, 0.08)


def demo_start(end: datetime) -> datetime:
    """The first moment of the demo year that ends at `end`."""
    return _utc(end) - YEAR


def demo_year(seed: int, end: datetime, *, rules_in_force: PolicyRules | None = None
              ) -> Iterator[c.Command]:
    """The commands of a year ending at `end` (aware), in the order they are received.

    `rules_in_force`: the policy the store already follows; then the demo publishes none
    and plans by those rules. The same arguments give the same commands.
    """
    return _Story(seed, _utc(end), rules_in_force).run()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("end must be an aware datetime (with an offset)")
    return moment.astimezone(UTC)


class _Story(ComplaintSteps, FollowUpSteps):
    def __init__(self, seed: int, end: datetime, rules_in_force: PolicyRules | None):
        self.rng = random.Random(seed)
        self.end, self.start = end, end - YEAR
        self.publishes = rules_in_force is None
        self.rules = rules_in_force or FIRST_POLICY
        self.heap: list[tuple[datetime, int, Callable[..., None], tuple]] = []
        self.seq, self.out, self.counters = 0, [], {}
        self.customers: list[DemoCustomer] = []
        self.jobs: list[tuple[DemoCustomer, str]] = []  # served today: invited tonight
        self.effects: dict[str, list[tuple[datetime, float]]] = {d.id: [] for d in DEPARTMENTS}
        self.recent: dict[str, deque] = {d.id: deque(maxlen=20) for d in DEPARTMENTS}

    def run(self) -> Iterator[c.Command]:
        self.plan(self.start, self.setup)
        while self.heap:
            at, _, step, args = heapq.heappop(self.heap)
            step(at, *args)
            yield from self.out
            self.out.clear()

    # -- plumbing -----------------------------------------------------------------------
    def plan(self, at: datetime, step: Callable[..., None], *args) -> None:
        at = at.replace(microsecond=0)
        if at < self.end:
            self.seq += 1
            heapq.heappush(self.heap, (at, self.seq, step, args))

    def emit(self, command: c.Command) -> None:
        self.out.append(command)

    def new_id(self, kind: str) -> str:
        self.counters[kind] = n = self.counters.get(kind, 0) + 1
        return f"{PREFIX}{kind}-{n:05d}"

    def occurred(self, at: datetime) -> datetime:
        """When something received at `at` happened: up to a minute and a half before."""
        return at - timedelta(seconds=self.rng.randint(0, 90))

    def day_at(self, day: int, hours: float = 0) -> datetime:
        return self.start + day * DAY + hours * HOUR

    def daytime(self, day_start: datetime) -> datetime:
        """A moment of the day, busier in the local opening hours."""
        while True:
            at = day_start + self.rng.uniform(0, 24) * HOUR
            if self.rng.random() < HOURS[at.astimezone(LOCAL).hour]:
                return at

    def weighted(self, pairs):
        return self.rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]

    def poisson(self, mean: float) -> int:
        limit, k, p = math.exp(-mean), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def pick_customer(self) -> DemoCustomer:
        return self.rng.choice(self.customers)

    def agent(self) -> str:
        return self.rng.choice(AGENTS)

    def channel(self, dep: DemoDepartment) -> str:
        return self.weighted(dep.channels)

    def other_department(self, dep_id: str) -> str:
        return self.rng.choice([d.id for d in DEPARTMENTS if d.id != dep_id])

    def mood(self, dep_id: str, at: datetime) -> float:
        """How well a department does at a moment (about −1 … +1)."""
        d = DEPARTMENT[dep_id]
        m = d.base + d.trend * ((at - self.start) / YEAR)
        m += sum(delta for since, delta in self.effects[dep_id] if since <= at)
        return m - (0.35 if at.astimezone(LOCAL).month in d.peak_months else 0)

    # -- the year -----------------------------------------------------------------------
    def setup(self, at: datetime) -> None:
        if self.publishes:
            self.emit(c.PublishPolicy(rules=FIRST_POLICY, by="demo", now=at))
            self.plan(self.day_at(SECOND_POLICY_DAY, 1), self.second_policy)
        for i, d in enumerate(DEPARTMENTS):
            self.emit(c.RegisterDepartment(department_id=d.id, name=d.name,
                                           satisfaction_target=d.target,
                                           now=at + (i + 1) * timedelta(seconds=1)))
        for i, (sid, name, trigger, questions) in enumerate((RELATIONSHIP_SURVEY,
                                                             AFTER_SERVICE_SURVEY)):
            self.emit(c.CreateSurvey(survey_id=sid, name=name, trigger=trigger,
                                     questions=[dict(q) for q in questions],
                                     now=at + timedelta(seconds=10 + i)))
        for i in range(INITIAL_CUSTOMERS):
            self.register_customer(at + timedelta(seconds=60 + 6 * i))
        self.plan_year()

    def plan_year(self) -> None:
        for day in range(365):
            self.plan(self.day_at(day, 2), self.day)
        for day in range(30, 365, 365 // LATER_CUSTOMERS):
            self.plan(self.daytime(self.day_at(day)), self.register_customer)
        for w in WAVE_DAYS:
            for j, channel in enumerate(WAVE_CHANNELS):
                self.plan(self.day_at(w + j, 2), self.wave, channel)
        for dep_id, day, delta in INCIDENTS:
            self.effects[dep_id].append((self.day_at(day), delta))
        for dep_id, day, *rest in SCRIPTED_ACTIONS:
            self.plan(self.day_at(day, 3), self.scripted_action, dep_id, day, *rest)
        for d in DEPARTMENTS:
            day = self.rng.uniform(15, 50)
            while day < 365:
                self.plan(self.daytime(self.day_at(int(day))), self.random_action, d.id)
                day += self.rng.uniform(45, 75)
        for customer in self.customers:
            if customer.high_value:
                self.plan(self.daytime(self.day_at(self.rng.randint(3, 90))),
                          self.periodic_revisit, customer)

    def second_policy(self, at: datetime) -> None:
        self.rules = SECOND_POLICY
        self.emit(c.PublishPolicy(rules=SECOND_POLICY, by="demo", now=at))

    def day(self, at: datetime) -> None:
        """Plans one day of complaints and feedback, and notes who was served."""
        for d in DEPARTMENTS:
            mood = self.mood(d.id, at)
            strain = 1.3 if at.astimezone(LOCAL).month in d.peak_months else 1.0
            complaints, feedback, jobs = d.rates
            for _ in range(self.poisson(complaints * strain * (1 - 0.45 * mood))):
                self.plan(self.daytime(at), self.open_complaint, d)
            for _ in range(self.poisson(feedback)):
                self.plan(self.daytime(at), self.feedback, d)
            for _ in range(self.poisson(jobs * strain)):
                self.jobs.append((self.pick_customer(), d.id))
        self.plan(at + 20 * HOUR, self.invite_served)

    def register_customer(self, at: datetime) -> None:
        rng, n = self.rng, len(self.customers) + 1
        segment = self.weighted(SEGMENTS)
        high_value = rng.random() < (0.45 if segment == "business" else 0.1)
        given, surname = rng.choice(GIVEN_NAMES), rng.choice(SURNAMES)
        customer = DemoCustomer(self.new_id("c"), high_value, rng.gauss(0, 0.3),
                             0.0 if rng.random() < 0.3 else rng.uniform(0.35, 0.9),
                             self.weighted([(d.id, d.rates[2]) for d in DEPARTMENTS]))
        self.emit(c.RegisterCustomer(
            customer_id=customer.id, name=f"{surname} {given}",
            email=f"{given.lower()}.{surname.lower()}{n}@example.com",
            phone=f"+86 13{rng.randint(0, 9)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            tier="high_value" if high_value else "standard", segment=segment, now=at))
        self.customers.append(customer)

    def feedback(self, at: datetime, dep: DemoDepartment) -> None:
        rng, mood = self.rng, self.mood(dep.id, at)
        customer = self.pick_customer() if rng.random() < 0.9 else None
        kind = self.weighted((("praise", max(3, 25 + 20 * mood)), ("suggestion", 20),
                              ("inquiry", 30), ("criticism", max(3, 20 - 12 * mood))))
        rating = None
        if rng.random() < 0.75:
            rating = {"praise": rng.choice((4, 5, 5)), "criticism": rng.choice((1, 2, 2, 3))
                      }.get(kind, max(1, min(5, round(rng.gauss(3.6 + mood, 0.9)))))
        category = rng.choice(dep.categories)
        text = FEEDBACK_TEXTS[kind].format(c=category.replace("_", " ").capitalize()) \
            if customer else None
        self.emit(c.SubmitFeedback(
            feedback_id=self.new_id("f"), customer_id=customer and customer.id,
            channel=self.channel(dep), kind=kind,
            department_id=dep.id if rng.random() < 0.92 else None, category=category,
            rating=rating, text=text, severity=None, complaint_id=None,
            occurred_at=self.occurred(at), now=at))
