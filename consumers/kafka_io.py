"""What the Kafka parts share: topics, clients, and the `csm.events` message format (CONTRACT §3).

A message's value is `{event_id, position, stream_id, stream_version, type,
occurred_at, recorded_at, data}` with header `type`; personal fields inside
`data` stay encrypted. After each published batch the relay writes a
watermark record (header `type: csm.watermark`, value `{"watermark": N}`) to
every partition: a consumer that has read a partition up to it has seen every
event of that partition with position ≤ N.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from csm.projections.events import Ev

WATERMARK = "csm.watermark"
# Published to every partition, so each partition sees the rules in force in log order.
BROADCAST_TYPES = frozenset({"policy.published"})


# Room for a dead letter: the largest inbound message plus its headers.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="csm-admin")
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
    settings = dict(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                    linger_ms=5, batch_size=512 * 1024, max_request_size=4 * 1024 * 1024,
                    max_block_ms=10_000,
                    request_timeout_ms=15_000, delivery_timeout_ms=120_000)
    settings.update(overrides)
    return KafkaProducer(**settings)


def consumer(bootstrap: str, group: str, **overrides: Any) -> KafkaConsumer:
    settings = dict(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                    auto_offset_reset="earliest", max_poll_records=5000,
                    max_partition_fetch_bytes=8 * 1024 * 1024, session_timeout_ms=10_000,
                    heartbeat_interval_ms=2_000, max_poll_interval_ms=300_000)
    settings.update(overrides)
    return KafkaConsumer(**settings)


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
