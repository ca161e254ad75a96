"""Channel messages from `csm.inbound` → commands; anything unacceptable → `csm.inbound.dlq`.

`message_id` is the idempotency key (scope `inbound`, recorded in the same
transaction as the command's events), so a redelivered message has no second
effect. A message that cannot be accepted goes to the DLQ with its original
bytes, headers `error`, `original_topic`, `original_partition`,
`original_offset`, and the consumer moves on. When the event store is
unreachable nothing is skipped: the same message is tried again.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import structlog
from eventsourcing.persistence import DataError as PersistenceDataError
from eventsourcing.persistence import IntegrityError
from kafka import TopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic import ValidationError

from csm.consumers.inbound_commands import Envelope, command_for
from csm.consumers.kafka_io import consumer, ensure_topics, producer
from csm.domain.csm import CsmApplication
from csm.domain.errors import DomainError
from csm.infra.idempotency import (
    IdempotencyMismatch,
    already_seen,
    remember_all,
    request_digest,
    run_once,
)

log = structlog.get_logger()
MAX_MESSAGE = 1024 * 1024
SCOPE = "inbound"
# Refusals that belong to the message: to the DLQ. Anything else (the store is down, …)
# belongs to us: retry the same message.
class Unacceptable(Exception):
    pass


REFUSED = (Unacceptable, ValidationError, psycopg.DataError, PersistenceDataError, DomainError, IdempotencyMismatch, orjson.JSONDecodeError,
           UnicodeDecodeError, ValueError, TypeError)


@dataclass
class Parsed:
    rec: Any
    env: Envelope
    body: dict[str, Any]
    command: Any


class Inbound:
    def __init__(self, pool: Any, app: CsmApplication, bootstrap: str, topic: str, dlq: str,
                 partitions: int):
        self.pool, self.app, self.bootstrap = pool, app, bootstrap
        self.topic, self.dlq, self.partitions = topic, dlq, partitions
        self.accepted = self.dead_lettered = 0
        self._letters: list[tuple[Any, list, Any]] = []

    def handle(self, rec: Any, dlq_producer: Any) -> None:
        """One message through the one-command-per-transaction path."""
        try:
            msg = self._parse(rec)
            run_once(self.pool, SCOPE, msg.env.message_id, msg.env.type, msg.body, msg.command)
            self.accepted += 1
        except REFUSED as exc:
            self._dead_letter(rec, dlq_producer, _reason(exc))

    def handle_batch(self, records: list[Any], dlq_producer: Any) -> None:
        """Many messages, one transaction; on any conflict, each message on its own instead."""
        parsed = []
        for rec in records:
            try:
                parsed.append(self._parse(rec))
            except REFUSED as exc:
                self._dead_letter(rec, dlq_producer, _reason(exc))
        seen = already_seen(self.pool, SCOPE, [m.env.message_id for m in parsed])
        todo = []
        for m in parsed:
            digest = request_digest(m.env.type, m.body)
            first = seen.get(m.env.message_id)
            if first == digest:
                self.accepted += 1  # delivered before: no second effect
            elif first is not None:
                self._dead_letter(m.rec, dlq_producer, _reason(IdempotencyMismatch(
                    f"message_id {m.env.message_id!r} was first used with another body")))
            else:
                seen[m.env.message_id] = digest
                todo.append((m, digest))
        if not todo:
            return
        entries, kept = [], []
        try:
            with self.app.batch() as uow:
                for m, digest in todo:
                    try:
                        answer = m.command(()).answer()
                    except REFUSED as exc:
                        self._dead_letter(m.rec, dlq_producer, _reason(exc))
                        continue
                    entries.append((m.env.message_id, digest, answer))
                    kept.append(m)
                if entries:
                    uow.hooks.append(remember_all(SCOPE, entries))
                    self.app.flush_batch(uow)
            self.accepted += len(kept)
        except (IntegrityError, DomainError, psycopg.errors.UniqueViolation) as exc:
            log.info("inbound_batch_replayed_one_by_one", messages=len(kept), reason=repr(exc)[:200])
            for m in kept:
                self.handle(m.rec, dlq_producer)

    def _parse(self, rec: Any) -> "Parsed":
        value = rec.value
        if value is None:
            raise Unacceptable("empty message")
        if len(value) > MAX_MESSAGE:
            raise ValueError(f"message of {len(value)} bytes exceeds {MAX_MESSAGE} bytes")
        env = Envelope.model_validate(orjson.loads(value))
        payload, command = command_for(self.app, env, datetime.now(UTC))
        return Parsed(rec, env, payload.model_dump(mode="json"), command)

    def _dead_letter(self, rec: Any, prod: Any, error: str) -> None:
        headers = [*(rec.headers or []), ("error", error.encode()[:4000]),
                   ("original_topic", rec.topic.encode()),
                   ("original_partition", str(rec.partition).encode()),
                   ("original_offset", str(rec.offset).encode())]
        self._letters.append((rec, headers, self._send(prod, rec.value, rec.key, headers)))
        self.dead_lettered += 1
        log.info("inbound_dead_lettered", topic=rec.topic, partition=rec.partition,
                 offset=rec.offset, error=error[:200])

    def _send(self, prod: Any, value: bytes | None, key: bytes | None, headers: list) -> Any:
        try:
            return prod.send(self.dlq, value=value, key=key, headers=headers)
        except MessageSizeTooLargeError as exc:
            return exc

    def confirm_dead_letters(self, prod: Any) -> None:
        """Every dead letter acknowledged by the broker before its offset is committed.

        One the DLQ refuses as too large goes again without its bytes (they stay in
        the inbound topic at the offset its headers name); any other failure raises,
        so nothing is committed and the batch is read again.
        """
        prod.flush(timeout=30)
        retry = []
        for rec, headers, sent in self._letters:
            failure = sent if isinstance(sent, Exception) else sent.exception if sent.failed() else None
            if isinstance(failure, MessageSizeTooLargeError):
                note = [("error_detail", f"original {len(rec.value or b'')} bytes too large "
                                         "for the DLQ; read them at the original offset".encode())]
                retry.append(self._send(prod, None, rec.key, headers + note))
            elif failure is not None:
                raise failure
        self._letters = []
        if retry:
            prod.flush(timeout=30)
            for sent in retry:
                if isinstance(sent, Exception):
                    raise sent
                sent.get(timeout=0)

    def run(self, stop: threading.Event) -> None:
        cons = prod = None
        while not stop.is_set():
            try:
                if cons is None:
                    ensure_topics(self.bootstrap, [self.topic, self.dlq], self.partitions)
                    prod = producer(self.bootstrap, max_request_size=16 * 1024 * 1024)
                    cons = consumer(self.bootstrap, "csm-inbound", max_poll_records=2000)
                    cons.subscribe([self.topic])
                batch = cons.poll(timeout_ms=500)
                for tp, records in batch.items():
                    try:
                        self.handle_batch(records, prod)
                    except Exception:
                        # Our side failed (store unreachable): come back to these messages.
                        self._letters = []
                        cons.seek(TopicPartition(tp.topic, tp.partition), records[0].offset)
                        raise
                if batch:
                    self.confirm_dead_letters(prod)
                    cons.commit()
            except (KafkaError, OSError) as exc:
                log.warning("inbound_broker_unavailable", error=repr(exc)[:200])
                self._letters = []  # unconfirmed: the batch is read again
                cons, prod = _close(cons), _close(prod)
                stop.wait(1.0)
            except Exception:
                log.exception("inbound_retrying")
                time.sleep(1.0)
        _close(cons)
        _close(prod)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid message: {where}: {first.get('msg')}"
    return f"{type(exc).__name__}: {exc}"


def _close(client: Any) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:  # closing a client whose broker is gone may fail; nothing to save
            pass
    return None
