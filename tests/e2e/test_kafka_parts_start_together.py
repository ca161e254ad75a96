"""The Kafka parts, started at the same moment as processes of their own (as a deployment
or a supervisor starts them), all come up.

Each `csm relay|project|inbound` process builds the application, which runs the event
store's DDL (`CREATE TABLE IF NOT EXISTS …`, `CREATE OR REPLACE FUNCTION …`). Run at
the same moment from several processes, PostgreSQL can refuse the concurrent function
replacement with "tuple concurrently updated", and the process dies at start.
Starting processes leaves the collision to chance (their start-up times jitter), so
the second test lines the start-ups up with a barrier, in threads, to show it surely.
"""
from __future__ import annotations

import threading
import time

from csm.consumers.composition import start_runtime
from bench.stack import new_database
from bench.processes import Part, part_env
from bench.topics import Topics
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings

ROUNDS = 4
TOGETHER = ("relay", "project", "inbound", "project")   # a second projector: scaled out
UP_FOR = 8.0


def test_relay_projectors_and_inbound_started_at_the_same_moment_all_come_up(
        pg_server, kafka_broker, tmp_path):
    topics = Topics.fresh("start")
    topics.create(kafka_broker.bootstrap_servers)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics))
    env = part_env(rt.settings)
    died: list[str] = []
    started = 0
    try:
        for round_ in range(ROUNDS):
            parts = [Part(p, env, tmp_path, run=round_ * 10 + i, wait=False)
                     for i, p in enumerate(TOGETHER)]
            started += len(parts)
            deadline = time.monotonic() + UP_FOR
            while time.monotonic() < deadline and all(p.alive() for p in parts):
                time.sleep(0.1)
            for p in parts:
                if not p.alive():
                    last = [line for line in p.log_tail(60).splitlines() if line.strip()]
                    died.append(f"round {round_}: csm {p.part} exited with {p.proc.returncode}: "
                                f"{last[-1] if last else '(no output)'}")
                p.terminate()
    finally:
        rt.close()
    print(f"\n{started} part processes started {len(TOGETHER)} at a time in {ROUNDS} rounds; "
          f"{len(died)} died at start" + "".join(f"\n  {d}" for d in died))
    assert not died, "\n".join(died)


def test_the_application_can_be_started_by_several_parts_at_the_same_moment(
        pg_server, kafka_broker, tmp_path):
    """What each part process does first (`start_runtime`), lined up by a barrier."""
    topics = Topics.fresh("start")
    settings = kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics)
    start_runtime(settings).close()     # the store exists already, as in a deployment
    failures: list[str] = []
    started = 0
    for _ in range(3):
        barrier = threading.Barrier(6)

        def start() -> None:
            nonlocal started
            barrier.wait()
            try:
                start_runtime(settings).close()
                started += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                failures.append(repr(e)[:200])
        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    print(f"\n18 start-ups at once (3 x 6): {started} came up, {len(failures)} failed: "
          f"{sorted(set(failures))}")
    assert not failures, f"{len(failures)} of 18 start-ups failed: {sorted(set(failures))}"
