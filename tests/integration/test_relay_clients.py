"""The relay publishes the same records whichever Kafka client it uses (CSM_KAFKA_CLIENT):
kafka-python and confluent-kafka put the same keys, values and headers, in the same order,
into each partition of the events topic, and both exactly what the relay's original
per-event encoding makes of the store. Also: the relay's one-parse encoding and its
partitioner agree with the reference ones (`decode_stored` + `event_message`,
kafka-python's murmur2) on every row and key, including the rows it hands back to
`decode_stored`; and CSM_KAFKA_CLIENT is checked when the settings are read."""
from __future__ import annotations

import importlib.util
import os
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import orjson
import pytest
from psycopg.rows import tuple_row
from pydantic import ValidationError

from bench.stack import new_database, settings_for
from bench.synthetic import generate
from bench.topics import PARTITIONS
from kafka.partitioner.default import murmur2

from csm.consumers import kafka_io
from csm.consumers.composition import start_runtime
from csm.consumers.kafka_io import (BROADCAST_TYPES, MARK_HEADER, WATERMARK, event_message,
                                   header, mark_of)
from csm.consumers.relay import Relay, message_of
from csm.infra.settings import Settings
from csm.projections.events import decode_stored
from csm.projections.store import head_position
from tests.events_topic import check_events_topic, consume_all
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)

EVENTS, BATCH = 3000, 400    # several full batches, so the read-ahead is used


def reference_records(rows: list[tuple], batch: int, partitions: int) -> dict[int, list]:
    """Per partition, the (key, value, headers) of each event record, as the relay made them
    before it had a second client: batch after batch of `batch` rows, each event encoded by
    `event_message(decode_stored(...))`, the last record of a batch in a partition with the
    batch's watermark header."""
    out: dict[int, list] = defaultdict(list)
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        records = []
        for position, stream_id, version, topic, state, recorded_at in chunk:
            ev = decode_stored(position, stream_id, version, topic, state)
            key = stream_id.encode()
            targets = range(partitions) if ev.type in BROADCAST_TYPES else \
                (kafka_io.partition_of(key, partitions),)
            records += [(p, key, event_message(ev, recorded_at), [("type", ev.type.encode())])
                        for p in targets]
        final = {p: i for i, (p, *_) in enumerate(records)}
        for i in final.values():
            records[i][3].append((MARK_HEADER, b"%d" % chunk[-1][0]))
        for p, key, value, headers in records:
            out[p].append((key, value, headers))
    return out


def on_topic(bootstrap: str, topic: str) -> tuple[dict[int, list], dict[int, int]]:
    """Per partition, the (key, value, headers) of each event record, and the position it
    is vouched for up to (by watermark headers and records)."""
    events: dict[int, list] = defaultdict(list)
    vouched: dict[int, int] = defaultdict(int)
    for r in consume_all(bootstrap, topic, timeout=30):
        if header(r.headers, "type") == WATERMARK:
            assert r.key is None and [k for k, _ in r.headers] == ["type"], r
        else:
            events[r.partition].append((r.key, r.value, [(k, v) for k, v in r.headers]))
        mark = mark_of(r)
        if mark is not None:
            assert mark >= vouched[r.partition], (r.partition, mark, vouched[r.partition])
            vouched[r.partition] = mark
    return events, vouched


def relay_all(rt, bootstrap: str, client: str) -> str:
    """The relay with `client`, from position 0 to the head of the store, into a fresh
    topic; returns the topic."""
    topic = f"relay-{client}-{uuid.uuid4().hex[:8]}.events"
    relay = Relay(rt.pool, bootstrap, topic, PARTITIONS, batch=BATCH, client=client)
    prod = relay._start()
    try:
        assert prod.client == client
        head = head_position(rt.pool)
        while relay.position < head:
            assert relay.publish_once(prod) > 0
        relay.marks.every = 0.0      # every partition gets its watermark now
        relay.send_owed_marks(prod)
    finally:
        kafka_io.close(prod)
    assert relay.published == head
    return topic


def test_both_clients_publish_the_same_records_as_the_relay_always_did(
        pg_server, kafka_broker, tmp_path):  # noqa: F811
    pytest.importorskip("confluent_kafka")
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path))
    try:
        generate(rt.app, EVENTS, seed=5, now=datetime(2026, 1, 1, tzinfo=UTC), progress=False)
        with rt.pool.connection() as conn:
            rows = conn.cursor(row_factory=tuple_row).execute(
                "SELECT notification_id, originator_id, originator_version, topic, state, "
                "recorded_at FROM csm_events ORDER BY notification_id", binary=True).fetchall()
        assert len(rows) > 5 * BATCH
        assert any(decode_stored(*r[:5]).type in BROADCAST_TYPES for r in rows)
        expected = reference_records(rows, BATCH, PARTITIONS)
        bootstrap = kafka_broker.bootstrap_servers

        topics = {c: relay_all(rt, bootstrap, c) for c in ("kafka-python", "confluent")}
        got = {c: on_topic(bootstrap, t) for c, t in topics.items()}
        for client, (events, vouched) in got.items():
            assert sorted(events) == list(range(PARTITIONS)), client
            for p in range(PARTITIONS):
                assert events[p] == expected[p], f"{client}: partition {p} differs"
            assert vouched == {p: rows[-1][0] for p in range(PARTITIONS)}, client
            report = check_events_topic(rt.pool, bootstrap, topics[client])
            assert not report.problems and report.distinct == report.store, report.problems
        assert got["confluent"][0] == got["kafka-python"][0]
    finally:
        rt.close()


def test_the_relays_encoding_is_the_reference_one_on_every_kind_of_row():
    def row(state: dict | bytes, position: int = 7, topic: str = "department.registered"):
        raw = state if isinstance(state, bytes) else orjson.dumps(state)
        return (position, "dep-1", 3, topic, raw, datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))

    iso = {"_type_": "datetime_iso", "_data_": "2025-09-03T00:01:12.500000+00:00"}
    envelope = {"timestamp": iso, "occurred_at": iso}
    rows = [
        row({**envelope, "department_id": "d", "name": "Sales", "satisfaction_target": 80.0}),
        row({**envelope, "originator_topic": "x", "due": iso, "n": None, "tags": ["a", "é"]}),
        row({**envelope, "deep": {"at": iso, "list": [iso, 1]}, "top": iso}),     # deeper down
        row({**envelope, "text": 'a "_type_" in a string', "_type_": "plain"}),
        row({"timestamp": iso, "occurred_at": "2025-09-03T00:01:12+00:00", "x": 1}),
        row({"occurred_at": {"_data_": "2025-09-03T00:01:12+00:00"}, "x": 1}),
    ]
    for r in rows:
        ev = decode_stored(*r[:5])
        assert message_of(r) == (event_message(ev, r[5]), ev.type), r[4]

    for bad in (row(b'{"occurred_at": "2025-09-03T00:01:12+00:00", "x": "\\ud800"}'),
                row({"x": 1}), row({**envelope}, topic="no.such.event")):
        with pytest.raises(Exception) as raised:
            decode_stored(*bad[:5])
        with pytest.raises(type(raised.value)):
            message_of(bad)


def test_the_partitioner_is_kafkas_default_one():
    rng = random.Random(3)
    keys = [os.urandom(rng.randint(0, 64)) for _ in range(3000)]
    keys += [f"s{n}-customer-{rng.random()}".encode() for n in range(3000)]
    for key in keys:
        for partitions in (1, 3, 6, 7, 64):
            assert kafka_io.partition_of(key, partitions) == \
                (murmur2(key) & 0x7FFFFFFF) % partitions


def test_the_client_setting_is_checked_at_start(monkeypatch):
    monkeypatch.delenv("CSM_KAFKA_CLIENT", raising=False)
    assert Settings().csm_kafka_client == "kafka-python"
    monkeypatch.setenv("CSM_KAFKA_CLIENT", " Confluent ")
    if importlib.util.find_spec("confluent_kafka") is not None:
        assert Settings().csm_kafka_client == "confluent"
    with pytest.raises(ValidationError, match="must be one of kafka-python, confluent"):
        Settings(csm_kafka_client="librdkafka")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValidationError, match=r"needs the confluent-kafka package.*csm\[fast\]"):
        Settings()
