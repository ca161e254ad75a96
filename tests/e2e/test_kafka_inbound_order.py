"""A customer's registration and the complaint that names them, sent one after the other:
whichever partitions they travel on, the complaint is recorded — never dead-lettered
because it overtook the registration.

1,000 pairs "register customer, then open a complaint for them" go to an inbound topic
of 6 partitions, a third keyed by `message_id` (the two messages land on different
partitions), a third without a key (random partitions), a third by customer id (one
partition, in order). Two `csm inbound` processes share the partitions; one is killed
with SIGKILL half-way and started again. A complaint that comes before its customer
waits on the retry topic, not in its partition.
"""
from __future__ import annotations

import threading
import time

import orjson
import psycopg
from kafka import KafkaProducer

from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, new_database
from bench.inbound_messages import InMsg, envelope, expected, inbound_producer
from bench.processes import Part, part_env
from bench.topics import Topics
from bench.world import make_world
from csm.consumers.kafka_io import header
from tests.events_topic import consume_all
from tests.http_load import check_inbound_effects
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import progress

PAIRS = 1000
PARTITIONS = 6
KEYINGS = ("message_id", "none", "customer_id")


def pairs(tag: str, departments: list[str]) -> list[tuple[bytes | None, InMsg]]:
    """(key, message) in the order an adapter sends them: each customer, then its complaint."""
    out = []
    for i in range(PAIRS):
        cus, cmp = f"{tag}-buyer-{i}", f"{tag}-cmp-{i}"
        register = InMsg(f"{tag}-reg-{i}", envelope(f"{tag}-reg-{i}", "customer.registered", {
            "customer_id": cus, "name": f"Customer {i}"}), creates=(cus, "customer.registered"))
        complain = InMsg(f"{tag}-cmp-{i}", envelope(f"{tag}-cmp-{i}", "complaint.opened", {
            "complaint_id": cmp, "customer_id": cus, "channel": "wechat",
            "department_id": departments[i % len(departments)], "severity": "medium",
            "description": "Late"}), creates=(cmp, "complaint.opened"))
        keying = KEYINGS[i % 3]
        for m in (register, complain):
            key = {"message_id": m.message_id.encode(), "none": None,
                   "customer_id": cus.encode()}[keying]
            out.append((key, m))
    return out


def send(prod: KafkaProducer, topic: str, messages: list[tuple[bytes | None, InMsg]],
         pace: float) -> None:
    started = time.monotonic()
    for n, (key, m) in enumerate(messages, 1):
        prod.send(topic, key=key, value=m.value)
        ahead = n / pace - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    prod.flush(60)


def test_a_complaint_sent_right_after_its_customer_is_recorded_whichever_partitions_they_take(
        pg_server, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topics = Topics.fresh("order")
    topics.create(bootstrap, partitions=PARTITIONS)
    url = new_database(pg_server)
    rt = start_runtime(kafka_settings(url, tmp_path, kafka_broker, topics,
                                      csm_kafka_partitions=PARTITIONS,
                                      csm_inbound_retry_seconds=300))
    live = LiveServer(rt)
    consumers: list[Part] = []
    try:
        tag = topics.events.split(".")[0]
        with live.client("admin") as c:
            world = make_world(c, tag)
        messages = pairs(tag, world.departments)
        exp = expected(m for _, m in messages)
        env = part_env(rt.settings)
        consumers = [Part("inbound", env, tmp_path, run=i) for i in range(2)]

        prod = inbound_producer(bootstrap)
        sender = threading.Thread(target=send, args=(prod, topics.inbound, messages, 250),
                                  daemon=True)
        started = time.monotonic()
        sender.start()
        deadline = time.monotonic() + 120
        while progress(rt.pool, topics.events)["inbound"] < len(messages) * 0.4:
            assert all(p.alive() for p in consumers), consumers[0].log_tail()
            assert time.monotonic() < deadline, progress(rt.pool, topics.events)
            time.sleep(0.1)
        killed_at = progress(rt.pool, topics.events)["inbound"]
        consumers[0].kill9()
        consumers.append(Part("inbound", env, tmp_path, run=2))
        sender.join(120)
        prod.close(10)
        deadline = time.monotonic() + 180
        while (p := progress(rt.pool, topics.events))["inbound"] < len(exp.message_ids):
            assert all(c.alive() for c in consumers[1:]), consumers[1].log_tail()
            assert time.monotonic() < deadline, f"not all recorded: {p}"
            time.sleep(0.2)
        took = time.monotonic() - started

        dead = consume_all(bootstrap, topics.dlq)
        retried = consume_all(bootstrap, topics.retry)
        problems, counts = check_inbound_effects(rt.pool, exp)
        with psycopg.connect(url, autocommit=True) as conn:
            opened = conn.execute(   # version 1 of a complaint's stream: its opening
                "SELECT count(*) FROM csm_events WHERE originator_version = 1 AND "
                "originator_id LIKE %s", (f"{tag}-cmp-%",)).fetchone()[0]
        pair_of = {m.message_id: i // 2 for i, (_, m) in enumerate(messages)}
        by_keying = dict.fromkeys(KEYINGS, 0)
        for r in retried:
            by_keying[KEYINGS[pair_of[orjson.loads(r.value)["message_id"]] % 3]] += 1
        for c in consumers:
            c.terminate()
        log_problems = [line for c in consumers for line in c.log_lines()[1]]
        print(f"\n{PAIRS:,} pairs over {PARTITIONS} partitions, two inbound consumers (one killed "
              f"with SIGKILL at {killed_at:,} records and restarted): all {len(exp.message_ids):,} "
              f"messages recorded after {took:.1f} s; {counts}; complaints opened "
              f"{opened:,}; retry copies {len(retried):,} "
              f"(by keying {by_keying}); dead letters {len(dead)}")
        assert not dead, [(header(d.headers, "error"), d.value[:200]) for d in dead[:5]]
        assert not problems, "\n".join(problems)
        assert opened == PAIRS, f"{opened} complaints recorded, {PAIRS} sent"
        assert retried, "no complaint overtook its customer: the test did not test the retry"
        assert not log_problems, "\n".join(log_problems[:10])
    finally:
        for c in consumers:
            if c.alive():
                c.terminate()
        live.stop()
        rt.close()


def test_a_complaint_for_a_customer_that_never_comes_is_dead_lettered_after_the_retry_time(
        pg_server, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topics = Topics.fresh("never")
    topics.create(bootstrap)
    retry_for = 3.0
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics,
                                      csm_inbound_retry_seconds=retry_for))
    parts = rt.start_kafka_parts({"inbound"})
    live = LiveServer(rt)
    try:
        tag = topics.events.split(".")[0]
        with live.client("admin") as c:
            world = make_world(c, tag)
        value = envelope(f"{tag}-orphan", "complaint.opened", {
            "complaint_id": f"{tag}-orphan", "customer_id": f"{tag}-nobody", "channel": "web",
            "department_id": world.departments[0], "severity": "low", "description": "x"})
        prod = inbound_producer(bootstrap)
        meta = prod.send(topics.inbound, key=b"nobody", value=value).get(timeout=30)
        sent = time.monotonic()
        prod.close(10)
        deadline = sent + 60
        while parts.inbound.dead_lettered < 1:
            assert time.monotonic() < deadline, "never dead-lettered"
            time.sleep(0.05)
        waited = time.monotonic() - sent
        dead = consume_all(bootstrap, topics.dlq)
        copies = consume_all(bootstrap, topics.retry)
        attempts = [int(header(r.headers, "retry_attempt")) for r in copies]
        firsts = {header(r.headers, "retry_first_seen") for r in copies}
        print(f"\nunknown customer: dead-lettered {waited:.1f} s after it was sent (retry time "
              f"{retry_for} s) after {len(copies)} retries {attempts}; error "
              f"{header(dead[0].headers, 'error') if dead else None!r}")
        assert waited >= retry_for
        assert [(d.value, header(d.headers, "original_topic"),
                 header(d.headers, "original_offset"), header(d.headers, "error"))
                for d in dead] == [(value, topics.inbound, str(meta.offset),
                                    f"payload.customer_id: customer '{tag}-nobody' not found, "
                                    f"still after {retry_for:g} s of retries")]
        assert attempts == list(range(1, len(attempts) + 1)) and len(attempts) >= 2
        assert len(firsts) == 1, "each copy must carry the time the message was first seen"
    finally:
        live.stop()
        rt.close()
