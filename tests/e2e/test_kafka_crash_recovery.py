"""kill -9 of the relay, the projectors and the inbound consumer during a load: no loss, no
double count.

The three parts run as `csm relay`, `csm project` and `csm inbound` processes while
HTTP commands and channel messages keep arriving. Each part is killed with SIGKILL at
least MIN_KILLS times, each time at a random moment after it has made progress since
its last start, and restarted at once. Afterwards the events topic holds every event
of the store in stream order, every read model equals a rebuild from the store, and
every channel message had its effect exactly once.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any

import psycopg
import pytest

from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, new_database
from tests.read_model_checks import compare_with_rebuild
from bench.inbound_messages import expected, inbound_messages, produce
from bench.processes import Part, part_env
from bench.topics import Topics
from bench.world import make_world
from tests.events_topic import check_events_topic, consume_all, rows_line
from tests.http_load import HttpLoad, check_inbound_effects
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import progress, wait_caught_up

MIN_KILLS = 5
PARTS = ("relay", "project", "inbound")


class Killer(threading.Thread):
    """Runs one part as a process; kills it with SIGKILL after it made progress, at a random
    moment, and starts it again, until told to stop."""

    def __init__(self, part: str, env: dict[str, str], url: str, topic: str, log_dir: Any,
                 rng: random.Random):
        super().__init__(name=f"killer-{part}", daemon=True)
        self.part, self.env, self.url, self.topic = part, env, url, topic
        self.log_dir, self.rng = log_dir, rng
        self.kills: list[tuple[float, int]] = []   # (seconds into the run, progress when killed)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.runs = 0
        self.started: list[Part] = []
        self.conn = psycopg.connect(url, autocommit=True)
        self.proc = self._start()

    def _start(self) -> Part:
        self.runs += 1
        self.started.append(Part(self.part, self.env, self.log_dir, self.runs))
        return self.started[-1]

    def measure(self) -> int:
        p = progress(self.conn, self.topic)
        if self.part == "relay":
            return p["relay"]
        if self.part == "project":
            return sum(p["projections"].values())
        return p["inbound"]

    def run(self) -> None:
        started = time.monotonic()
        try:
            while not self.stop.is_set() and len(self.kills) < MIN_KILLS + 2:
                base = self.measure()
                # wait until this run has done some work, then pick a random moment
                while self.measure() <= base and not self.stop.is_set():
                    if not self.proc.alive():
                        raise AssertionError(f"csm {self.part} exited:\n{self.proc.log_tail()}")
                    time.sleep(0.1)
                if self.stop.is_set():
                    break
                self.stop.wait(self.rng.uniform(0.0, 1.5))
                self.proc.kill9()
                self.kills.append((time.monotonic() - started, self.measure()))
                self.proc = self._start()
        except BaseException as e:  # reported by the test thread
            self.error = e
        finally:
            self.conn.close()

    def enough(self) -> bool:
        return len(self.kills) >= MIN_KILLS


@pytest.fixture
def stack(pg_server, kafka_broker, tmp_path):
    topics = Topics.fresh("crash")
    topics.create(kafka_broker.bootstrap_servers)
    url = new_database(pg_server)
    rt = start_runtime(kafka_settings(url, tmp_path, kafka_broker, topics))
    live = LiveServer(rt)
    yield rt, url, live, topics
    live.stop()
    rt.close()


def test_killing_relay_projectors_and_inbound_with_sigkill_loses_nothing_and_counts_nothing_twice(
        stack, kafka_broker, tmp_path):
    rt, url, live, topics = stack
    bootstrap = kafka_broker.bootstrap_servers
    seed = int(time.time())
    rng = random.Random(seed)
    tag = topics.events.split(".")[0]
    with live.client("admin") as c:
        world = make_world(c, tag, reopenable=60, revisits=60)
    messages = inbound_messages(world, 30_000, tag, rng)
    env = part_env(rt.settings)
    killers = {p: Killer(p, env, url, topics.events, tmp_path, random.Random(seed + i))
               for i, p in enumerate(PARTS)}

    load = HttpLoad(live.url, world, 1_000_000, clients=3, seed=seed, policy_at=1500).start()
    stop_producing = threading.Event()
    produced: list[int] = []
    producer = threading.Thread(target=lambda: produced.append(produce(
        bootstrap, topics.inbound, messages, pace=60, stop=stop_producing)), daemon=True)
    producer.start()
    started = time.monotonic()
    for k in killers.values():
        k.start()
    try:
        while not all(k.enough() for k in killers.values()):
            for k in killers.values():
                assert k.error is None, f"{k.part}: {k.error}"
            assert not load.errors, load.errors
            assert time.monotonic() - started < 300, {p: k.kills for p, k in killers.items()}
            time.sleep(0.5)
    finally:
        for k in killers.values():
            k.stop.set()
        for k in killers.values():
            k.join(30)
        load.total = load.sent   # the load ends
        load.join(60)
        stop_producing.set()
        producer.join(120)
    loaded_for = time.monotonic() - started
    assert not load.errors, load.errors
    assert load.statuses[201] == sum(load.statuses.values()) and not load.failures, (
        load.statuses, load.failures)
    exp = expected(messages[:produced[0]])

    def alive() -> None:
        for k in killers.values():
            assert k.proc.alive(), f"csm {k.part} exited:\n{k.proc.log_tail()}"
    try:
        p = wait_caught_up(url, topics.events, 180, inbound=len(exp.message_ids), alive=alive)
    finally:
        for k in killers.values():
            k.proc.terminate()

    report = check_events_topic(rt.pool, bootstrap, topics.events)
    inbound_problems, inbound_counts = check_inbound_effects(rt.pool, exp)
    dead = consume_all(bootstrap, topics.dlq)
    problems, counts, at = compare_with_rebuild(rt)
    log_problems = [line for k in killers.values() for run in k.started
                    for line in run.log_lines()[1]]
    print(f"\ncrash recovery (seed {seed}): load of {load.sent:,} HTTP commands and "
          f"{exp.sent:,} channel messages ({len(exp.message_ids):,} distinct) over "
          f"{loaded_for:.0f} s; events {p['head']:,}")
    for part, k in killers.items():
        print(f"  kill -9 {part}: {len(k.kills)} times, at (s, progress) "
              + ", ".join(f"({t:.0f}, {n:,})" for t, n in k.kills))
    print(f"topic: {report.line()}")
    print(f"inbound: {inbound_counts}; dead letters {len(dead)}")
    print(f"read models equal a rebuild at {at:,}: {rows_line(counts)}")
    assert all(len(k.kills) >= MIN_KILLS for k in killers.values())
    assert not report.problems, "\n".join(report.problems)
    assert report.distinct == report.store
    assert not inbound_problems, "\n".join(inbound_problems)
    assert not dead, [(d.value[:200], d.headers) for d in dead[:5]]
    assert not problems, "\n".join(problems)
    assert not log_problems, "\n".join(log_problems[:10])
