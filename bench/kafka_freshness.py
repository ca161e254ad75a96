"""End-to-end freshness with Kafka: from a command's HTTP answer to its effect in a read model.

    .venv/bin/python -m bench.kafka_freshness [--rates 1000,100] [--seconds 20] [--clients 8]

On a throwaway embedded PostgreSQL and a real single-node Kafka broker, every part
runs as its own process, as deployed: `csm api`, `csm relay`, `csm project`.
For each rate (events/s asked for), HTTP clients open complaints and acknowledge
half of them (each command records one event, so commands/s = events/s), paced
to that rate for `--seconds`. For every command, freshness is the time from its
answer (`position` N) until the complaints read model has applied position N,
seen by a watcher polling `csm_read.projection_status` every 5 ms (the same
transaction that changes the rows moves the position). Every 25th command is
also read back through the API, `GET /v1/complaints/backlog?min_position=N`,
timed from the command's answer to the query's answer (what a client sees,
HTTP included). Prints p50/p90/p99/max per rate and the rate actually reached.
Target: p99 < 250 ms at 1,000 events/s.
"""
from __future__ import annotations

import argparse
import bisect
import os
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg

from csm.infra.database import EmbeddedPostgres
from csm.infra.kafka_broker import KafkaBroker
from csm.consumers.composition import start_runtime
from csm.projections.store import head_position
from bench.stack import new_database, settings_for
from bench.processes import Api, Part, part_env
from bench.topics import Topics
from bench.world import make_world

TARGET_P99 = 0.25


class Watcher(threading.Thread):
    """(time, complaints position) whenever the position moves."""

    def __init__(self, url: str, every: float = 0.005):
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.times: list[float] = []
        self.positions: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            q = "SELECT position FROM csm_read.projection_status WHERE name = 'complaints'"
            last = -1
            while not self.stop.is_set():
                row = conn.execute(q).fetchone()
                now = time.perf_counter()
                if row and row[0] != last:
                    last = row[0]
                    self.times.append(now)
                    self.positions.append(last)
                time.sleep(self.every)

    def visible_at(self, position: int) -> float | None:
        i = bisect.bisect_left(self.positions, position)
        return self.times[i] if i < len(self.times) else None


def percentiles(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(len(xs) * q))]  # noqa: E731
    return (f"p50 {pick(.5) * 1000:6.0f} ms  p90 {pick(.9) * 1000:6.0f} ms  "
            f"p99 {pick(.99) * 1000:6.0f} ms  max {xs[-1] * 1000:6.0f} ms  (n={len(xs):,})")


def run_rate(api_url: str, world, rate: float, seconds: float, clients: int, watcher: Watcher,
             url: str) -> dict:
    answers: list[tuple[float, int]] = []          # (answered at, position)
    api_reads: list[float] = []
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    per_client = rate / clients
    headers = {"Authorization": "Bearer key-admin"}
    readers: list[threading.Thread] = []
    rc = httpx.Client(base_url=api_url, headers=headers, timeout=30)  # shared: thread-safe

    def reader(answered: float, position: int) -> None:
        r = rc.get("/v1/complaints/backlog", params={"min_position": position, "wait": 10,
                                                     "limit": 1})
        if r.status_code == 200:
            with lock:
                api_reads.append(time.perf_counter() - answered)

    def client(i: int) -> None:
        tag = uuid.uuid4().hex[:8]
        n, opened = 0, []
        with httpx.Client(base_url=api_url, headers=headers, timeout=30) as c:
            while True:
                due = start + n / per_client
                now = time.perf_counter()
                if due - start >= seconds or now - start >= seconds:
                    break  # the schedule is done, or the time is up (the rate was not reached)
                if due > now:
                    time.sleep(due - now)
                n += 1
                if opened and n % 2 == 0:
                    path, body = f"/v1/complaints/{opened.pop()}/acknowledge", {"by": "bench"}
                else:
                    path, body = "/v1/complaints", {
                        "complaint_id": f"f{tag}-{n}", "channel": "web",
                        "department_id": world.departments[n % 3], "severity": "low",
                        "description": "bench"}
                t = time.perf_counter()
                r = c.post(path, json=body)
                answered = time.perf_counter()
                if r.status_code != 201:
                    failures.append(f"{path}: {r.status_code} {r.text[:200]}")
                    continue
                if path == "/v1/complaints":
                    opened.append(r.json()["id"])
                position = r.json()["position"]
                with lock:
                    answers.append((answered, position))
                    latencies.append(answered - t)
                if n % 25 == i % 25:
                    t = threading.Thread(target=reader, args=(answered, position), daemon=True)
                    t.start()
                    with lock:
                        readers.append(t)

    head0 = head_position_url(url)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    head1 = head_position_url(url)
    last = max((p for _, p in answers), default=0)
    deadline = time.perf_counter() + 120
    while watcher.visible_at(last) is None and time.perf_counter() < deadline:
        time.sleep(0.05)
    for t in readers:  # API read-backs still in flight
        t.join(15)
    rc.close()
    fresh = []
    for answered, position in answers:
        seen = watcher.visible_at(position)
        if seen is not None:
            fresh.append(max(0.0, seen - answered))
    return {"rate": rate, "events": head1 - head0, "elapsed": elapsed, "commands": len(answers),
            "fresh": fresh, "api": list(api_reads), "latencies": latencies, "failures": failures,
            "unseen": len(answers) - len(fresh)}


def head_position_url(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT coalesce(max(notification_id), 0) FROM csm_events"
                            ).fetchone()[0]


def measure(rates: list[float], seconds: float = 20, clients: int = 8, partitions: int = 6,
            say=None) -> list[dict]:
    """Starts PostgreSQL, a Kafka broker, `csm relay`, `csm project` and `csm api` as
    processes, then runs each rate in turn: one `run_rate` result per rate, with the rate
    reached and the load average before it."""
    results = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fresh-")))
        server = EmbeddedPostgres(tmp / "pg")
        stack.callback(server.stop)
        url = new_database(server)
        broker = stack.enter_context(KafkaBroker(num_partitions=partitions))
        topics = Topics.fresh("fresh")
        topics.create(broker.bootstrap_servers, partitions)
        settings = settings_for(url, tmp, kafka_bootstrap_servers=broker.bootstrap_servers,
                                csm_kafka_partitions=partitions,
                                csm_topic_events=topics.events, csm_topic_inbound=topics.inbound,
                                csm_topic_dlq=topics.dlq)
        rt = start_runtime(settings)
        stack.callback(rt.close)
        env = part_env(settings)
        parts = [Part(p, env, tmp) for p in ("relay", "project")]
        for p in parts:
            stack.callback(p.terminate)
        api = Api(env, tmp)
        stack.callback(api.terminate)
        with api.client("admin") as c:
            world = make_world(c, "fresh")
        watcher = Watcher(url)
        watcher.start()
        stack.callback(watcher.stop.set)
        while watcher.visible_at(head_position(rt.pool)) is None:  # projectors caught up
            time.sleep(0.1)
        for rate in rates:
            if say:
                say(f"kafka_freshness: asking {rate:,.0f} events/s for {seconds:g} s")
            load = os.getloadavg()
            res = run_rate(api.url, world, rate, seconds, clients, watcher, url)
            results.append({**res, "reached": res["events"] / res["elapsed"], "load": load})
    return results


def p99_of(xs: list[float]) -> float:
    return sorted(xs)[int(len(xs) * .99)] if xs else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="1000,100", help="events/s to ask for, in turn")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--partitions", type=int, default=6)
    args = ap.parse_args()
    results = measure([float(r) for r in args.rates.split(",")], args.seconds, args.clients,
                      args.partitions)
    print(f"csm api + csm relay + csm project as processes; {args.partitions} partitions; "
          f"{args.clients} HTTP clients; {args.seconds:.0f} s per rate")
    for res in results:
        rate, reached = res["rate"], res["reached"]
        lat = sorted(res["latencies"])
        p99 = p99_of(res["fresh"])
        print(f"\nasked {rate:,.0f} events/s: reached {reached:,.0f} events/s "
              f"({res['commands']:,} commands, {res['events']:,} events in "
              f"{res['elapsed']:.1f} s; HTTP p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
              f"p99 {lat[int(len(lat) * .99)] * 1000:.0f} ms; {len(res['failures'])} failed, "
              f"{res['unseen']} never seen)")
        print(f"  answer → complaints read model : {percentiles(res['fresh'])}")
        print(f"  answer → API read (min_position): {percentiles(res['api'])}")
        verdict = "met" if p99 < TARGET_P99 else "NOT met"
        sustained = reached >= rate * 0.9
        print(f"  p99 < {TARGET_P99 * 1000:.0f} ms: {verdict}"
              + ("" if sustained else f" — but the asked rate was NOT sustained "
                 f"(reached {reached:,.0f}/s)"))
        if res["failures"]:
            print("  e.g. " + "; ".join(res["failures"][:3]))


if __name__ == "__main__":
    main()
