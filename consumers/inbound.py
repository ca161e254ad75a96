"""Channel messages from `csm.inbound` → commands; anything unacceptable → `csm.inbound.dlq`.

`message_id` is the idempotency key (scope `inbound`, recorded in the same
transaction as the command's events), so a redelivered message has no second
effect. A message that cannot be accepted goes to the DLQ with its original
bytes, headers `error` (in plain words, naming the field), `original_topic`,
`original_partition`, `original_offset` — once, however often it is sent
(`consumers.dead_letters`) — and the consumer moves on. A message whose target
is not known yet goes to the retry topic instead and is tried again
(`consumers.inbound_retry`), the DLQ only after `RetryPolicy.for_seconds`.
Offsets are committed only once every DLQ and retry copy is acknowledged; when
the event store is unreachable nothing is skipped: the same messages are read
again.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from kafka.errors import KafkaError, MessageSizeTooLargeError

from csm.consumers.dead_letters import Letter, already_sent, digest, remember
from csm.consumers.inbound_batch import (
    REFUSED,
    Duplicate,
    Message,
    decide,
    decide_one,
    parse,
    why,
)
from csm.consumers.inbound_retry import (
    Holds,
    RetryPolicy,
    adapter_headers,
    not_before,
    now_ms,
    origin,
    origin_headers,
)
from csm.consumers.kafka_io import (
    MAX_MESSAGE_BYTES,
    Undelivered,
    close,
    consumer,
    deliver,
    ensure_topics,
    made,
    producer,
    retriable,
)
from csm.consumers.outage import Outage
from csm.consumers.refusal_reasons import not_found, reason
from csm.domain.application import NothingToRecord, Recorded
from csm.domain.csm import CsmApplication
from csm.domain.errors import NotFound
from csm.infra.idempotency import IdempotencyMismatch
from csm.infra.part_status import ConsumerLag, PartStatus, count_dead_letters

log = structlog.get_logger()
GROUP = "csm-inbound"
# A refusal (`REFUSED`) belongs to the message: to the DLQ. Anything else (the store is
# down, …) belongs to us: the same messages are read again.


@dataclass
class Copy:
    """A record on its way to the DLQ or the retry topic, until the broker acknowledges it."""
    rec: Any
    topic: str
    headers: list[tuple[str, bytes]]
    sent: Any   # the send's future, or the error it raised at once
    letter: Letter | None = None


class Inbound:
    def __init__(self, pool: Any, app: CsmApplication, bootstrap: str, topic: str, dlq: str,
                 partitions: int, retry_topic: str | None = None,
                 retry: RetryPolicy = RetryPolicy()):
        self.pool, self.app, self.bootstrap = pool, app, bootstrap
        self.topic, self.dlq, self.partitions = topic, dlq, partitions
        self.retry_topic, self.retry = retry_topic or f"{topic}.retry", retry
        self.accepted = self.dead_lettered = self.retried = self.repeats = 0
        self.prod: Any = None
        self._copies: list[Copy] = []
        self._round: set[str] = set()   # digests dead-lettered since the last confirm
        self.holds = Holds()
        self.broker = Outage("kafka_unavailable", "kafka_recovered", client=GROUP)
        self.failure = Outage("inbound_failed", "inbound_recovered", topic=topic)
        self.status = PartStatus("inbound")  # replaced by the process's heartbeat status
        self.lag = ConsumerLag(topic)

    # -- one message, one batch ---------------------------------------------------
    def handle(self, rec: Any) -> None:
        """One message through the one-command-per-transaction path."""
        try:
            msg = self._parse(rec)
        except REFUSED as exc:
            self._dead_letter(rec, reason(exc))
            return
        self._settle(msg, decide_one(self.pool, self.app, msg)[0])

    def handle_batch(self, records: list[Any]) -> None:
        """Many messages, one transaction; on any conflict, each message on its own instead."""
        parsed = []
        for rec in records:
            try:
                parsed.append(self._parse(rec))
            except REFUSED as exc:
                self._dead_letter(rec, reason(exc))
        for m, outcome in zip(parsed, decide(self.pool, self.app, parsed).outcomes):
            self._settle(m, outcome)

    def _settle(self, m: Message, outcome: Any) -> None:
        """Counts an applied message, or sends a refused one where it goes."""
        if isinstance(outcome, (Recorded, NothingToRecord, Duplicate)):
            self.accepted += 1
        elif isinstance(outcome, NotFound):
            self._retry_later(m, outcome)
        elif isinstance(outcome, REFUSED):
            self._dead_letter(m.rec, why(m, outcome), m.env.message_id,
                              again=isinstance(outcome, IdempotencyMismatch))
        else:
            raise outcome

    @staticmethod
    def _parse(rec: Any) -> Message:
        return parse(rec.value, rec)

    # -- where a message goes when it is not applied --------------------------------
    def _is_copy(self, rec: Any) -> bool:
        return rec.topic == self.retry_topic

    def _retry_later(self, m: Message, exc: NotFound) -> None:
        rec, copy = m.rec, self._is_copy(m.rec)
        headers = self.retry.next_copy(rec, copy, str(exc), now_ms())
        if headers is None:
            self._dead_letter(rec, not_found(exc, m.body, self.retry.for_seconds),
                              m.env.message_id)
            return
        self._copies.append(Copy(rec, self.retry_topic, headers,
                                 self._send(self.retry_topic, rec.value, rec.key, headers)))
        self.retried += 1
        attempt = dict(headers)["retry_attempt"].decode()
        (log.info if attempt == "1" else log.debug)(
            "inbound_retry_later", topic=rec.topic, partition=rec.partition, offset=rec.offset,
            attempt=int(attempt), error=str(exc)[:200])

    def _dead_letter(self, rec: Any, error: str, message_id: str | None = None,
                     again: bool = False) -> None:
        """To the DLQ, unless these very bytes are there already (`again`: even so)."""
        copy = self._is_copy(rec)
        place = origin(rec, copy)
        key = digest(rec.key, rec.value)
        if not again and (key in self._round or already_sent(self.pool, [key])):
            self.repeats += 1
            log.info("inbound_dead_letter_repeated", topic=place[0], partition=place[1],
                     offset=place[2], error=error[:200])
            return
        self._round.add(key)
        headers = [*adapter_headers(rec, copy), ("error", error.encode()[:4000]),
                   *origin_headers(place)]
        self._copies.append(Copy(rec, self.dlq, headers,
                                 self._send(self.dlq, rec.value, rec.key, headers),
                                 Letter(key, message_id, error[:4000], place)))
        self.dead_lettered += 1
        log.info("inbound_dead_lettered", topic=place[0], partition=place[1], offset=place[2],
                 error=error[:200])

    def _send(self, topic: str, value: bytes | None, key: bytes | None, headers: list) -> Any:
        try:
            return self.prod.send(topic, value=value, key=key, headers=headers)
        except MessageSizeTooLargeError as exc:
            return exc

    def confirm(self, stop: threading.Event | None = None) -> None:
        """Every DLQ and retry copy acknowledged by the broker before offsets are committed.

        A dead letter the DLQ refuses as too large goes again without its bytes (they stay
        in the inbound topic at the offset its headers name) — from a new producer, with
        whatever failed beside it: the broker's refusal leaves an idempotent producer unable
        to send anything more. Any other failure raises, so nothing is committed and the
        messages are read again.
        """
        copies, self._copies = self._copies, []
        if not copies:
            return
        deliver(self.prod, self.broker, stop)
        failed = [(c, f) for c in copies if (f := _failure(c.sent)) is not None]
        too_large = [c for c, f in failed
                     if isinstance(f, MessageSizeTooLargeError) and c.topic == self.dlq]
        if failed and not too_large:
            raise Undelivered(failed[0][1])
        if failed:
            if any(not isinstance(c.sent, Exception) for c, _ in failed):
                self._renew_producer()
            for c, _ in failed:
                value = c.rec.value
                if c in too_large:
                    value, c.headers = None, c.headers + [("error_detail", (
                        f"original {len(c.rec.value or b'')} bytes too large for the DLQ; read "
                        "them at the original offset").encode())]
                c.sent = self._send(c.topic, value, c.rec.key, c.headers)
            deliver(self.prod, self.broker, stop)
            for c, _ in failed:
                if (failure := _failure(c.sent)) is not None:
                    raise Undelivered(failure)
        remember(self.pool, [c.letter for c in copies if c.letter is not None])
        self._round = set()

    def _renew_producer(self) -> None:
        self._drop_producer()
        self.prod = producer(self.bootstrap, max_request_size=MAX_MESSAGE_BYTES)

    def _drop_producer(self) -> None:
        close(self.prod)
        self.prod = None

    # -- the loop -------------------------------------------------------------------
    def _start(self) -> Any:
        ensure_topics(self.bootstrap, [self.topic, self.retry_topic, self.dlq], self.partitions)
        self.prod = producer(self.bootstrap, max_request_size=MAX_MESSAGE_BYTES)
        try:
            # One outage line for the part, whichever of its clients notices.
            cons = consumer(self.bootstrap, GROUP, broker=self.broker, max_poll_records=2000)
            cons.subscribe([self.topic, self.retry_topic])
        except BaseException:
            close(self.prod)
            raise
        self.broker.end()
        self.holds = Holds()
        log.info("inbound_started", topics=[self.topic, self.retry_topic], dlq=self.dlq)
        return cons

    def _take(self, cons: Any, batch: dict[Any, list[Any]]) -> None:
        now = now_ms()
        for tp, records in batch.items():
            if tp.topic == self.retry_topic:
                due = []
                for rec in records:
                    if not_before(rec) > now:
                        self.holds.hold(cons, tp, rec.offset, not_before(rec))
                        break
                    due.append(rec)
                records = due
            if records:
                self.handle_batch(records)

    def run(self, stop: threading.Event) -> None:
        cons = None
        while not stop.is_set():
            if cons is None and (cons := made(self._start, self.broker, stop)) is None:
                continue
            batch: dict[Any, list[Any]] = {}
            try:
                if self.prod is None:
                    self._renew_producer()
                self.holds.release_due(cons, now_ms())
                wait = self.holds.next_in(now_ms())
                batch = cons.poll(timeout_ms=500 if wait is None else min(500, int(wait * 1000)))
                if batch:
                    self._take(cons, batch)
                    letters = sum(1 for c in self._copies if c.topic == self.dlq)
                    self.confirm(stop)
                    count_dead_letters(self.pool, self.dlq, letters)
                    self._commit(cons)
                self.status.update(partitions=self.lag.after_commit(cons, batch))
                self.status.ok()
                self.failure.end()
            except Exception as exc:
                if stop.is_set():
                    break
                self._rewind(cons, batch)
                if retriable(exc):
                    self.broker.begin(exc)
                    self.status.failed("", f"broker unavailable: {type(exc).__name__}: {exc}")
                else:
                    self.failure.begin(exc, trace=not isinstance(
                        exc, (psycopg.OperationalError, KafkaError, Undelivered)))
                    self.status.failed("", f"cannot go on: {type(exc).__name__}: {exc}")
                    if isinstance(exc, (KafkaError, Undelivered)):
                        self._drop_producer()
                stop.wait(1.0)
        close(cons)
        close(self.prod)

    def _rewind(self, cons: Any, batch: dict[Any, list[Any]]) -> None:
        """Our side failed (the store unreachable, a copy not acknowledged): read them again."""
        self._copies, self._round = [], set()
        self.holds.forget(cons, list(batch))
        assigned = cons.assignment()
        for tp, records in batch.items():
            if tp in assigned:  # one that moved is read again by its new consumer
                cons.seek(tp, records[0].offset)

    @staticmethod
    def _commit(cons: Any) -> None:
        try:
            cons.commit(timeout_ms=5000)
        except KafkaError as exc:
            # Everything up to here is applied or copied: the next commit covers it, and a
            # redelivery meanwhile has no second effect.
            log.info("inbound_commit_deferred", error=repr(exc)[:200])


def _failure(sent: Any) -> BaseException | None:
    """Why a send failed: the error it raised at once, or the one its future holds."""
    if isinstance(sent, Exception):
        return sent
    return sent.exception if sent.failed() else None
