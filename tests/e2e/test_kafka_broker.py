"""Real Kafka broker (infra.kafka_broker): produce, consume, restart on the same port, data kept;
`csm kafka` says so and exits when its broker dies."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import orjson
import psutil
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from csm.infra.kafka_broker import KafkaBroker
from bench.processes import CSM

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


def test_csm_kafka_exits_non_zero_naming_the_kept_broker_log_when_its_broker_dies(tmp_path) -> None:
    err = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen([CSM, "kafka", "--partitions", "1"], stdout=subprocess.PIPE,
                            stderr=err, start_new_session=True)
    try:
        first = proc.stdout.readline().decode()    # the broker is up when this is printed
        assert first.startswith("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:"), (
            first, (tmp_path / "stderr").read_text()[-2000:])
        [java] = [p for p in psutil.Process(proc.pid).children(recursive=True)
                  if p.name() == "java"]
        java.kill()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    lines = [orjson.loads(line) for line in (tmp_path / "stderr").read_bytes().splitlines()]
    died = [r for r in lines if r["level"] == "error" and "died" in r["event"]]
    kept = re.search(r"kept at (\S+);", died[0]["event"]).group(1) if died else None
    print(f"\ncsm kafka after its broker was killed: exit code {code}; says "
          f"{died[0]['event'][:160] if died else None!r}")
    try:
        assert code == 1
        assert died and Path(kept).is_file() and Path(kept).name == "broker.log"
        assert all(r["part"] == "kafka" for r in lines)
    finally:
        if kept:
            shutil.rmtree(Path(kept).parent, ignore_errors=True)
