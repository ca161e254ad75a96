"""The Kafka broker stops for 30 s in the middle of a load: the API keeps answering 201,
after the broker returns everything arrives — nothing is lost — and every part is back
at the head within 10 s.

Relay, projectors and inbound consumer run in this process beside the API (as
`csm serve` runs them). Channel messages are produced before the outage (a
backlog the inbound consumer is still working on when the broker stops) and after
it returns. "Back at the head": the relay and each projection have reached the store's
head as it was when the broker returned, and the inbound consumer has recorded every
message sent before the outage; the load goes on meanwhile.
"""
from __future__ import annotations

import random
import threading
import time

import pytest

from csm.projections.registry import ALL
from tests.read_model_checks import compare_with_rebuild
from bench.inbound_messages import expected, inbound_messages, produce
from bench.world import make_world
from tests.events_topic import check_events_topic, consume_all, rows_line
from tests.http_load import HttpLoad, check_inbound_effects
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import running_stack
from tests.kafka_progress import progress, wait_caught_up

DOWN_FOR = 30
BACK_WITHIN = 10.0


class Recovery(threading.Thread):
    """From the broker's return, when each part first reached what it had to catch up on."""

    def __init__(self, pool, topic: str, inbound: int, timeout: float = 120):
        super().__init__(name="recovery", daemon=True)
        self.pool, self.topic, self.inbound, self.timeout = pool, topic, inbound, timeout
        self.head = progress(pool, topic)["head"]
        self.started = time.monotonic()
        self.at: dict[str, float] = {}

    def run(self) -> None:
        while time.monotonic() - self.started < self.timeout:
            p, t = progress(self.pool, self.topic), time.monotonic() - self.started
            reached = {"relay": p["relay"] >= self.head, "inbound": p["inbound"] >= self.inbound,
                       **{f"projection {n}": v >= self.head for n, v in p["projections"].items()}}
            for part, ok in reached.items():
                if ok:
                    self.at.setdefault(part, t)
            if len(self.at) == 2 + len(ALL):
                return
            time.sleep(0.1)


@pytest.fixture
def stack(pg_server, kafka_broker, tmp_path):
    with running_stack(pg_server, kafka_broker, tmp_path, "outage") as parts:
        yield parts


def test_the_api_keeps_answering_while_kafka_is_down_and_everything_arrives_after_it_returns(
        stack, kafka_broker):
    rt, live, topics, parts = stack
    bootstrap = kafka_broker.bootstrap_servers
    tag = topics.events.split(".")[0]
    with live.client("admin") as c:
        world = make_world(c, tag, reopenable=30, revisits=30)
    messages = inbound_messages(world, 3000, tag, random.Random(77))
    first, backlog, second = messages[:1000], messages[1000:2000], messages[2000:]

    # answers per phase: before / during / after the outage
    phase = {"now": "before"}
    answered: dict[str, int] = {"before": 0, "during": 0, "after": 0}
    lock = threading.Lock()

    def on_command(_n: int) -> None:
        with lock:
            answered[phase["now"]] += 1

    load = HttpLoad(live.url, world, 1_000_000, clients=3, seed=5, policy_at=300,
                    on_command=on_command).start()
    produce(bootstrap, topics.inbound, first)
    deadline = time.monotonic() + 120
    while load.sent < 1500 or parts.inbound.accepted < 500:
        assert time.monotonic() < deadline, (load.sent, progress(rt.pool, topics.events))
        time.sleep(0.2)
    produce(bootstrap, topics.inbound, backlog)   # still being worked on when the broker stops

    at_stop = progress(rt.pool, topics.events)
    phase["now"] = "during"
    stopped = time.monotonic()
    kafka_broker.stop_keep_data()
    time.sleep(DOWN_FOR / 2)
    mid = progress(rt.pool, topics.events)
    time.sleep(DOWN_FOR / 2)
    end = progress(rt.pool, topics.events)
    kafka_broker.start()
    recovery = Recovery(rt.pool, topics.events,
                        len(expected(first + backlog).message_ids))
    recovery.start()
    down = time.monotonic() - stopped
    phase["now"] = "after"
    produce(bootstrap, topics.inbound, second)
    time.sleep(5)
    load.total = load.sent   # the load ends
    load.join(60)
    assert not load.errors, load.errors

    exp = expected(messages)
    p = wait_caught_up(rt.pool, topics.events, 180, inbound=len(exp.message_ids))
    recovered = time.monotonic() - stopped
    recovery.join(60)

    report = check_events_topic(rt.pool, bootstrap, topics.events)
    inbound_problems, inbound_counts = check_inbound_effects(rt.pool, exp)
    dead = consume_all(bootstrap, topics.dlq)
    problems, counts, at = compare_with_rebuild(rt)
    print(f"\nbroker outage: down {down:.1f} s; HTTP answers {dict(load.statuses)} — "
          f"{answered['before']} before, {answered['during']} while the broker was down, "
          f"{answered['after']} after; store head {at_stop['head']:,} at the stop, "
          f"{mid['head']:,} after {DOWN_FOR // 2} s, {end['head']:,} after {DOWN_FOR} s; relay at "
          f"{at_stop['relay']:,}, {mid['relay']:,}, {end['relay']:,}; inbound records "
          f"{at_stop['inbound']:,}, {mid['inbound']:,}, {end['inbound']:,}; everything arrived "
          f"{recovered:.1f} s after the stop, at {p['head']:,}")
    print(f"back at the head after the broker returned (head {recovery.head:,} then): "
          + ", ".join(f"{part} {t:.1f} s" for part, t in sorted(recovery.at.items(),
                                                                key=lambda x: x[1])))
    print(f"topic: {report.line()}")
    print(f"inbound: {exp.sent:,} messages ({len(exp.message_ids):,} distinct), {inbound_counts};"
          f" dead letters {len(dead)}")
    print(f"read models equal a rebuild at {at:,}: {rows_line(counts)}")
    assert set(load.statuses) == {201} and not load.failures, (load.statuses, load.failures)
    assert answered["during"] >= 50, answered
    assert end["head"] > mid["head"] > at_stop["head"], "the store stood still while Kafka was down"
    assert end["relay"] == mid["relay"], "the relay recorded progress with no broker to publish to"
    assert not report.problems, "\n".join(report.problems)
    assert report.distinct == report.store
    assert not inbound_problems, "\n".join(inbound_problems)
    assert not dead, [(d.value[:200], d.headers) for d in dead[:5]]
    assert not problems, "\n".join(problems)
    assert rt.projectors.running() and parts.running()
    late = {part: t for part, t in recovery.at.items() if t > BACK_WITHIN}
    missing = {"relay", "inbound", *(f"projection {n}" for n in ALL)} - set(recovery.at)
    assert not late and not missing, (f"not back at the head within {BACK_WITHIN} s of the "
                                      f"broker's return: {late}, never: {missing}")
