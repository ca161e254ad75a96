"""The events topic checked against the store: read fully (watermarks skipped, duplicates
dropped by `event_id`), it holds exactly the events of the store, each stream in version
order."""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from kafka import KafkaConsumer, TopicPartition

from bench.topics import MAX_MESSAGE_BYTES, PARTITIONS
from csm.consumers.kafka_io import BROADCAST_TYPES, WATERMARK, header
from csm.projections.events import type_of_topic


def consume_all(bootstrap: str, topic: str, timeout: float = 120) -> list[Any]:
    """Every record of `topic`, from the beginning to the end offsets taken now."""
    cons = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
                         fetch_max_bytes=64 * 1024 * 1024,
                         max_poll_records=20_000)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(cons.partitions_for_topic(topic) or ())]
        assert tps, f"topic {topic} has no partitions"
        cons.assign(tps)
        cons.seek_to_beginning(*tps)
        end = cons.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(cons.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end in {timeout} s"
            for batch in cons.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        cons.close()


@dataclass
class TopicReport:
    records: int = 0
    watermarks: int = 0
    events: int = 0        # event records, duplicates included
    distinct: int = 0
    duplicates: int = 0
    store: int = 0
    streams: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.records:,} records on the topic: {self.events:,} event records "
                f"({self.distinct:,} distinct event_ids, {self.duplicates:,} duplicates of "
                f"at-least-once delivery incl. broadcast copies), {self.watermarks:,} watermarks; "
                f"{self.store:,} events in the store over {self.streams:,} streams")


def check_events_topic(pool: Any, bootstrap: str, topic: str) -> TopicReport:
    """The topic holds every event of the store once at least, nothing else, and every
    stream's events in version order (in the partition of its key; broadcast types in
    every partition)."""
    rep = TopicReport()
    with pool.connection() as conn:
        cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
        stored = cur.execute("SELECT notification_id, originator_id, originator_version, topic "
                             "FROM csm_events ORDER BY notification_id").fetchall()
    store: dict[str, tuple[int, str, int, str]] = {}
    versions: dict[str, list[int]] = defaultdict(list)
    for position, stream, version, t in stored:
        store[f"{stream}@{version}"] = (position, stream, version, type_of_topic(t))
        versions[stream].append(version)
    rep.store, rep.streams = len(store), len(versions)

    records = consume_all(bootstrap, topic)
    rep.records = len(records)
    seen: set[str] = set()
    # partition → stream → versions in first-occurrence order
    order: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    first_in_partition: dict[int, set[str]] = defaultdict(set)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    wrong: list[str] = []
    for r in records:
        if header(r.headers, "type") == WATERMARK:
            rep.watermarks += 1
            continue
        rep.events += 1
        m = orjson.loads(r.value)
        eid = m["event_id"]
        if eid != f"{m['stream_id']}@{m['stream_version']}" or r.key != m["stream_id"].encode():
            wrong.append(f"inconsistent record {eid} key {r.key!r}")
        if header(r.headers, "type") != m["type"]:
            wrong.append(f"{eid}: header type {header(r.headers, 'type')} != {m['type']}")
        known = store.get(eid)
        if known is None:
            wrong.append(f"{eid} is on the topic but not in the store")
        elif (known[0], known[3]) != (m["position"], m["type"]):
            wrong.append(f"{eid}: topic says position {m['position']} type {m['type']}, "
                         f"store {known[0]} {known[3]}")
        seen.add(eid)
        partitions_of[m["stream_id"]].add(r.partition)
        if eid not in first_in_partition[r.partition]:
            first_in_partition[r.partition].add(eid)
            order[r.partition][m["stream_id"]].append(m["stream_version"])
    rep.distinct = len(seen)
    rep.duplicates = rep.events - rep.distinct
    missing = [e for e in store if e not in seen]
    if missing:
        rep.problems.append(f"{len(missing)} events of the store are not on the topic, "
                            f"e.g. {missing[:5]}")
    rep.problems += wrong[:10]
    broadcast_streams = {s for _, s, _, t in store.values() if t in BROADCAST_TYPES}
    for stream, expect in versions.items():
        parts = partitions_of.get(stream, set())
        if stream in broadcast_streams:
            for p in range(PARTITIONS):
                if order[p].get(stream) != expect:
                    rep.problems.append(f"broadcast stream {stream} in partition {p}: versions "
                                        f"{order[p].get(stream)}, store {expect}")
            continue
        if len(parts) > 1:
            rep.problems.append(f"stream {stream} spread over partitions {sorted(parts)}")
        for p in parts:
            if order[p][stream] != expect:
                rep.problems.append(f"stream {stream}: versions in order {order[p][stream][:20]}"
                                    f", store {expect[:20]}")
    return rep


def rows_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counts.items())
