"""Inbound ingest rate (channel messages → recorded events), against a raw COPY.

    .venv/bin/python -m bench.kafka_inbound [N] [--partitions P]

On a throwaway embedded PostgreSQL and a real single-node Kafka broker: puts N
channel messages (default 5,000; feedback, complaints, survey answers and new
customers, as `bench/inbound_messages.py` makes them) on a fresh
inbound topic first, then starts the inbound consumer (`consumers.inbound.Inbound`,
the code `csm inbound` runs) and times it from start until every message has its
idempotency record, i.e. its events are recorded (messages/s and events/s).
The baseline, in the same run on the same server: a raw psycopg `COPY` of N rows
of the same messages (message_id, type, the JSON value) into a bare table.
Target: the batch path ingests at ≥ 50% of the raw COPY.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg

from csm.consumers.inbound import Inbound
from csm.infra.database import EmbeddedPostgres
from csm.infra.kafka_broker import KafkaBroker
from csm.consumers.composition import start_runtime
from csm.projections.store import head_position
from bench.stack import LiveServer, new_database, settings_for
from bench.inbound_messages import inbound_messages, produce
from bench.topics import MAX_MESSAGE_BYTES, Topics
from bench.world import make_world

TARGET = 0.5


def raw_copy(url: str, msgs) -> tuple[int, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_inbound_raw")
        conn.execute("CREATE TABLE bench_inbound_raw (message_id text PRIMARY KEY, type text, "
                     "value bytea, at timestamptz DEFAULT now())")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                "COPY bench_inbound_raw (message_id, type, value) FROM STDIN") as copy:
            for m in msgs:
                copy.write_row((m.message_id, "inbound", m.value))
        return len(msgs), time.perf_counter() - started


def timed_inbound(rt, url: str, bootstrap: str, topics: Topics, partitions: int,
                  n_msgs: int) -> tuple[float, float | None, Inbound]:
    """Runs the inbound consumer until every message has its idempotency record: its
    seconds, the seconds until the first record (None: never), and the consumer."""
    inbound = Inbound(rt.pool, rt.app, bootstrap, topics.inbound, topics.dlq, partitions)
    stop = threading.Event()
    worker = threading.Thread(target=inbound.run, args=(stop,), daemon=True)
    started = time.perf_counter()
    worker.start()
    first = None
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            n = conn.execute("SELECT count(*) FROM csm_idempotency WHERE scope = 'inbound'"
                             ).fetchone()[0]
            if n and first is None:
                first = time.perf_counter() - started
            if n >= n_msgs:
                break
            time.sleep(0.01)
    seconds = time.perf_counter() - started
    stop.set()
    worker.join(15)
    return seconds, first, inbound


def measure(n: int = 5_000, partitions: int = 6) -> dict:
    """Starts PostgreSQL and a Kafka broker, puts `n` messages on a fresh inbound topic,
    times the inbound consumer, then the raw COPY; returns counts, seconds and loads."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-inbound-")))
        server = EmbeddedPostgres(tmp / "pg")
        stack.callback(server.stop)
        url = new_database(server)
        broker = stack.enter_context(KafkaBroker(
            num_partitions=partitions,
            extra_props={"message.max.bytes": str(MAX_MESSAGE_BYTES)}))
        topics = Topics.fresh("bench")
        topics.create(broker.bootstrap_servers, partitions)
        rt = start_runtime(settings_for(url, tmp, kafka_bootstrap_servers=broker.bootstrap_servers,
                                        csm_kafka_partitions=partitions,
                                        csm_topic_inbound=topics.inbound,
                                        csm_topic_dlq=topics.dlq))
        stack.callback(rt.close)
        live = LiveServer(rt)
        with live.client("admin") as c:
            world = make_world(c, "bench")
        live.stop()
        # distinct messages only (no repeats): every one must record its events
        msgs = inbound_messages(world, n, f"b{uuid.uuid4().hex[:6]}", random.Random(1),
                                repeat_share=0)
        produce(broker.bootstrap_servers, topics.inbound, msgs)
        head_before = head_position(rt.pool)
        load = os.getloadavg()
        t_inbound, first, inbound = timed_inbound(rt, url, broker.bootstrap_servers, topics,
                                                  partitions, len(msgs))
        events = head_position(rt.pool) - head_before
        assert inbound.dead_lettered == 0, inbound.dead_lettered
        load_copy = os.getloadavg()
        n_copy, t_copy = raw_copy(url, msgs)
    return {"n": len(msgs), "t": t_inbound, "first": first, "events": events,
            "n_copy": n_copy, "t_copy": t_copy, "partitions": partitions, "load": load,
            "load_copy": load_copy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=5_000)
    ap.add_argument("--partitions", type=int, default=6)
    args = ap.parse_args()
    m = measure(args.n, args.partitions)
    n, t_inbound, events = m["n"], m["t"], m["events"]
    rate, copy_rate = n / t_inbound, m["n_copy"] / m["t_copy"]
    steady = n / (t_inbound - m["first"]) if m["first"] is not None else 0.0
    print(f"raw COPY into a bare table : {m['n_copy']:>7,} rows in {m['t_copy']:7.3f} s = "
          f"{copy_rate:>10,.0f} rows/s")
    print(f"inbound consumer           : {n:>7,} messages in {t_inbound:7.3f} s = "
          f"{rate:>10,.0f} messages/s ({events:,} events = {events / t_inbound:,.0f} "
          f"events/s; from the first record on: {steady:,.0f} messages/s), "
          f"{args.partitions} partitions, one consumer")
    print(f"ratio inbound / raw COPY: {rate / copy_rate:.2%}; target ≥ {TARGET:.0%}: "
          f"{'met' if rate / copy_rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
