"""10,000 commands over HTTP and 10,000 channel messages on the inbound topic, through a
real Kafka broker: every event reaches the events topic, every read model equals a
rebuild from the store, every channel message has its effect exactly once.

Every part runs as its own process, as it would be deployed to scale out — `csm api`,
`csm relay`, `csm project`, `csm inbound` — so the two cores are shared by
processes, not by threads of one interpreter; this process only sends the load
(a few concurrent HTTP clients and a Kafka producer) and checks.
"""
from __future__ import annotations

import os
import random
import threading
import time

import pytest

from csm.consumers.composition import start_runtime
from bench.stack import new_database
from tests.read_model_checks import compare_with_rebuild
from bench.inbound_messages import expected, inbound_messages, inbound_producer, produce
from bench.processes import Api, Part, part_env
from bench.topics import Topics
from bench.world import make_world
from tests.events_topic import check_events_topic, consume_all, rows_line
from tests.http_load import HttpLoad, check_inbound_effects
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import wait_caught_up

COMMANDS = int(os.environ.get("CSM_KAFKA_E2E_COMMANDS", "10000"))
MESSAGES = int(os.environ.get("CSM_KAFKA_E2E_MESSAGES", "10000"))
CLIENTS = 4


@pytest.fixture
def stack(pg_server, kafka_broker, tmp_path):
    topics = Topics.fresh("e2e")
    topics.create(kafka_broker.bootstrap_servers)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics))
    env = part_env(rt.settings)
    parts = {p: Part(p, env, tmp_path) for p in ("relay", "project", "inbound")}
    try:
        api = Api(env, tmp_path)
    except BaseException:
        for p in parts.values():
            p.terminate()
        raise
    parts["api"] = api
    yield rt, api, topics, parts
    for p in parts.values():
        p.terminate()
    rt.close()


def test_ten_thousand_commands_and_channel_messages_all_reach_kafka_and_the_read_models(
        stack, kafka_broker):
    rt, live, topics, parts = stack
    bootstrap = kafka_broker.bootstrap_servers
    rng = random.Random(20260101)
    tag = topics.events.split(".")[0]
    with live.client("admin") as c:
        world = make_world(c, tag, reopenable=100, revisits=100)
    messages = inbound_messages(world, MESSAGES, tag, rng)
    exp = expected(messages)

    def alive() -> None:
        for p in parts.values():
            assert p.alive(), f"csm {p.part} exited:\n{p.log_tail()}"

    started = time.monotonic()
    load = HttpLoad(live.url, world, COMMANDS, clients=CLIENTS, seed=3,
                    policy_at=COMMANDS // 2).start()
    produced: list[int] = []

    def channel() -> None:
        """Channel messages in step with the HTTP load: both run from start to end together."""
        prod, sent = inbound_producer(bootstrap), 0
        try:
            while sent < len(messages):
                due = len(messages) if not load.running() else len(messages) * load.sent // COMMANDS
                if due > sent:
                    sent += produce(bootstrap, topics.inbound, messages[sent:due], prod=prod)
                else:
                    time.sleep(0.05)
        finally:
            prod.close(timeout=30)
            produced.append(sent)
    producer = threading.Thread(target=channel, daemon=True)
    producer.start()
    while load.running():
        alive()
        time.sleep(0.5)
    load.join()
    producer.join(120)
    sent_for = time.monotonic() - started
    assert not load.errors, load.errors
    assert load.statuses[201] == load.sent + 1 and not load.failures, (load.statuses,
                                                                      load.failures)
    assert produced == [exp.sent]

    p = wait_caught_up(rt.pool, topics.events, 240, inbound=len(exp.message_ids), alive=alive)
    caught_up_after = time.monotonic() - started

    report = check_events_topic(rt.pool, bootstrap, topics.events)
    problems, counts, at = compare_with_rebuild(rt)
    inbound_problems, inbound_counts = check_inbound_effects(rt.pool, exp)
    dead = consume_all(bootstrap, topics.dlq)
    lat = sorted(load.latencies)
    print(f"\nend to end: {load.sent:,} HTTP commands (+1 policy) from {CLIENTS} clients in "
          f"{load.finished_at - load.started_at:.1f} s = {load.rate():,.0f}/s "
          f"(p50 {lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * .99)] * 1000:.0f} ms);"
          f" {exp.sent:,} channel messages ({len(exp.message_ids):,} distinct, {exp.repeats} sent"
          f" twice) in {sent_for:.1f} s; all caught up after {caught_up_after:.1f} s at "
          f"position {p['head']:,}")
    marks = report.watermarks / report.records
    print(f"topic: {report.line()}; watermark records {marks:.1%} of the topic")
    print(f"inbound: {inbound_counts}; dead letters {len(dead)}")
    print(f"read models equal a rebuild at {at:,}: {rows_line(counts)}")
    assert not report.problems, "\n".join(report.problems)
    assert report.distinct == report.store
    assert not problems, "\n".join(problems)
    assert not inbound_problems, "\n".join(inbound_problems)
    assert not dead, [(d.value[:200], d.headers) for d in dead[:5]]
    assert counts["complaints"] > 0 and counts["satisfaction_facts"] > 0
    assert marks < 0.2, f"watermark records are {marks:.1%} of the topic"
