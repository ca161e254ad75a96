"""Relay throughput, store → Kafka, against a raw streaming SELECT of the same events.

    .venv/bin/python -m bench.kafka_relay [N] [--partitions P] [--data-dir DIR]

On a throwaway embedded PostgreSQL and a real single-node Kafka broker: writes N
synthetic events (default 200,000) through the real application, then measures
  (a) a raw server-side-cursor SELECT of the columns the relay reads, in position
      order (rows/s) — the ceiling of reading the store;
  (b) the relay (`consumers.relay.Relay`, the code `csm relay` runs) publishing
      every event to a fresh topic: read, decode, encode, send with acks=all and
      an idempotent producer, wait for every acknowledgement, watermark every
      partition, record progress — from position 0 until its progress reaches
      the head (events/s);
and prints both with their ratio. Target: ≥ 50,000
events/s from store to Kafka. `--data-dir DIR` keeps PostgreSQL there and reuses
its events on the next run.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.synthetic import generate
from csm.consumers.kafka_io import ensure_topics, producer
from csm.consumers.relay import Relay
from csm.infra.database import EmbeddedPostgres
from csm.infra.kafka_broker import KafkaBroker
from csm.consumers.composition import start_runtime
from csm.projections.store import head_position
from bench.stack import new_database, settings_for

RAW_SELECT = ("SELECT notification_id, originator_id, originator_version, topic, state, "
              "recorded_at FROM csm_events ORDER BY notification_id")
TARGET = 50_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def raw_select(url: str) -> tuple[int, float]:
    with psycopg.connect(url) as conn, conn.cursor(name="bench_raw") as cur:
        cur.itersize = 10_000
        started = time.perf_counter()
        cur.execute(RAW_SELECT, binary=True)
        n = sum(1 for _ in cur)
        return n, time.perf_counter() - started


def relay_all(rt, bootstrap: str, partitions: int) -> tuple[int, float, int]:
    topic = f"bench-relay-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions)
    relay = Relay(rt.pool, bootstrap, topic, partitions)
    prod = producer(bootstrap)
    try:
        relay.position = relay._load()
        head = head_position(rt.pool)
        batches = 0
        started = time.perf_counter()
        while relay.position < head:
            relay.publish_once(prod)
            batches += 1
        return relay.published, time.perf_counter() - started, batches
    finally:
        prod.close(timeout=10)


def measure(rt, url: str, partitions: int = 6) -> dict:
    """Starts a Kafka broker, then times the raw SELECT and the relay over the store's
    events; returns counts, seconds and the load average before each."""
    with KafkaBroker(num_partitions=partitions) as broker:
        load_raw = os.getloadavg()
        n_raw, t_raw = raw_select(url)
        load_relay = os.getloadavg()
        n_relay, t_relay, batches = relay_all(rt, broker.bootstrap_servers, partitions)
    return {"n_raw": n_raw, "t_raw": t_raw, "n": n_relay, "t": t_relay, "batches": batches,
            "partitions": partitions, "load_raw": load_raw, "load": load_relay}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--data-dir", type=Path)
    args = ap.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-relay-")))
        data = args.data_dir or tmp
        server = EmbeddedPostgres(data / "pg")
        stack.callback(server.stop)
        marker = data / "bench_relay_url"
        url = marker.read_text().strip() if marker.exists() else new_database(server)
        marker.write_text(url)
        rt = start_runtime(settings_for(url, data))
        stack.callback(rt.close)
        have = head_position(rt.pool)
        if have < args.n * 0.95:
            started = time.perf_counter()
            wrote = generate(rt.app, args.n, seed=11, now=NOW, progress=False)
            print(f"generated {wrote:,} events in {time.perf_counter() - started:.1f} s")
        m = measure(rt, url, args.partitions)
        raw_rate, relay_rate = m["n_raw"] / m["t_raw"], m["n"] / m["t"]
        print(f"raw streaming SELECT : {m['n_raw']:>9,} events in {m['t_raw']:6.2f} s = "
              f"{raw_rate:>9,.0f} events/s")
        print(f"relay store → Kafka  : {m['n']:>9,} events in {m['t']:6.2f} s = "
              f"{relay_rate:>9,.0f} events/s ({m['batches']} batches, {args.partitions} "
              f"partitions, acks=all, idempotent)")
        print(f"ratio relay / raw SELECT: {relay_rate / raw_rate:.1%}; target ≥ {TARGET:,} "
              f"events/s: {'met' if relay_rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
