"""Valid channel messages of every type, what each must do, and sending them to Kafka."""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaProducer

from bench.topics import MAX_MESSAGE_BYTES
from bench.world import World, ago, survey_answer
from csm.consumers.inbound_commands import INBOUND_NS


@dataclass
class Expected:
    """What the valid inbound messages must have done, each exactly once."""
    message_ids: set[str] = field(default_factory=set)
    created: dict[str, str] = field(default_factory=dict)   # record id → event type creating it
    changed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stream, type) → 1
    sent: int = 0            # messages produced, repeats included
    repeats: int = 0


@dataclass(frozen=True)
class InMsg:
    """A valid channel message and what it must do."""
    message_id: str
    value: bytes
    creates: tuple[str, str] | None = None    # (record id, event type)
    changes: tuple[str, str] | None = None    # (stream id, event type)


def expected(msgs: Iterable[InMsg]) -> Expected:
    exp = Expected()
    for m in msgs:
        exp.sent += 1
        if m.message_id in exp.message_ids:
            exp.repeats += 1
            continue
        exp.message_ids.add(m.message_id)
        if m.creates:
            exp.created[m.creates[0]] = m.creates[1]
        if m.changes:
            exp.changed[m.changes] += 1
    return exp


def envelope(message_id: str, type_: str, payload: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"message_id": message_id, "type": type_, "source": "test-adapter",
                         "payload": payload, **extra})


def derived_id(message_id: str) -> str:
    return str(uuid.uuid5(INBOUND_NS, message_id))


def inbound_messages(w: World, n: int, tag: str, rng: random.Random,
                     repeat_share: float = 0.02) -> list[InMsg]:
    """`n` valid channel messages of every type, some sent twice (an adapter's retry)."""
    out: list[InMsg] = []
    reopen, complete = list(w.resolved), list(w.revisits)
    i = 0
    while len(out) < n:
        i += 1
        mid = f"{tag}-m{i}"
        roll = rng.random()
        if reopen and roll < 0.02:
            cid = reopen.pop()
            m = InMsg(mid, envelope(mid, "complaint.reopened", {
                "complaint_id": cid, "reason": "Still leaking"}),
                changes=(cid, "complaint.reopened"))
        elif complete and roll < 0.04:
            rid = complete.pop()
            m = InMsg(mid, envelope(mid, "revisit.completed", {
                "revisit_id": rid, "outcome": "reached", "satisfaction": rng.randint(1, 5)}),
                changes=(rid, "revisit.completed"))
        elif roll < 0.10:
            cus = f"{tag}-icus-{i}"
            m = InMsg(mid, envelope(mid, "customer.registered", {
                "customer_id": cus, "name": f"Inbound {i}", "email": f"i{i}@example.com"}),
                creates=(cus, "customer.registered"))
        elif roll < 0.30:
            cmp = f"{tag}-icmp-{i}"
            m = InMsg(mid, envelope(mid, "complaint.opened", {
                "complaint_id": cmp, "channel": "wechat",
                "department_id": rng.choice(w.departments), "customer_id": rng.choice(w.customers),
                "severity": rng.choice(("low", "medium", "high")), "description": "Late"},
                occurred_at=ago(rng.uniform(0, 48))), creates=(cmp, "complaint.opened"))
        elif roll < 0.70:
            body = {"channel": "wechat",
                    "kind": rng.choice(("praise", "suggestion", "criticism", "inquiry")),
                    "department_id": rng.choice(w.departments),
                    "customer_id": rng.choice(w.customers), "rating": rng.randint(1, 5)}
            m = InMsg(mid, envelope(mid, "feedback.submitted", body,
                                    occurred_at=ago(rng.uniform(0, 48))),
                      creates=(derived_id(mid), "feedback.submitted"))
        else:
            body = {"survey_id": rng.choice(w.surveys), **survey_answer(rng, w)}
            m = InMsg(mid, envelope(mid, "survey.answered", body),
                      creates=(derived_id(mid), "survey.answered"))
        out.append(m)
        if rng.random() < repeat_share and len(out) < n:
            out.append(m)   # an adapter that sent it twice: no second effect
    return out


def inbound_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                         max_request_size=MAX_MESSAGE_BYTES, batch_size=256 * 1024)


def produce(bootstrap: str, topic: str, messages: Iterable[InMsg | tuple[str, bytes]],
            pace: float | None = None, stop: threading.Event | None = None,
            prod: KafkaProducer | None = None) -> int:
    """Sends the messages (keyed by message_id); with `pace`, about that many per second;
    returns how many it sent before `stop` was set."""
    own = prod is None
    prod = prod or inbound_producer(bootstrap)
    n, started = 0, time.monotonic()
    try:
        for m in messages:
            if stop is not None and stop.is_set():
                break
            key, value = (m.message_id, m.value) if isinstance(m, InMsg) else m
            prod.send(topic, key=key.encode(), value=value)
            n += 1
            if pace and n % 10 == 0:
                ahead = n / pace - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        prod.flush(timeout=120)
    finally:
        if own:
            prod.close(timeout=10)
    return n
