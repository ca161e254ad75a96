"""Two `csm project` processes in one consumer group per projection split the partitions of
the events topic between them, and the read models come out as one process would make them.

A `csm relay` and two `csm project` processes run on one PostgreSQL and one real broker
while 3,000 HTTP commands arrive. Each process logs the partitions it is given
(`projector_assigned`): for every projection both hold some, none both, together all.
Once both have caught up, every read model equals a fresh rebuild from the store row for
row (`projection_status` included), and the read models' tallies equal the commands
answered: no event was applied twice. Then one of the two is killed with SIGKILL half-way
through 3,000 more commands; the survivor is given every partition, takes the dead one's
up where it left them (`projection_partitions`), and the same checks hold again.
"""
from __future__ import annotations

import time
from collections import Counter

import psycopg
import pytest

from bench.processes import Part, part_env
from bench.stack import LiveServer, new_database
from bench.topics import PARTITIONS, Topics
from bench.world import make_world
from csm.consumers.composition import start_runtime
from csm.projections.registry import ALL
from csm.projections.store import head_position
from tests.events_topic import rows_line
from tests.http_load import HttpLoad
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import wait_caught_up
from tests.read_model_checks import compare_with_rebuild

COMMANDS = 3000
ALL_PARTITIONS = set(range(PARTITIONS))


class TalliedLoad(HttpLoad):
    """The HTTP load, also counting the commands answered 201 by their last path segment
    (`complaints`, `resolve`, `reopen`, `escalate`, `responses`, …) and the survey answers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.done: Counter[str] = Counter()

    def send(self, c, method, path, body):
        answer = super().send(c, method, path, body)
        if answer:
            with self.lock:
                self.done[path.rsplit("/", 1)[-1]] += 1
                self.done["answers"] += len(body["answers"]) if path.endswith("/responses") else 0
        return answer


def assigned(part: Part) -> dict[str, set[int]]:
    """Projection → the partitions the process was given last (its `projector_assigned`)."""
    last: dict[str, set[int]] = {}
    for rec in part.log_lines()[0]:
        if rec["event"] == "projector_assigned":
            last[rec["projection"]] = set(rec["partitions"])
    return last


def wait_for(condition, timeout: float, what: str, alive) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        alive()
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.2)


def lowest_partition_position(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT coalesce(min(position), 0) FROM "
                            "csm_read.projection_partitions").fetchone()[0]


def split(a: Part, b: Part) -> bool:
    """Every projection: both processes hold partitions, none both, together all of them."""
    got_a, got_b = assigned(a), assigned(b)
    return all(got_a.get(n) and got_b.get(n) and not got_a[n] & got_b[n]
               and got_a[n] | got_b[n] == ALL_PARTITIONS for n in ALL)


@pytest.fixture
def stack(pg_server, kafka_broker, tmp_path):  # noqa: F811
    topics = Topics.fresh("share")
    topics.create(kafka_broker.bootstrap_servers)
    url = new_database(pg_server)
    rt = start_runtime(kafka_settings(url, tmp_path, kafka_broker, topics))
    live = LiveServer(rt)
    parts: list[Part] = []
    try:
        env = part_env(rt.settings)
        # One after another (bench.processes.START_LOCK), each up before the next starts.
        for i, part in enumerate(("relay", "project", "project")):
            parts.append(Part(part, env, tmp_path, run=i))
        yield rt, url, live, topics, parts
    finally:
        for p in parts:
            p.terminate()
        live.stop()
        rt.close()


def caught_up_and_equal_to_a_rebuild(rt, topics, done: Counter, alive) -> str:
    """Waits until every projection reached the head of the store; asserts the read models
    equal a rebuild and their tallies equal the commands answered (`done`)."""
    p = wait_caught_up(rt.pool, topics.events, 240, alive=alive)
    problems, counts, at = compare_with_rebuild(rt)
    assert not problems, "\n".join(problems)
    assert at == p["head"]
    with rt.pool.connection() as conn:
        tallies = conn.execute(
            "SELECT (SELECT count(*) FROM csm_read.survey_responses) AS responses, "
            "(SELECT coalesce(sum(answers), 0) FROM csm_read.satisfaction_facts) AS answers, "
            "sum(resolutions) AS resolve, sum(reopened) AS reopen, "
            "sum(escalations) AS escalate FROM csm_read.complaints").fetchone()
    assert dict(tallies) == {k: done[k] for k in tallies}, done
    assert done["responses"] > 0 and done["resolve"] > 0
    return f"{p['head']:,} events; equal to a rebuild: {rows_line(counts)}"


def run_load(live, world, seed: int, alive, halfway=None) -> Counter:
    """COMMANDS over HTTP from 3 clients; `halfway()` once half of them were answered."""
    load = TalliedLoad(live.url, world, COMMANDS, clients=3, seed=seed, policy_at=COMMANDS // 3)
    load.start()
    try:
        if halfway:
            wait_for(lambda: load.sent >= COMMANDS // 2 or not load.running(), 300,
                     "half-way through the load", alive)
            halfway()
    finally:
        load.join(300)
    assert not load.errors, load.errors
    assert load.statuses[201] == sum(load.statuses.values()) and not load.failures, (
        load.statuses, load.failures)
    return load.done


def test_two_projector_processes_split_the_partitions_and_make_the_same_tables_as_a_rebuild(
        stack):
    rt, url, live, topics, (relay, a, b) = stack
    running = [relay, a, b]

    def alive() -> None:
        for p in running:
            assert p.alive(), f"csm {p.part} exited:\n{p.log_tail()}"

    def held() -> dict[str, tuple[list[int], list[int]]]:
        return {n: (sorted(assigned(a).get(n, ())), sorted(assigned(b).get(n, ()))) for n in ALL}

    wait_for(lambda: split(a, b), 120, "split between the two projectors", alive)
    with live.client("admin") as c:
        world = make_world(c, topics.events.split(".")[0])

    # Both processes to the end: each applies its own partitions only.
    done = run_load(live, world, 11, alive)
    first = caught_up_and_equal_to_a_rebuild(rt, topics, done, alive)
    assert split(a, b), held()
    shared = held()

    # kill -9 of one of them half-way through more commands: the other takes its partitions.
    def kill_b() -> None:
        half = head_position(rt.pool)
        wait_for(lambda: lowest_partition_position(url) >= half, 120,
                 f"projected on every partition up to {half}", alive)
        b.kill9()
        running.remove(b)
        wait_for(lambda: all(assigned(a).get(n) == ALL_PARTITIONS for n in ALL), 120,
                 "given every partition after the other projector died", alive)
    done += run_load(live, world, 12, alive, halfway=kill_b)
    second = caught_up_and_equal_to_a_rebuild(rt, topics, done, alive)
    print(f"\nshared partitions (process A, process B): {shared}\n  both to the end: {first}"
          f"\n  B killed half-way, A then held every partition: {second}")
