"""Dead letters: one per bad message however often it comes, and `csm dlq replay` after a fix.

The inbound consumer runs in this process; `csm dlq replay` runs as the operator would
run it, a process of its own.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import orjson
import psycopg

from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, new_database
from bench.inbound_messages import envelope, inbound_producer
from bench.processes import CSM, part_env
from bench.topics import Topics
from csm.consumers.kafka_io import header
from tests.events_topic import consume_all
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import progress


def registration(tag: str, n: int) -> tuple[str, bytes]:
    """A message that needs nothing else to exist: a new customer."""
    mid = f"{tag}-reg-{n}"
    return mid, envelope(mid, "customer.registered", {"customer_id": f"{tag}-c{n}", "name": "A"})


def wait_for(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def recorded(rt, message_id: str) -> bool:
    with rt.pool.connection() as conn:
        return conn.execute("SELECT 1 FROM csm_idempotency WHERE scope = 'inbound' AND key = %s",
                            (message_id,)).fetchone() is not None


def test_a_bad_message_sent_again_and_again_is_dead_lettered_once(pg_server, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topics = Topics.fresh("once")
    topics.create(bootstrap)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics))
    tag = topics.events.split(".")[0]
    bad = b'{"message_id": "' + tag.encode() + b'-bad", "type": "feedback.submitted"'
    prod = inbound_producer(bootstrap)
    try:
        parts = rt.start_kafka_parts({"inbound"})
        for _ in range(2):                      # back to back
            prod.send(topics.inbound, key=b"k", value=bad)
        mid, value = registration(tag, 1)
        prod.send(topics.inbound, key=b"k", value=value).get(timeout=30)
        wait_for("the message after them", lambda: recorded(rt, mid))
        prod.send(topics.inbound, key=b"k", value=bad)   # later, to the same consumer
        mid, value = registration(tag, 2)
        prod.send(topics.inbound, key=b"k", value=value).get(timeout=30)
        wait_for("the message after it", lambda: recorded(rt, mid))
        first_repeats = parts.inbound.repeats
        parts.stop()

        parts = rt.start_kafka_parts({"inbound"})     # and to a consumer started afresh
        prod.send(topics.inbound, key=b"k", value=bad)
        mid, value = registration(tag, 3)
        prod.send(topics.inbound, key=b"k", value=value).get(timeout=30)
        wait_for("the message after it", lambda: recorded(rt, mid))
        dead = consume_all(bootstrap, topics.dlq)
        with rt.pool.connection() as conn:
            rows = conn.execute("SELECT times, original_offset FROM csm_dead_letters").fetchall()
        print(f"\nthe same bad message sent 4 times (2 back to back, 1 later, 1 after a restart): "
              f"{len(dead)} dead letter(s), repeats seen {first_repeats} + "
              f"{parts.inbound.repeats}; csm_dead_letters {rows}")
        assert [(d.value, header(d.headers, "original_offset")) for d in dead] == [(bad, "0")]
        assert (first_repeats, parts.inbound.repeats) == (2, 1)
        assert rows == [{"times": 1, "original_offset": 0}]
    finally:
        prod.close(10)
        rt.close()


def replay(env: dict[str, str], *args: str) -> dict[str, int]:
    done = subprocess.run([CSM, "dlq", "replay", *args], env=env, capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    for line in done.stderr.splitlines():   # the part's own log: JSON lines
        assert orjson.loads(line)["part"] == "dlq", line
    return orjson.loads(done.stdout)


def test_dead_letters_replayed_after_a_fix_are_applied_once_however_often_they_are_replayed(
        pg_server, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topics = Topics.fresh("replay")
    topics.create(bootstrap)
    url = new_database(pg_server)
    rt = start_runtime(kafka_settings(url, tmp_path, kafka_broker, topics))
    live = LiveServer(rt)
    prod = inbound_producer(bootstrap)
    try:
        parts = rt.start_kafka_parts({"inbound"})
        tag = topics.events.split(".")[0]
        dep, cid = f"{tag}-dep", f"{tag}-k1"
        complaint = envelope(f"{tag}-m1", "complaint.opened", {
            "complaint_id": cid, "channel": "web", "department_id": dep, "severity": "low",
            "description": "The department is set up later"})
        poison = b"not json at all"
        prod.send(topics.inbound, key=b"a", value=complaint)
        prod.send(topics.inbound, key=b"b", value=poison)
        prod.flush(30)
        wait_for("both dead-lettered", lambda: parts.inbound.dead_lettered == 2)
        env = part_env(rt.settings)
        future = replay(env, "--since", "2999-01-01T00:00:00Z")

        with live.client("admin") as c:                   # the fix
            assert c.post("/v1/departments", json={"department_id": dep,
                                                   "name": "Late"}).status_code == 201
        first = replay(env, "--filter", "complaint.opened")
        wait_for("the complaint recorded", lambda: recorded(rt, f"{tag}-m1"))
        accepted = parts.inbound.accepted
        second = replay(env)                               # all of them, once more
        wait_for("both replayed messages handled", lambda: parts.inbound.accepted > accepted
                 and parts.inbound.repeats >= 1)
        dead = consume_all(bootstrap, topics.dlq)
        with psycopg.connect(url, autocommit=True) as conn:
            events = conn.execute("SELECT count(*) FROM csm_events WHERE originator_id = %s",
                                  (cid,)).fetchone()[0]
        print(f"\nreplay: --since the future {future}; after the fix --filter complaint.opened "
              f"{first}; all again {second}; events of the complaint {events}; DLQ records "
              f"{len(dead)}; {progress(rt.pool, topics.events)}")
        assert future == {"read": 0, "sent": 0, "without_bytes": 0}
        assert first == {"read": 2, "sent": 1, "without_bytes": 0}
        assert second == {"read": 2, "sent": 2, "without_bytes": 0}
        assert events == 1, "a replayed message had a second effect"
        assert len(dead) == 2, "the poison, replayed and refused again, was dead-lettered twice"
        assert "not found" in header(dead[0].headers, "error") or \
            "not found" in header(dead[1].headers, "error")
    finally:
        prod.close(10)
        live.stop()
        rt.close()
