"""The service layer: `handle(command)`, the only place that loads and saves aggregates.

A handler takes its command (ids, `now`, `occurred_at` from the caller), lets
the aggregates decide and commits them to the unit of work; `handle` then
records all their events in one transaction, with the steps the caller and
the infrastructure run inside it (idempotency records, key destruction), so
those commit or roll back with the events. On a concurrent change it decides
again on the fresh state. The answer carries the global position of the last
recorded event.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from csm.domain import commands as c
from csm.domain.customer import Customer
from csm.domain.department import Department
from csm.domain.errors import AlreadyExists, ConcurrentChange, NotFound, StoreRace
from csm.domain.policy import DEFAULT_RULES, POLICY_STREAM_ID, Policy, PolicyRules
from csm.domain.unit_of_work import Step, UnitOfWork

A = TypeVar("A")
# A step the caller runs in the recording transaction: (cursor, positions, answer) -> None.
AnswerStep = Callable[[Any, Sequence[int], dict[str, Any]], None]
UPDATE_ATTEMPTS = 8


class NothingToRecord(Exception):
    """A command decided that nothing happened (e.g. a breach already recorded)."""


class UnitNotClean(Exception):
    """A command of a shared unit failed after it had changed an aggregate."""


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
    # command class -> handler; the application that holds every handler fills it in.
    HANDLERS: ClassVar[dict[type[c.Command], Callable[[Any, Any], Recorded]]] = {}

    @property
    def uow(self) -> UnitOfWork | None:
        """The unit of work this thread is in, if any (the application serves many threads)."""
        return getattr(self._thread_state(), "uow", None)

    def _thread_state(self) -> threading.local:
        state = self.__dict__.get("_per_thread")  # made once: not a new local per call
        return state if state is not None else self.__dict__.setdefault(
            "_per_thread", threading.local())

    # -- the service layer ----------------------------------------------------
    def handle(self, command: c.Command, in_transaction: Sequence[AnswerStep] = ()) -> Recorded:
        """Decides and records one command; inside `batch()` only decides (the batch records)."""
        handler = self.HANDLERS[type(command)]
        if self.uow is not None:
            recorded = handler(self, command)
            self.uow.steps.extend(bound_steps(in_transaction, recorded))
            return recorded
        for _ in range(UPDATE_ATTEMPTS):
            with self._unit() as uow:
                recorded = handler(self, command)
                uow.steps.extend(bound_steps(in_transaction, recorded))
                try:
                    position = self.flush(uow)
                except StoreRace:
                    continue
                except IntegrityError:
                    if uow.creating:
                        raise AlreadyExists(f"'{recorded.id}' is already taken by another "
                                            "record; choose another id") from None
                    continue
            if position is None:
                raise NothingToRecord(recorded.id)
            return Recorded(recorded.id, position, recorded.extra)
        raise ConcurrentChange(f"{uow.about} is being changed by others at this moment; "
                               "try again")

    def handle_together(self, commands: Sequence[tuple[c.Command, Sequence[AnswerStep]]],
                        more_steps: Callable[[list[Any]], Sequence[Step]] | None = None
                        ) -> list[Recorded | Exception]:
        """Decides the commands one after another in one unit of work (each sees what those
        before it changed) and records all their events and steps in one transaction.

        Per command, in order: its `Recorded` (the position of its own last event; its steps
        see only its own positions), `NothingToRecord`, or the exception that refused it —
        its neighbours go on. `more_steps(outcomes)` may add steps once all are decided.
        Raises, having recorded nothing, when the transaction cannot commit, or
        `UnitNotClean` when a command failed after changing an aggregate.
        """
        outcomes: list[Any] = []
        decided = []
        with self.batch() as uow:
            for command, steps in commands:
                try:
                    recorded = self.handle(command)  # inside the unit: decides, records not
                except Exception as exc:  # noqa: BLE001 - a refusal is this command's answer
                    if uow.take_new() or uow.has_unclaimed():
                        raise UnitNotClean() from exc
                    outcomes.append(exc)
                    continue
                decided.append((len(outcomes), recorded, steps, uow.take_new()))
                outcomes.append(recorded)
            order = {id(e): i for i, e in enumerate(uow.events())}
            for _, recorded, steps, events in decided:
                uow.steps.extend(bound_steps(steps, recorded, [order[id(e)] for e in events]))
            if more_steps is not None:
                uow.steps.extend(more_steps(outcomes))
            positions = [r.notification.id for r in self.record(uow)]
        for i, recorded, _, events in decided:
            outcomes[i] = Recorded(recorded.id, max(positions[order[id(e)]] for e in events),
                                   recorded.extra) if events else NothingToRecord(recorded.id)
        return outcomes

    @contextmanager
    def batch(self) -> Iterator[UnitOfWork]:
        """Commands inside share one unit of work; `flush` records them together."""
        with self._unit() as uow:
            yield uow

    @contextmanager
    def _unit(self) -> Iterator[UnitOfWork]:
        state = self._thread_state()
        state.uow, state.policy = UnitOfWork(), None
        try:
            yield state.uow
        finally:
            state.uow = state.policy = None

    def flush(self, uow: UnitOfWork) -> int | None:
        """Records every pending event of the unit in one transaction; the last position."""
        recordings = self.record(uow)
        return recordings[-1].notification.id if recordings else None

    def record(self, uow: UnitOfWork) -> list[Any]:
        """Records every pending event of the unit, in the order of `uow.events()`, with its
        steps in one transaction; the library's recordings (event, notification) in order."""
        pending = uow.pending()
        if not pending:
            return []
        events = uow.events()
        self.prepare_save(pending)
        recordings = self.save(*pending, hooks=[*uow.steps, *self.recording_steps(events)])
        self.recorded(events)
        return recordings

    def prepare_save(self, aggregates: list[Any]) -> None:
        """Called before a unit is saved (the infrastructure may warm caches)."""

    def recording_steps(self, events: list[Any]) -> list[Step]:
        """Steps the infrastructure runs in the transaction that records these events."""
        return []

    def recorded(self, events: list[Any]) -> None:
        """Called once these events are recorded (the infrastructure may drop caches)."""

    # -- what handlers use ----------------------------------------------------
    def follow_up(self, command: c.Command | None) -> None:
        """A follow-up a handler decided, handled in the same unit of work (and so recorded in
        the same transaction as its cause)."""
        if command is not None:
            self.handle(command)

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
               creating: bool = False, about: str | None = None) -> Recorded:
        """Hands the decided aggregates to the unit of work; `handle` records them."""
        uow = self.uow
        assert uow is not None, "commands run through handle()"
        uow.add(aggregates, creating)
        uow.about = uow.about or about or f"'{result_id}'"
        return Recorded(result_id, 0, extra or {})

    def update(self, stream_id: str, kind: type[A], label: str, change: Callable[[A], Any],
               extra: Callable[[A], dict[str, Any]] | None = None) -> Recorded:
        """Load and change one aggregate."""
        aggregate = self.get_as(stream_id, kind, label)
        change(aggregate)
        return self.commit(stream_id, aggregate,
                           extra=extra(aggregate) if extra else None,
                           about=f"{label} '{stream_id}'")

    def policy(self) -> tuple[PolicyRules, int]:
        """The policy in force and its version (0: the defaults, never published).

        Read, never changed, so the cached aggregate itself serves: no copy per command (and
        the calendars keep the open spans they have worked out). Read once per unit of work:
        the commands of a batch are decided under one policy, at one read."""
        state = self._thread_state()
        in_unit = getattr(state, "uow", None) is not None
        if in_unit and getattr(state, "policy", None):
            return state.policy
        try:
            p = self.repository.get(POLICY_STREAM_ID, deepcopy_from_cache=False)
            found = p.rules, p.version
        except AggregateNotFoundError:
            found = DEFAULT_RULES, 0
        if in_unit:
            state.policy = found
        return found

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
    def register_department(self, cmd: c.RegisterDepartment) -> Recorded:
        d = Department.register(cmd.department_id, cmd.name, cmd.satisfaction_target, cmd.now)
        return self.commit(cmd.department_id, d, creating=True)

    def register_customer(self, cmd: c.RegisterCustomer) -> Recorded:
        customer = Customer.register(cmd.customer_id, cmd.name, cmd.email, cmd.phone, cmd.tier,
                                     cmd.segment, cmd.now)
        return self.commit(cmd.customer_id, customer, creating=True)

    def erase_customer(self, cmd: c.EraseCustomer) -> Recorded:
        return self.update(cmd.customer_id, Customer, "customer",
                           lambda customer: customer.erase(cmd.reason, cmd.now))

    def publish_policy(self, cmd: c.PublishPolicy) -> Recorded:
        try:
            policy = self.get_as(POLICY_STREAM_ID, Policy, "policy")
            policy.publish(cmd.rules, cmd.by, cmd.now)
        except NotFound:
            policy = Policy.publish_first(cmd.rules, cmd.by, cmd.now)
        return self.commit(POLICY_STREAM_ID, policy, extra={"version": policy.version},
                           about="the policy")


def bound_steps(steps: Sequence[AnswerStep], recorded: Recorded,
                only: Sequence[int] | None = None) -> list[Step]:
    """Steps with the command's answer bound; `only`: the indexes of the command's own
    events among those the transaction records (when it records other commands' too)."""
    answer = {"id": recorded.id, **recorded.extra}
    if only is None:
        return [lambda curs, ids, h=h: h(curs, ids, answer) for h in steps]
    return [lambda curs, ids, h=h: h(curs, [ids[i] for i in only], answer) for h in steps]
