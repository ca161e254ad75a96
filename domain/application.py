"""The command handlers: the only place that loads and saves aggregates.

Each handler takes `now` and ids from its caller, lets the aggregates decide,
and records all their events in one transaction. `hooks` are run by the
recorder inside that transaction (idempotency records, key destruction), so
they commit or roll back with the events. The answer carries the global
position of the last recorded event.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from csm.domain.customer import Customer
from csm.domain.department import Department
from csm.domain.errors import AlreadyExists, ConcurrentChange, NotFound
from csm.domain.policy import DEFAULT_RULES, POLICY_STREAM_ID, Policy, PolicyRules
from csm.domain.unit_of_work import UnitOfWork

A = TypeVar("A")
# A hook runs inside the recording transaction: (cursor, positions, answer) -> None.
Hook = Callable[[Any, Sequence[int], dict[str, Any]], None]
UPDATE_ATTEMPTS = 8


class NothingToRecord(Exception):
    """A command decided that nothing happened (e.g. a breach already recorded)."""


@dataclass(frozen=True)
class Recorded:
    """What a command answers: the id it acted on and the last position it recorded."""
    id: str
    position: int
    extra: dict[str, Any] = field(default_factory=dict)

    def answer(self) -> dict[str, Any]:
        return {"id": self.id, "position": self.position, **self.extra}


class CoreHandlers(Application[str]):
    name = "csm"
    env = {"ORIGINATOR_ID_TYPE": "text", "AGGREGATE_CACHE_MAXSIZE": "20000"}

    @property
    def uow(self) -> UnitOfWork | None:
        """The batch this thread is in, if any (the application serves many threads)."""
        return getattr(self._thread_state(), "uow", None)

    def _thread_state(self) -> threading.local:
        return self.__dict__.setdefault("_per_thread", threading.local())

    # -- plumbing ---------------------------------------------------------
    def get_as(self, stream_id: str, kind: type[A], label: str) -> A:
        found = self.uow.seen(stream_id) if self.uow else None
        if found is None:
            try:
                found = self.repository.get(stream_id)
            except AggregateNotFoundError:
                raise NotFound(f"{label} '{stream_id}' not found") from None
            if self.uow:
                found = self.uow.remember(found)
        if not isinstance(found, kind):
            raise NotFound(f"{label} '{stream_id}' not found")
        return found

    def commit(self, result_id: str, *aggregates: Any, extra: dict[str, Any] | None = None,
               hooks: Sequence[Hook] = (), creating: bool = False) -> Recorded:
        answer = {"id": result_id, **(extra or {})}
        bound = [lambda curs, ids, h=h: h(curs, ids, answer) for h in hooks]
        if self.uow is not None:
            self.uow.add(result_id, aggregates, bound, creating)
            return Recorded(result_id, 0, extra or {})
        try:
            recordings = self.save(*aggregates, hooks=bound)
        except IntegrityError:
            if creating:
                raise AlreadyExists(
                    f"'{result_id}' is already taken by another record; choose another id") from None
            raise
        if not recordings:
            raise NothingToRecord(result_id)
        return Recorded(result_id, recordings[-1].notification.id, extra or {})

    def update(self, stream_id: str, kind: type[A], label: str, change: Callable[[A], Any],
               hooks: Sequence[Hook] = (), extra: Callable[[A], dict[str, Any]] | None = None
               ) -> Recorded:
        """Load, change, save; on a concurrent change, decide again on the fresh state.

        `change` may return further aggregates (automated follow-ups) to save with it.
        """
        def attempt() -> Recorded:
            aggregate = self.get_as(stream_id, kind, label)
            others = change(aggregate)
            more = list(others) if isinstance(others, (list, tuple)) else []
            return self.commit(stream_id, aggregate, *more, hooks=hooks,
                               extra=extra(aggregate) if extra else None)
        return self.retrying(attempt, f"{label} '{stream_id}'")

    def retrying(self, attempt: Callable[[], Recorded], what: str) -> Recorded:
        for _ in range(UPDATE_ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise ConcurrentChange(f"{what} is being changed by others at this moment; try again")

    @contextmanager
    def batch(self) -> Iterator[UnitOfWork]:
        """Commands inside share one unit of work; `flush_batch` records them together."""
        state = self._thread_state()
        state.uow = UnitOfWork()
        try:
            yield state.uow
        finally:
            state.uow = None

    def flush_batch(self, uow: UnitOfWork) -> int | None:
        """Records every pending event of the batch in one transaction; the last position."""
        pending = uow.pending()
        if not pending:
            return None
        self.prepare_save(pending)
        recordings = self.save(*pending, hooks=uow.hooks)
        return recordings[-1].notification.id if recordings else None

    def prepare_save(self, aggregates: list[Any]) -> None:
        """Called before a batch is saved (the infrastructure may warm caches)."""

    def policy(self) -> tuple[PolicyRules, int]:
        """The policy in force and its version (0: the defaults, never published)."""
        try:
            p = self.repository.get(POLICY_STREAM_ID)
        except AggregateNotFoundError:
            return DEFAULT_RULES, 0
        return p.rules, p.version

    def active_customer(self, customer_id: str | None) -> Customer | None:
        if customer_id is None:
            return None
        customer = self.get_as(customer_id, Customer, "customer")
        customer.ensure_active()
        return customer

    def department(self, department_id: str | None) -> Department | None:
        """Checks a department exists (departments are never removed, so once is enough)."""
        if department_id is None:
            return None
        known = self.__dict__.setdefault("_known_departments", {})
        if department_id not in known:
            if len(known) > 100_000:
                known.clear()
            known[department_id] = self.get_as(department_id, Department, "department")
        return known[department_id]

    # -- customers, departments, policy -------------------------------------
    def register_department(self, department_id: str, name: str, satisfaction_target: float,
                            now: datetime, hooks: Sequence[Hook] = ()) -> Recorded:
        d = Department.register(department_id, name, satisfaction_target, now)
        return self.commit(department_id, d, hooks=hooks, creating=True)

    def register_customer(self, customer_id: str, name: str, email: str | None,
                          phone: str | None, tier: str, segment: str | None, now: datetime,
                          hooks: Sequence[Hook] = ()) -> Recorded:
        c = Customer.register(customer_id, name, email, phone, tier, segment, now)
        return self.commit(customer_id, c, hooks=hooks, creating=True)

    def erase_customer(self, customer_id: str, reason: str | None, now: datetime,
                       hooks: Sequence[Hook] = ()) -> Recorded:
        return self.update(customer_id, Customer, "customer", lambda c: c.erase(reason, now),
                           hooks=hooks)

    def publish_policy(self, rules: PolicyRules, by: str | None, now: datetime,
                       hooks: Sequence[Hook] = ()) -> Recorded:
        for _ in range(UPDATE_ATTEMPTS):
            try:
                policy = self.repository.get(POLICY_STREAM_ID)
                policy.publish(rules, by, now)
            except AggregateNotFoundError:
                policy = Policy.publish_first(rules, by, now)
            try:
                return self.commit(POLICY_STREAM_ID, policy, hooks=hooks,
                                   extra={"version": policy.version})
            except (IntegrityError, AlreadyExists):
                continue
        raise ConcurrentChange("the policy is being changed by someone else; try again")
