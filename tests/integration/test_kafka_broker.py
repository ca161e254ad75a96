"""Real Kafka broker (infra.kafka_broker): produce, consume, restart on the same port, data kept."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from csm.infra.kafka_broker import KafkaBroker

TOPIC = "csm-broker-selftest"
PARTITIONS = 3
KEYS = [f"key-{i}" for i in range(10)]
N = 100


@pytest.fixture(scope="module")
def broker():
    with KafkaBroker() as b:
        yield b


def _read_all(bootstrap: str, expected: int, timeout: float = 30) -> list:
    """Every record of TOPIC from the beginning, without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def _per_key(records) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in records:
        key, seq = r.value.decode().split(":")
        assert r.key.decode() == key
        seqs[key].append(int(seq))
    return seqs


def test_produce_consume_restart_keeps_data(broker: KafkaBroker) -> None:
    bootstrap = broker.bootstrap_servers
    assert bootstrap == f"127.0.0.1:{broker.port}"

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({TOPIC: {"num_partitions": PARTITIONS, "replication_factor": 1}},
                            wait_for_metadata=True)
        assert TOPIC in admin.list_topics()
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    try:
        futures = [producer.send(TOPIC, key=KEYS[i % len(KEYS)].encode(),
                                 value=f"{KEYS[i % len(KEYS)]}:{i}".encode()) for i in range(N)]
        producer.flush(timeout=30)
        metas = [f.get(timeout=10) for f in futures]
    finally:
        producer.close(timeout=10)
    assert {m.partition for m in metas} <= set(range(PARTITIONS))
    assert len({m.partition for m in metas}) > 1, "10 keys should spread over the 3 partitions"

    # Consume through a consumer group (exercises the group coordinator and __consumer_offsets).
    group = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id="csm-selftest",
                          auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        got: list = []
        deadline = time.monotonic() + 30
        while len(got) < N and time.monotonic() < deadline:
            for batch in group.poll(timeout_ms=500).values():
                got.extend(batch)
        group.commit()
    finally:
        group.close()
    assert len(got) == N
    expected = {k: list(range(i, N, len(KEYS))) for i, k in enumerate(KEYS)}
    assert _per_key(got) == expected  # every key's messages, in produce order

    port = broker.port
    broker.restart()
    assert broker.port == port and broker.bootstrap_servers == bootstrap

    again = _read_all(bootstrap, N)
    assert len(again) == N
    assert _per_key(again) == expected

    # Committed group offsets survived the restart too.
    check = KafkaConsumer(bootstrap_servers=bootstrap, group_id="csm-selftest", enable_auto_commit=False)
    try:
        committed = sum(check.committed(TopicPartition(TOPIC, p)) or 0 for p in range(PARTITIONS))
    finally:
        check.close()
    assert committed == N
