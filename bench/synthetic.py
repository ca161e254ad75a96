"""A realistic synthetic history, written through the real application.

    generate(app, 1_000_000, seed=1, now=datetime(...))

About ten departments, customers (20% high value), feedback of every kind,
complaints walking their lifecycles (some late, so SLA breaches occur; some
escalated, reopened, or still open at `now`), two surveys whose questions use
all four scales with many responses, invitation waves, revisits, improvement
actions and two policy publishes midway — spread over ~120 days before `now`.

Everything goes through the domain aggregates and the application's recorder
(personal data encrypted, hash chain by the trigger), but hundreds of
aggregates are saved per `app.save(...)`, one transaction each, for speed.
The same seed and `now` give the same history (ids, times, values).

Time runs forward: each record's whole lifecycle is planned when it is
created and its steps are played from a heap in time order, so the log is in
(nearly) the order a real system would have recorded it. Steps that would
fall after `now` are never played: those records are the open backlog.
"""
from __future__ import annotations

import heapq
import queue
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from csm.domain.complaint import Complaint
from csm.domain.customer import Customer
from csm.domain.department import Department
from csm.domain.feedback import Feedback
from csm.domain.improvement import ImprovementAction
from csm.domain.policy import DEFAULT_RULES, POLICY_STREAM_ID, Policy, PolicyRules
from csm.domain.revisit import Revisit
from csm.domain.survey import Survey, SurveyResponse

SPAN = timedelta(days=120)
DEPARTMENTS = ("After-sales service", "Installation", "Delivery", "Billing", "Call centre",
               "Online shop", "Stores north", "Stores south", "Spare parts", "Product quality")
CHANNELS = ("web", "hotline", "app", "wechat", "email", "store")
CATEGORIES = ("delivery", "quality", "billing", "installation", "staff", "warranty")
SEGMENTS = ("retail", "business", "online", None)
SEVERITY_WEIGHTS = (("low", 30), ("medium", 40), ("high", 20), ("critical", 10))
KIND_WEIGHTS = (("praise", 30), ("suggestion", 20), ("criticism", 20), ("inquiry", 20),
                ("complaint", 10))
# What a new record is, and how often (per created record).
ITEM_WEIGHTS = (("response", 45), ("feedback", 30), ("complaint", 12), ("revisit", 7),
                ("customer", 4), ("improvement", 2))
RELATIONSHIP_QUESTIONS = [
    {"question_id": "quality", "text": "How do you rate the product quality?",
     "dimension": "product_quality", "scale": "likert5"},
    {"question_id": "attitude", "text": "How friendly was our staff?",
     "dimension": "service_attitude", "scale": "likert5"},
    {"question_id": "speed", "text": "How fast did we respond?",
     "dimension": "response_speed", "scale": "likert5"},
    {"question_id": "expectation", "text": "Compared with what you expected?",
     "dimension": "expectation", "scale": "expectation5"},
    {"question_id": "competitor", "text": "Compared with our competitors?",
     "dimension": "competitor", "scale": "competitor5"},
    {"question_id": "nps", "text": "Would you recommend us to a friend?",
     "dimension": "recommendation", "scale": "nps10"},
]
AFTER_SERVICE_QUESTIONS = [
    {"question_id": "attitude", "text": "How friendly was the engineer?",
     "dimension": "service_attitude", "scale": "likert5"},
    {"question_id": "fixed", "text": "Was it better than you expected?",
     "dimension": "expectation", "scale": "expectation5"},
    {"question_id": "nps", "text": "Would you recommend our service?",
     "dimension": "recommendation", "scale": "nps10"},
]
PROGRESS_EVERY = 50_000


def _weighted(rng: random.Random, pairs) -> Any:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


class _History:
    def __init__(self, app, n_events: int, seed: int, now: datetime, prefix: str,
                 batch: int, progress: Callable[[int, int], None] | None):
        self.app, self.n, self.now, self.prefix, self.batch = app, n_events, now, prefix, batch
        self.progress = progress
        self.rng = random.Random(seed)
        self.start = now - SPAN
        self.end = now - timedelta(hours=1)
        self.heap: list[tuple[datetime, int, Callable[..., None], tuple]] = []
        self.seq = 0
        self.pending: dict[str, Any] = {}
        self.recorded = 0        # events committed
        self.emitted = 0         # events triggered (committed or pending)
        self.planned = 0         # steps still in the heap
        self.items = 0           # records created after the initial set-up
        self.setup_events = 0
        self.next_report = PROGRESS_EVERY
        self.customers: list[tuple[str, bool]] = []   # (id, high_value)
        self.departments: list[str] = []
        self.dept_mood: dict[str, float] = {}
        self.surveys: list[Survey] = []
        self.resolved: deque[tuple[str, str, str]] = deque(maxlen=500)  # complaint, customer, dept
        self.recent_complaints: deque[str] = deque(maxlen=200)
        self.counter: dict[str, int] = {}
        self.writer = _Writer(app, self.wrote)
        try:
            self.policy: Policy | None = app.repository.get(POLICY_STREAM_ID)
            self.rules, self.policy_version = self.policy.rules, self.policy.version
        except AggregateNotFoundError:  # no policy published yet in this store
            self.policy, self.rules, self.policy_version = None, DEFAULT_RULES, 0

    # -- plumbing -----------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        n = self.counter.get(kind, 0)
        self.counter[kind] = n + 1
        return f"{self.prefix}{kind}-{n}"

    def received(self, at: datetime) -> datetime:
        """When the command reached us: a little after it happened."""
        return min(self.now, at + timedelta(seconds=self.rng.randint(1, 90)))

    def touch(self, aggregate: Any, before: int) -> None:
        self.emitted += len(aggregate.pending_events) - before
        self.pending[aggregate.id] = aggregate
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Hands the pending events to the writer thread (one transaction per batch)."""
        if not self.pending:
            return
        events = [e for a in self.pending.values() for e in a.collect_events()]
        self.pending.clear()
        self.writer.put(events)

    def wrote(self, n: int) -> None:
        self.recorded += n
        if self.progress and self.recorded >= self.next_report:
            self.progress(self.recorded, self.n)
            self.next_report = (self.recorded // PROGRESS_EVERY + 1) * PROGRESS_EVERY

    def plan(self, steps: list[tuple[datetime, Callable[..., None], tuple]]) -> None:
        """Schedules a record's steps; those after `now` never happen (open backlog)."""
        for at, step, args in steps:
            if at >= self.now:
                break
            self.seq += 1
            self.planned += 1
            heapq.heappush(self.heap, (at, self.seq, step, args))

    def play_until(self, t: datetime) -> None:
        while self.heap and self.heap[0][0] <= t:
            at, _, step, args = heapq.heappop(self.heap)
            self.planned -= 1
            step(at, *args)

    # -- the story ----------------------------------------------------------------
    def run(self) -> int:
        t = self.start
        self.setup(t)
        t += timedelta(hours=1)
        policy_times = [self.start + SPAN * 0.45, self.start + SPAN * 0.75]
        while True:
            budget = self.n - self.emitted - self.planned
            if budget <= 0:
                break
            if self.items:
                per_item = max(1.0, (self.emitted + self.planned - self.setup_events) / self.items)
            else:
                per_item = 2.5
            remaining_items = max(1.0, budget / per_item)
            gap = (self.end - t).total_seconds() / remaining_items
            t = min(self.end, t + timedelta(seconds=self.rng.expovariate(1.0) * max(gap, 0.001)))
            self.play_until(t)
            while policy_times and policy_times[0] <= t:
                self.publish_policy(policy_times.pop(0))
            self.create(t)
        self.play_until(self.now)
        self.flush()
        self.writer.close()
        if self.progress:
            self.progress(self.recorded, self.n)
        return self.recorded

    def setup(self, t: datetime) -> None:
        for i, name in enumerate(DEPARTMENTS):
            dep_id = f"{self.prefix}dep-{i}"
            d = Department.register(dep_id, name, float(self.rng.choice((75, 80, 85))),
                                    self.received(t))
            self.departments.append(dep_id)
            self.dept_mood[dep_id] = self.rng.uniform(-0.6, 0.6)
            self.touch(d, 0)
        for name, trigger, questions in (("Relationship survey", "periodic", RELATIONSHIP_QUESTIONS),
                                         ("After-service survey", "event", AFTER_SERVICE_QUESTIONS)):
            s = Survey.create(self.new_id("srv"), name, trigger, questions, self.received(t))
            self.surveys.append(s)
            self.touch(s, 0)
        n_customers = min(20_000, max(50, self.n // 50))
        for _ in range(int(n_customers * 0.4)):
            self.register_customer(t + timedelta(minutes=self.rng.uniform(0, 50)))
        self.flush()
        self.setup_events = self.emitted
        for s in self.surveys:
            self.plan([(t + timedelta(hours=self.rng.uniform(1, 24)), self.invite, (s,))])

    def create(self, t: datetime) -> None:
        self.items += 1
        kind = _weighted(self.rng, ITEM_WEIGHTS)
        if kind == "customer":
            self.register_customer(t)
        elif kind == "response":
            self.answer_survey(t)
        elif kind == "feedback":
            self.submit_feedback(t)
        elif kind == "complaint":
            self.open_complaint(t, None)
        elif kind == "revisit":
            self.schedule_revisit(t)
        else:
            self.raise_improvement(t)

    def customer(self) -> tuple[str, bool]:
        return self.rng.choice(self.customers)

    def register_customer(self, t: datetime) -> None:
        cid = self.new_id("cus")
        high_value = self.rng.random() < 0.2
        n = self.counter["cus"]
        c = Customer.register(cid, f"Customer {n}", f"customer{n}@example.com",
                              f"+86 10 {self.rng.randint(1000_0000, 9999_9999)}",
                              "high_value" if high_value else "standard",
                              self.rng.choice(SEGMENTS), self.received(t))
        self.customers.append((cid, high_value))
        self.touch(c, 0)

    def publish_policy(self, t: datetime) -> None:
        self.flush()  # everything before it is recorded before it
        if self.policy_version % 2 == 0:
            rules = PolicyRules.model_validate({
                "high_value_factor": 0.4,
                "dimension_weights": {"product_quality": 2.0, "recommendation": 1.5},
                "points": {"praise": 3, "sla_breach": -3}})
        else:
            rules = PolicyRules.model_validate({
                "sla_hours": {"low": {"acknowledge": 36, "resolve": 240},
                              "medium": {"acknowledge": 16, "resolve": 120},
                              "high": {"acknowledge": 6, "resolve": 48},
                              "critical": {"acknowledge": 1, "resolve": 12}},
                "dimension_weights": {"product_quality": 1.0, "service_attitude": 2.0},
                "points": {"escalation": -4, "resolved_on_time": 2}})
        if self.policy is None:
            before = 0
            self.policy = Policy.publish_first(rules, "admin", self.received(t))
        else:
            before = len(self.policy.pending_events)
            self.policy.publish(rules, "admin", self.received(t))
        self.rules, self.policy_version = self.policy.rules, self.policy.version
        self.touch(self.policy, before)
        self.flush()

    # -- surveys --------------------------------------------------------------------
    def invite(self, t: datetime, s: Survey) -> None:
        if self.customers:
            k = min(len(self.customers), self.rng.randint(20, 150))
            ids = sorted({c for c, _ in self.rng.sample(self.customers, k)})
            before = len(s.pending_events)
            s.invite(ids, [], self.rng.choice(("email", "sms", "wechat")), self.received(t))
            self.touch(s, before)
        self.plan([(t + timedelta(hours=self.rng.uniform(24, 72)), self.invite, (s,))])

    def score(self, scale: str, mood: float) -> int:
        if scale == "nps10":
            return max(0, min(10, round(self.rng.gauss(7.5 + mood * 2, 2.0))))
        return max(1, min(5, round(self.rng.gauss(3.7 + mood, 1.0))))

    def answer_survey(self, t: datetime) -> None:
        s = self.rng.choice(self.surveys) if self.rng.random() < 0.3 else self.surveys[0]
        customer, high_value = self.customer() if self.rng.random() < 0.95 else (None, False)
        dep = self.rng.choice(self.departments) if self.rng.random() < 0.97 else None
        mood = self.dept_mood.get(dep, 0.0)
        answers = [{"question_id": q["question_id"], "value": self.score(q["scale"], mood)}
                   for q in s.questions.values() if self.rng.random() < 0.85]
        if not answers:
            q = next(iter(s.questions.values()))
            answers = [{"question_id": q["question_id"], "value": self.score(q["scale"], mood)}]
        comment = "Thanks for the quick help" if customer and self.rng.random() < 0.1 else None
        tier = None if customer is None else ("high_value" if high_value else "standard")
        r = SurveyResponse.answer(self.new_id("rsp"), s, customer_id=customer, tier=tier,
                                  department_id=dep,
                                  channel=self.rng.choice(CHANNELS), answers=answers,
                                  comment=comment, occurred_at=t, now=self.received(t))
        self.touch(r, 0)

    # -- feedback and complaints ------------------------------------------------------
    def submit_feedback(self, t: datetime) -> None:
        kind = _weighted(self.rng, KIND_WEIGHTS)
        customer = self.customer() if self.rng.random() < 0.85 else (None, False)
        dep = self.rng.choice(self.departments) if (kind == "complaint" or
                                                     self.rng.random() < 0.9) else None
        rating = None
        if self.rng.random() < 0.7:
            rating = {"praise": self.rng.choice((4, 5, 5)), "complaint": self.rng.choice((1, 1, 2)),
                      "criticism": self.rng.choice((1, 2, 2, 3))}.get(kind, self.rng.randint(2, 5))
        # Anonymous text would need a key per stream: keep it rare, as in life.
        text = (f"{kind} about {self.rng.choice(CATEGORIES)}"
                if customer[0] or self.rng.random() < 0.02 else None)
        fid = self.new_id("fb")
        category = self.rng.choice(CATEGORIES)
        if kind != "complaint":
            f = Feedback.submit(fid, customer_id=customer[0], channel=self.rng.choice(CHANNELS),
                                kind=kind, department_id=dep, category=category, rating=rating,
                                text=text, severity=None, complaint_id=None, occurred_at=t,
                                now=self.received(t))
            self.touch(f, 0)
            return
        severity = _weighted(self.rng, SEVERITY_WEIGHTS)
        cid = f"{fid}:complaint"
        channel = self.rng.choice(CHANNELS)
        f = Feedback.submit(fid, customer_id=customer[0], channel=channel, kind=kind,
                            department_id=dep, category=category, rating=rating, text=text,
                            severity=severity, complaint_id=cid, occurred_at=t,
                            now=self.received(t))
        self.touch(f, 0)
        self.open_complaint(t, (cid, customer, channel, dep, category, severity, text, fid))

    def open_complaint(self, t: datetime, given: tuple | None) -> None:
        if given is None:
            customer = self.customer() if self.rng.random() < 0.97 else (None, False)
            given = (self.new_id("cmp"), customer, self.rng.choice(CHANNELS),
                     self.rng.choice(self.departments), self.rng.choice(CATEGORIES),
                     _weighted(self.rng, SEVERITY_WEIGHTS),
                     f"Problem with {self.rng.choice(CATEGORIES)}", None)
        cid, (customer, high_value), channel, dep, category, severity, text, fid = given
        c = Complaint.open(cid, customer_id=customer, high_value=high_value, channel=channel,
                           department_id=dep, category=category, severity=severity,
                           description=text, feedback_id=fid, rules=self.rules,
                           policy_version=self.policy_version, occurred_at=t,
                           now=self.received(t))
        self.touch(c, 0)
        self.recent_complaints.append(cid)
        self.plan(self.complaint_steps(c, t))

    def late_or_not(self, since: datetime, due: datetime, late_share: float) -> datetime:
        window = (due - since).total_seconds()
        if self.rng.random() < late_share:
            return due + timedelta(seconds=window * self.rng.uniform(0.05, 1.5))
        return since + timedelta(seconds=window * self.rng.uniform(0.05, 0.95))

    def complaint_steps(self, c: Complaint, t: datetime) -> list:
        rng, steps = self.rng, []
        if rng.random() < 0.04:
            return steps  # never acknowledged: it stays open, then overdue
        ack = self.late_or_not(t, c.acknowledge_due, 0.15)
        steps.append((ack, self.acknowledge, (c,)))
        at = ack
        if rng.random() < 0.6:
            at += timedelta(minutes=rng.uniform(5, 240))
            steps.append((at, self.assign, (c,)))
        resolve = self.late_or_not(at, c.resolve_due, 0.2)
        if resolve <= at:
            resolve = at + timedelta(minutes=30)
        for _ in range(rng.choice((0, 0, 0, 0, 0, 0, 1, 1, 2))):
            at = at + (resolve - at) * rng.uniform(0.1, 0.6)
            steps.append((at, self.escalate, (c,)))
        steps.append((resolve, self.resolve, (c,)))
        after = rng.random()
        if after < 0.7:
            steps.append((resolve + timedelta(hours=rng.uniform(2, 96)), self.close, (c,)))
        elif after < 0.82:
            reopen = resolve + timedelta(hours=rng.uniform(2, 72))
            steps.append((reopen, self.reopen, (c,)))
        # 18% stay resolved without a closing call.
        return steps

    def acknowledge(self, at: datetime, c: Complaint) -> None:
        before = len(c.pending_events)
        c.acknowledge(f"agent{self.rng.randint(1, 40)}", at, self.received(at))
        self.touch(c, before)

    def assign(self, at: datetime, c: Complaint) -> None:
        before = len(c.pending_events)
        dep = self.rng.choice(self.departments) if self.rng.random() < 0.2 else c.department_id
        c.assign(dep, f"handler{self.rng.randint(1, 80)}", at, self.received(at))
        self.touch(c, before)

    def escalate(self, at: datetime, c: Complaint) -> None:
        if c.level >= 3 or c.status in ("resolved", "closed"):
            return
        before = len(c.pending_events)
        c.escalate(self.rng.choice(("customer called again", "legal threat", "media")), at,
                   self.received(at))
        self.touch(c, before)

    def resolve(self, at: datetime, c: Complaint) -> None:
        before = len(c.pending_events)
        c.resolve(self.rng.choice(("replaced part", "refund", "explained", "technician visit")),
                  f"handler{self.rng.randint(1, 80)}", at, self.received(at))
        self.touch(c, before)
        if c.customer_id:
            self.resolved.append((c.id, c.customer_id, c.department_id))

    def close(self, at: datetime, c: Complaint) -> None:
        before = len(c.pending_events)
        sat = self.rng.choice((1, 2, 3, 4, 4, 5, 5)) if self.rng.random() < 0.8 else None
        satisfied = None if self.rng.random() < 0.3 else (sat is None or sat >= 3)
        c.close(satisfied, sat, at, self.received(at))
        self.touch(c, before)

    def reopen(self, at: datetime, c: Complaint) -> None:
        before = len(c.pending_events)
        c.reopen("Still not working", self.rules, self.policy_version, at, self.received(at))
        self.touch(c, before)
        resolve = self.late_or_not(at, c.resolve_due, 0.3)
        steps = [(resolve, self.resolve, (c,))]
        if self.rng.random() < 0.8:
            steps.append((resolve + timedelta(hours=self.rng.uniform(2, 48)), self.close, (c,)))
        self.plan(steps)

    # -- revisits and improvement actions ------------------------------------------------
    def schedule_revisit(self, t: datetime) -> None:
        if self.resolved and self.rng.random() < 0.4:
            complaint, customer, dep = self.resolved.popleft()
            reason = "complaint_followup"
        else:
            complaint, customer, dep = None, self.customer()[0], self.rng.choice(self.departments)
            reason = self.rng.choice(("after_service", "periodic"))
        due = t + timedelta(days=self.rng.uniform(1, 5))
        r = Revisit.schedule(self.new_id("rv"), customer_id=customer, department_id=dep,
                             reason=reason, complaint_id=complaint, due_at=due,
                             cause_event_id=None, occurred_at=t, now=self.received(t))
        self.touch(r, 0)
        if self.rng.random() < 0.85:
            self.plan([(due + timedelta(hours=self.rng.uniform(-20, 30)), self.complete_revisit,
                        (r,))])

    def complete_revisit(self, at: datetime, r: Revisit) -> None:
        outcome = _weighted(self.rng, (("reached", 75), ("unreachable", 18), ("declined", 7)))
        sat = self.rng.choice((1, 2, 3, 4, 4, 5, 5)) if outcome == "reached" else None
        notes = "Customer was happy with the visit" if sat and self.rng.random() < 0.2 else None
        before = len(r.pending_events)
        r.complete(outcome, sat, notes, at, self.received(at))
        self.touch(r, before)

    def raise_improvement(self, t: datetime) -> None:
        k = min(len(self.recent_complaints), self.rng.randint(0, 3))
        sources = self.rng.sample(list(self.recent_complaints), k) if k else []
        a = ImprovementAction.raise_action(
            self.new_id("act"), department_id=self.rng.choice(self.departments),
            title=self.rng.choice(("Audit supplier", "Retrain staff", "Fix checkout",
                                   "Shorter hotline queue")),
            source_ids=sources, due_at=t + timedelta(days=30), now=t)
        self.touch(a, 0)
        if self.rng.random() < 0.7:
            done = t + timedelta(days=self.rng.uniform(3, 25))
            steps = [(done, self.complete_action, (a,))]
            if self.rng.random() < 0.6:
                steps.append((done + timedelta(days=self.rng.uniform(2, 15)), self.verify_action,
                              (a,)))
            self.plan(steps)

    def complete_action(self, at: datetime, a: ImprovementAction) -> None:
        before = len(a.pending_events)
        a.complete(at)
        self.touch(a, before)

    def verify_action(self, at: datetime, a: ImprovementAction) -> None:
        before = len(a.pending_events)
        a.verify(self.rng.random() < 0.7, at)
        self.touch(a, before)


class _Writer:
    """Saves batches in a thread of its own, in order, while the next batch is made.

    Recording waits on PostgreSQL (the commit, the chain trigger) with the GIL
    released, so making and recording overlap on two cores.
    """

    def __init__(self, app, wrote: Callable[[int], None]):
        self.app, self.wrote = app, wrote
        self.queue: queue.Queue[list | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="synthetic-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (events := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.wrote(len(self.app.save(*events)))
                except BaseException as e:  # reported to the caller by put/close
                    self.error = e

    def put(self, events: list) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(events)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _print_progress() -> Callable[[int, int], None]:
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"  synthetic: {done:,}/{total:,} events ({rate:,.0f}/s)", file=sys.stderr,
              flush=True)
    return report


def generate(app, n_events: int, seed: int = 1, now: datetime | None = None, *,
             prefix: str | None = None, batch: int = 1000,
             progress: bool | Callable[[int, int], None] = True) -> int:
    """Writes about `n_events` events through `app`; returns how many it recorded.

    `prefix` (default `s<seed>-`) starts every id, so several histories can
    share one store. `now` defaults to the current time (taken here, never in
    the domain); with a fixed `now` the history is fully deterministic.
    """
    now = now or datetime.now(UTC)
    report = _print_progress() if progress is True else (progress or None)
    history = _History(app, n_events, seed, now, f"s{seed}-" if prefix is None else prefix,
                       batch, report)
    return history.run()
