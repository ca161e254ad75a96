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
      the head (events/s); once with each Kafka client (`CSM_KAFKA_CLIENT`):
      kafka-python, and confluent-kafka when it is installed (the extra `fast`);
and prints each with its ratio to (a). Target: ≥ 50,000 events/s from store to
Kafka. `--clients kafka-python,confluent` picks the clients; `--data-dir DIR`
keeps PostgreSQL there and reuses its events on the next run.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.synthetic import generate
from csm.consumers.kafka_io import close
from csm.consumers.relay import Relay
from csm.consumers.relay_producers import CLIENTS
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


def available_clients() -> list[str]:
    """The Kafka clients the relay can use here: kafka-python always, confluent-kafka
    when it is installed."""
    return [c for c in CLIENTS
            if c != "confluent" or importlib.util.find_spec("confluent_kafka") is not None]


def client_version(client: str) -> str:
    """The version of a Kafka client, as the table names it."""
    if client == "confluent":
        import confluent_kafka
        return f"confluent-kafka {confluent_kafka.__version__} (librdkafka " \
               f"{confluent_kafka.libversion()[0]})"
    import kafka
    return f"kafka-python {kafka.__version__}"


def relay_all(rt, bootstrap: str, partitions: int, client: str) -> tuple[int, float, int]:
    """The relay with `client` publishing the whole store to a fresh topic."""
    topic = f"bench-relay-{client}-{uuid.uuid4().hex[:8]}"
    relay = Relay(rt.pool, bootstrap, topic, partitions, client=client)
    prod = relay._start()   # as `csm relay` starts: the topic, the producer, its progress
    try:
        head = head_position(rt.pool)
        batches = 0
        started = time.perf_counter()
        while relay.position < head:
            relay.publish_once(prod)
            batches += 1
        return relay.published, time.perf_counter() - started, batches
    finally:
        close(prod)


def measure(rt, url: str, partitions: int = 6, clients: list[str] | None = None) -> dict:
    """Starts a Kafka broker, then times the raw SELECT and the relay over the store's
    events with each client (default: every one installed); returns counts, seconds and
    the load average before each. "n", "t", "batches" and "load" are the first client's;
    "clients" has each one's."""
    clients = clients or available_clients()
    each: dict[str, dict] = {}
    with KafkaBroker(num_partitions=partitions) as broker:
        load_raw = os.getloadavg()
        n_raw, t_raw = raw_select(url)
        for client in clients:
            load = os.getloadavg()
            n, t, batches = relay_all(rt, broker.bootstrap_servers, partitions, client)
            each[client] = {"n": n, "t": t, "batches": batches, "load": load,
                            "version": client_version(client)}
    first = each[clients[0]]
    return {"n_raw": n_raw, "t_raw": t_raw, **first, "clients": each,
            "partitions": partitions, "load_raw": load_raw}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--clients", default=",".join(available_clients()),
                    help="Kafka clients to measure, comma-separated (default: every one "
                         "installed: %(default)s)")
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
        clients = [c.strip() for c in args.clients.split(",") if c.strip()]
        m = measure(rt, url, args.partitions, clients)
        raw_rate = m["n_raw"] / m["t_raw"]
        print(f"raw streaming SELECT : {m['n_raw']:>9,} events in {m['t_raw']:6.2f} s = "
              f"{raw_rate:>9,.0f} events/s (load {m['load_raw'][0]:.1f})")
        for client, c in m["clients"].items():
            rate = c["n"] / c["t"]
            print(f"relay store → Kafka  : {c['n']:>9,} events in {c['t']:6.2f} s = "
                  f"{rate:>9,.0f} events/s with {c['version']} ({c['batches']} batches, "
                  f"{args.partitions} partitions, acks=all, idempotent; load "
                  f"{c['load'][0]:.1f}); {rate / raw_rate:.1%} of the raw SELECT; target "
                  f"≥ {TARGET:,} events/s: {'met' if rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
