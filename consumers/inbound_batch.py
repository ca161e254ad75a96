"""Inbound-shaped messages: reading one, and deciding many in one transaction.

The Kafka consumer (`consumers.inbound`) and the bulk import (`consumers.bulk_import`)
share it: the same envelope, the same commands, the same idempotency records (scope
`inbound`, key `message_id`, written in the transaction of the command's events), so a
message seen before, by either of them, has no second effect.

`decide` answers one outcome per message, in order: `Recorded` or `NothingToRecord`
(applied), `DUPLICATE` (seen before with the same body), or the exception that refused it
(`NotFound`: its target is not known yet; `IdempotencyMismatch`: its `message_id` was
first used with another body; any other of `REFUSED`). When the batch cannot commit as
one, each message is decided on its own instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import structlog
from eventsourcing.persistence import DataError as PersistenceDataError
from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from csm.consumers.inbound_commands import Envelope, command_for
from csm.consumers.refusal_reasons import reason
from csm.domain.application import NothingToRecord, Recorded, UnitNotClean
from csm.domain.commands import Command
from csm.domain.csm import CsmApplication
from csm.domain.errors import DomainError, NotFound, StoreRace
from csm.infra.command_metrics import count_command
from csm.infra.idempotency import (
    IdempotencyMismatch,
    already_seen,
    once,
    remember_all,
    request_digest,
)

log = structlog.get_logger()
MAX_MESSAGE = 1024 * 1024
SCOPE = "inbound"


class Unacceptable(Exception):
    """A message refused before it reached a command, with the reason in plain words (and
    its envelope, when that much was valid)."""

    def __init__(self, reason_: str, env: Envelope | None = None):
        super().__init__(reason_)
        self.env = env


# Refusals that belong to the message. Anything else (the store is down, …) belongs to us.
REFUSED = (Unacceptable, ValidationError, psycopg.DataError, PersistenceDataError, DomainError,
           IdempotencyMismatch, UnicodeDecodeError, ValueError, TypeError)


class Duplicate:
    """The outcome of a message seen before with the same body: no second effect."""


DUPLICATE = Duplicate()


@dataclass
class Message:
    """A message read: what it came in (a Kafka record, a line), its envelope and command."""
    rec: Any
    env: Envelope
    body: dict[str, Any]
    command: Command


@dataclass
class Decided:
    """One outcome per message, in order, and how many events their transactions recorded."""
    outcomes: list[Any]
    events: int = 0


def parse(value: bytes | None, rec: Any = None) -> Message:
    """The message these bytes hold; raises one of `REFUSED` with the reason in plain words."""
    if value is None:
        raise Unacceptable("empty message (no value)")
    if len(value) > MAX_MESSAGE:
        raise Unacceptable(f"message of {len(value)} bytes exceeds {MAX_MESSAGE} bytes")
    try:
        env = Envelope.model_validate(orjson.loads(value))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise Unacceptable(reason(exc, raw=value)) from None
    try:
        payload, command = command_for(env, datetime.now(UTC))
    except ValidationError as exc:
        raise Unacceptable(reason(exc, where="payload."), env) from None
    return Message(rec, env, payload.model_dump(mode="json"), command)


def why(m: Message, refusal: BaseException) -> str:
    """A refusal of a message in plain words."""
    if isinstance(refusal, IdempotencyMismatch):
        return f"message_id: {m.env.message_id!r} was first used with another body"
    return reason(refusal)


def decide(pool: Any, app: CsmApplication, msgs: list[Message]) -> Decided:
    """Decides the messages together in one transaction (see the module's docstring)."""
    seen = already_seen(pool, SCOPE, [m.env.message_id for m in msgs]) if msgs else {}
    done = Decided([None] * len(msgs))
    todo = []
    for i, m in enumerate(msgs):
        digest = request_digest(m.env.type, m.body)
        first = seen.get(m.env.message_id)
        if first == digest:
            done.outcomes[i] = DUPLICATE
        elif first is not None:
            done.outcomes[i] = IdempotencyMismatch(m.env.message_id)
        else:
            seen[m.env.message_id] = digest
            todo.append((i, m, digest))
    if not todo:
        return done
    try:
        outcomes, done.events = _together(app, todo)
    except (IntegrityError, DomainError, UnitNotClean, StoreRace,
            psycopg.errors.UniqueViolation) as exc:
        log.info("inbound_batch_replayed_one_by_one", messages=len(todo), reason=repr(exc)[:200])
        for i, m, _ in todo:
            done.outcomes[i], events = decide_one(pool, app, m)
            done.events += events
        return done
    for (i, m, _), outcome in zip(todo, outcomes):
        done.outcomes[i] = outcome
        if isinstance(outcome, (Recorded, NothingToRecord)):
            count_command(m.command)
        elif isinstance(outcome, REFUSED) and not isinstance(outcome, NotFound):
            count_command(m.command, outcome)
    return done


def _together(app: CsmApplication, todo: list[tuple[int, Message, str]]
              ) -> tuple[list[Any], int]:
    """`handle_together` with every applied message's idempotency record; the events."""
    recorded = [0]

    def remembered(outcomes: list[Any]) -> list[Any]:
        entries = [(m.env.message_id, digest, o.answer())
                   for (_, m, digest), o in zip(todo, outcomes) if isinstance(o, Recorded)]
        if not entries:
            return []
        remember = remember_all(SCOPE, entries)

        def step(curs: Any, positions: Any) -> None:
            remember(curs, positions)
            recorded[0] = len(positions)
        return [step]
    outcomes = app.handle_together([(m.command, ()) for _, m, _ in todo], remembered)
    return outcomes, recorded[0]


def decide_one(pool: Any, app: CsmApplication, m: Message) -> tuple[Any, int]:
    """One message in a transaction of its own: its outcome and the events it recorded."""
    recorded: list[int] = []

    def count(_curs: Any, positions: Any, _answer: Any) -> None:
        recorded.append(len(positions))
    try:
        answer = once(pool, SCOPE, m.env.message_id, m.env.type, m.body,
                      lambda steps: app.handle(m.command, in_transaction=[*steps, count]))
    except (NothingToRecord, *REFUSED) as exc:
        return exc, 0
    if not recorded:
        return DUPLICATE, 0
    return Recorded(answer["id"], answer["position"]), recorded[-1]
