"""What the Kafka parts share: topics, clients, and the `csm.events` message format.

A message's value is `{event_id, position, stream_id, stream_version, type,
occurred_at, recorded_at, data}` with header `type`; personal fields inside
`data` stay encrypted. Progress per partition (what a projector needs for
`min_position`) comes in two forms, both meaning "every event of this partition
with position ≤ N is written before this record": a header `watermark: N` on
the last event a relay batch wrote to a partition, and, for a partition the
batch did not touch, a watermark record (header `type: csm.watermark`, value
`{"watermark": N}`, no key) — at most one per partition per 100 ms.

Clients are made once per part and kept through broker outages (they reconnect
within `reconnect_backoff_max_ms`); a consumer that is closed on purpose leaves
its group at once, so its partitions move without waiting for its session to
time out.
"""
from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson
import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
)

from csm.consumers.outage import Outage
from csm.projections.events import Ev

log = structlog.get_logger()
T = TypeVar("T")
WATERMARK = "csm.watermark"
MARK_HEADER = "watermark"
# Published to every partition, so each partition sees the rules in force in log order.
BROADCAST_TYPES = frozenset({"policy.published"})
# Room for a dead letter: the largest inbound message plus its headers.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Every client: back within a second of the broker's return, and a start that gives up
# after 5 s (to be tried again) rather than 30.
CLIENT = dict(reconnect_backoff_ms=50, reconnect_backoff_max_ms=1000, bootstrap_timeout_ms=5000)
# A consumer that died is out of its group after 10 s; one that stalls without polling, 60 s.
GROUP = dict(session_timeout_ms=10_000, heartbeat_interval_ms=1_000, max_poll_interval_ms=60_000)


def reachable(bootstrap: str, timeout: float = 1.0) -> None:
    """Raises KafkaConnectionError unless some bootstrap server accepts a connection.

    Checked before making a client: a kafka-python client whose start fails leaves its
    I/O thread behind, so a part waiting for the broker must not make one per attempt.
    """
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "localhost", int(port)),
                                     timeout=timeout).close()
            return
        except (OSError, ValueError):
            continue
    raise KafkaConnectionError(f"no broker accepts connections at {bootstrap}")


def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    reachable(bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="csm-admin", **CLIENT)
    try:
        existing = set(admin.list_topics())
        configs = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        missing = {n: NewTopic(n, partitions, 1, topic_configs=configs)
                   for n in names if n not in existing}
        if missing:
            try:
                admin.create_topics(list(missing.values()))
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    reachable(bootstrap)
    settings = dict(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                    linger_ms=5, batch_size=512 * 1024, max_request_size=4 * 1024 * 1024,
                    max_block_ms=10_000, request_timeout_ms=15_000,
                    delivery_timeout_ms=600_000, **CLIENT)
    settings.update(overrides)
    return KafkaProducer(**settings)


def consumer(bootstrap: str, group: str, broker: Outage | None = None,
             **overrides: Any) -> Consumer:
    """`broker`: the part's outage to report to (default: one of the consumer's own)."""
    reachable(bootstrap)
    settings = dict(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                    auto_offset_reset="earliest", max_poll_records=5000,
                    max_partition_fetch_bytes=8 * 1024 * 1024, request_timeout_ms=15_000,
                    **GROUP, **CLIENT)
    settings.update(overrides)
    return Consumer(broker, **settings)


class Consumer(KafkaConsumer):
    """A group consumer that says once when it has lost every broker and once when it is back.

    kafka-python's `poll` mostly does not fail while the broker is away (it reconnects on
    its own and returns nothing), so the client's own metrics tell: no connection for
    `DOWN_AFTER` seconds is an outage; records or a heartbeat answered since it began end
    it (a connection alone does not: a starting broker accepts them before it serves).
    """
    CHECK_EVERY, DOWN_AFTER, HEARTBEAT_WITHIN = 1.0, 2.0, 3.0

    def __init__(self, broker: Outage | None = None, **settings: Any):
        super().__init__(**settings)
        self.broker = broker or Outage("kafka_unavailable", "kafka_recovered",
                                       client=settings["group_id"])
        self._checked, self._lost_at = 0.0, None

    def poll(self, *args: Any, **kwargs: Any) -> dict:
        batch = super().poll(*args, **kwargs)
        now = time.monotonic()
        if batch:
            self._lost_at = None
            self.broker.end()
        elif now - self._checked >= self.CHECK_EVERY:
            self._checked = now
            heartbeat = metric(self, "last-heartbeat-seconds-ago")
            lost_for = now - self.broker.since if self.broker.active else float("inf")
            if heartbeat is not None and heartbeat < min(self.HEARTBEAT_WITHIN, lost_for):
                self._lost_at = None
                self.broker.end()   # a heartbeat answered since the outage began
            elif connections(self) == 0:
                self._lost_at = self._lost_at or now
                if now - self._lost_at >= self.DOWN_AFTER:
                    self.broker.begin(f"no connection to {self.config['bootstrap_servers']}")
            else:
                self._lost_at = None
        return batch


def metric(client: Any, name: str) -> float | None:
    """One of a producer's or consumer's own metrics (None: it does not keep it)."""
    for key, value in (client.metrics(raw=True) or {}).items():
        if key.name == name:
            return value.value()
    return None


def connections(client: Any) -> float | None:
    """How many broker connections a producer or consumer holds."""
    return metric(client, "connection-count")


class Undelivered(Exception):
    """A record the broker did not take; the producer that sent it is not used again."""


def retriable(exc: BaseException) -> bool:
    """A passing trouble (the broker away, a timeout): the clients are kept, they reconnect.
    A client kept through an outage keeps its group membership; one made anew joins as
    another member, and the broker makes it wait until the old one's session has expired."""
    return isinstance(exc, KafkaError) and exc.retriable


def made(make: Callable[[], T], broker: Outage, stop: Any) -> T | None:
    """`make()`'s client, or None (after a second's wait) while the broker is not there."""
    try:
        return make()
    except (KafkaError, OSError) as exc:
        broker.begin(exc)
        stop.wait(1.0)
        return None


def deliver(prod: KafkaProducer, broker: Outage, stop: Any = None, wait: float = 2.0) -> None:
    """Flushes `prod` however long the broker is away (saying so once); gives up only on
    `stop`. Records the broker refused are the callers' to check on their futures."""
    while True:
        try:
            prod.flush(timeout=wait)
            break
        except KafkaTimeoutError as exc:
            if not connections(prod):
                broker.begin(exc)
            if stop is not None and stop.is_set():
                raise
    broker.end()


def close(client: Any) -> None:
    """Closes a consumer (leaving its group, committing nothing), producer or admin client."""
    if client is None:
        return
    try:
        if isinstance(client, KafkaConsumer):
            client.close(autocommit=False, timeout_ms=3000)
        elif isinstance(client, KafkaProducer):
            client.close(timeout=3)
        else:
            client.close()
    except Exception as exc:  # a client whose broker is gone may fail to close; nothing to save
        log.info("kafka_client_close_failed", error=repr(exc)[:200])


def partition_of(key: bytes, partitions: int, _m: int = 0x5BD1E995,
                 _words=struct.Struct("<I").iter_unpack) -> int:
    """The partition kafka's default partitioner picks for `key`: kafka-python's murmur2,
    worked a 4-byte word at a time rather than a byte at a time (the relay's hot path)."""
    n = len(key)
    h = 0x9747B28C ^ n
    whole = n & ~3
    for (k,) in _words(key[:whole]):
        k = (k * _m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _m) & 0xFFFFFFFF
        h = ((h * _m) & 0xFFFFFFFF) ^ k
    rest = n & 3
    if rest:
        if rest == 3:
            h ^= key[whole + 2] << 16
        if rest >= 2:
            h ^= key[whole + 1] << 8
        h = ((h ^ key[whole]) * _m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _m) & 0xFFFFFFFF
    return ((h ^ (h >> 15)) & 0x7FFFFFFF) % partitions


def event_message(ev: Ev, recorded_at: datetime | None) -> bytes:
    return orjson.dumps({
        "event_id": ev.event_id, "position": ev.position, "stream_id": ev.stream_id,
        "stream_version": ev.version, "type": ev.type, "occurred_at": ev.occurred_at,
        "recorded_at": recorded_at, "data": ev.data})


def decode_message(value: bytes) -> Ev:
    m = orjson.loads(value)
    return Ev(m["position"], m["stream_id"], m["stream_version"], m["type"],
              datetime.fromisoformat(m["occurred_at"]), m["data"])


def header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode()
    return None


def mark_of(rec: Any) -> int | None:
    """The position a record vouches for in its partition (watermark record or header)."""
    if header(rec.headers, "type") == WATERMARK:
        return orjson.loads(rec.value)["watermark"]
    mark = header(rec.headers, MARK_HEADER)
    return int(mark) if mark is not None else None
