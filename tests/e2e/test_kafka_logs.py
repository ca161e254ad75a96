"""Every line every part writes is one JSON object with its time, level and part — its own
events, kafka-python's and uvicorn's records alike — through a broker outage and a
shutdown; the outage is said once by each client that notices it, with its end.

`csm serve` (every part in one process), `csm api`, `csm relay`, `csm project`,
`csm inbound` and `csm deadlines` run as processes on one database and one set of
topics, with commands and channel messages (a poison one among them) coming in, while
the broker stops for a few seconds and comes back.
"""
from __future__ import annotations

import random
import time
from collections import Counter

from csm.consumers.composition import start_runtime
from bench.stack import new_database
from bench.inbound_messages import expected, inbound_messages, produce
from bench.processes import Api, Part, part_env
from bench.topics import Topics
from bench.world import make_world
from tests.http_load import HttpLoad
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)
from tests.kafka_fixtures import kafka_settings
from tests.kafka_progress import wait_caught_up

DOWN_FOR = 6
WITH_KAFKA = ("serve", "relay", "project", "inbound")


def test_every_line_of_every_part_is_json_with_time_level_and_part_through_an_outage(
        pg_server, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topics = Topics.fresh("logs")
    topics.create(bootstrap)
    rt = start_runtime(kafka_settings(new_database(pg_server), tmp_path, kafka_broker, topics))
    env = part_env(rt.settings)
    procs: list[Part] = []
    try:
        info = {**env, "CSM_LOG_LEVEL": "INFO"}   # uvicorn's own records too
        procs.append(Api(info, tmp_path, command="serve"))
        procs.append(api := Api(info, tmp_path))
        procs += [Part(p, env, tmp_path) for p in ("relay", "project", "inbound")]
        procs.append(Part("deadlines", env, tmp_path, started="runtime_started"))
        tag = topics.events.split(".")[0]
        with api.client("admin") as c:
            world = make_world(c, tag)
        messages = inbound_messages(world, 200, tag, random.Random(8))
        produce(bootstrap, topics.inbound, [*messages, ("poison", b"not json")])
        load = HttpLoad(api.url, world, 1_000_000, clients=1, seed=4).start()
        time.sleep(2)
        kafka_broker.stop_keep_data()
        time.sleep(DOWN_FOR)
        kafka_broker.start()
        time.sleep(3)
        load.total = load.sent    # the load ends
        load.join(60)
        assert not load.errors and not load.failures, (load.errors, load.failures)
        wait_caught_up(rt.pool, topics.events, 120,
                       inbound=len(expected(messages).message_ids))
        codes = {p.part: p.terminate() for p in procs}

        problems, kafka_lines, outages = [], Counter(), {}
        for p in procs:
            records, bad = p.log_lines()
            problems += bad
            events = Counter((r["event"], r.get("client")) for r in records
                             if r["event"] in ("kafka_unavailable", "kafka_recovered"))
            outages[p.part] = dict(events)
            kafka_lines[p.part] = sum(1 for r in records if r.get("logger", "").startswith("kafka"))
            problems += [f"{p.part}: {r['event']} {r.get('exception', '')[-300:]}"
                         for r in records if r["event"] in ("unraisable_exception", "thread_failed")]
            problems += [f"{p.part}: {line[:200]}" for line in p.log_path.read_text().splitlines()
                         if "__del__" in line]
            if p.part in ("serve", "api") and not any(r.get("logger") == "uvicorn.error"
                                                      for r in records):
                problems.append(f"{p.part}: no record of uvicorn's")
            if p.part in WITH_KAFKA:
                clients = {client for _, client in events}
                if not clients:
                    problems.append(f"{p.part}: the broker's outage was not logged")
                problems += [f"{p.part}: {client} logged the outage and its end {n}, not once each"
                             for (_, client), n in events.items() if n != 1]
                problems += [f"{p.part}: {client} never logged the broker's return"
                             for client in clients if ("kafka_recovered", client) not in events]
        lines = {p.part: len(p.log_lines()[0]) for p in procs}
        print(f"\nlogs: {sum(lines.values()):,} JSON lines {lines}; kafka-python's {dict(kafka_lines)}; "
              f"outage lines {outages}; exit codes {codes}")
        assert not problems, "\n".join(problems[:20])
        assert set(codes.values()) == {0}, codes
        assert all(n <= 60 for n in kafka_lines.values()), kafka_lines
    finally:
        for p in procs:
            if p.alive():
                p.terminate()
        rt.close()
