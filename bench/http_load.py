"""Concurrent HTTP commands/s against `csm serve` as a process, and raw PostgreSQL in the same run.

    .venv/bin/python -m bench.http_load [--clients 1,4,16,32,64] [--seconds 10] [--workers 1]

For each client count C, C client processes each keep one keep-alive connection to
`csm serve` (its own process, on loopback, against one embedded PostgreSQL) and send
`POST /v1/feedback` in a closed loop: the next request leaves when the answer (201)
is in. They start together, warm up for 1 s, then count for `--seconds`. The baseline
is C processes, each with its own connection in autocommit, doing one INSERT of a
600-byte row per transaction into a bare table of another database on the same
server. `--workers N` serves the API of `csm serve` from N worker processes
(CSM_API_WORKERS). Between phases the benchmark waits (at most 60 s) for the projectors of
`csm serve` to catch up, so that their work does not land on the next phase.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Client processes are spawned and import this module: csm and the other bench modules
# are imported in measure() only, so that a client starts light.
import psutil
import psycopg

if TYPE_CHECKING:
    from bench.processes import Api

WARMUP = 1.0
ROW = b"x" * 600


def closed_loop(send: Callable[[], int], ok: int, barrier: Barrier, seconds: float,
                out: Queue[tuple[list[float], int, str]]) -> None:
    """Calls `send` back to back; keeps the latency of each answer `ok` that started in
    the measured window, and counts the others."""
    latencies: list[float] = []
    errors, first_error = 0, ""
    barrier.wait()
    start = time.perf_counter() + WARMUP
    end = start + seconds
    while (t := time.perf_counter()) < end:
        try:
            status, detail = send(), ""
        except (OSError, http.client.HTTPException, psycopg.Error) as exc:
            status, detail = -1, repr(exc)
        if t < start:
            continue
        if status == ok:
            latencies.append(time.perf_counter() - t)
        else:
            errors += 1
            first_error = first_error or detail or f"status {status}"
    out.put((latencies, errors, first_error))


def http_client(port: int, dept: str, barrier: Barrier, seconds: float,
                out: Queue[tuple[list[float], int, str]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"channel": "web", "kind": "praise", "department_id": dept,
                       "rating": 5, "text": "bench"}).encode()
    headers = {"Authorization": "Bearer key-channel", "Content-Type": "application/json"}

    def send() -> int:
        try:
            conn.request("POST", "/v1/feedback", body, headers)
            answer = conn.getresponse()
            answer.read()
            return answer.status
        except (OSError, http.client.HTTPException):
            conn.close()  # the next request reconnects
            raise
    conn.connect()
    closed_loop(send, 201, barrier, seconds, out)
    conn.close()


def raw_client(url: str, barrier: Barrier, seconds: float,
               out: Queue[tuple[list[float], int, str]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        def send() -> int:
            conn.execute("INSERT INTO bench_raw (id, state) VALUES (%s, %s)",
                         (uuid.uuid4().hex, ROW))
            return 0
        closed_loop(send, 0, barrier, seconds, out)


def run_clients(target: Callable[..., None], args: tuple[Any, ...], clients: int,
                seconds: float) -> tuple[list[float], int, str]:
    """`clients` processes of `target(*args, barrier, seconds, queue)`, started together:
    all their latencies, their error count and the first error."""
    ctx = get_context("spawn")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, seconds, out), daemon=True)
             for _ in range(clients)]
    for p in procs:
        p.start()
    latencies: list[float] = []
    errors, first_error, answered = 0, "", 0
    deadline = time.monotonic() + 120 + WARMUP + seconds
    try:
        while answered < clients:
            try:
                lat, err, first = out.get(timeout=1)
            except queue.Empty:
                if any(p.exitcode for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError(f"a client process of {target.__name__} failed") from None
                continue
            answered += 1
            latencies += lat
            errors += err
            first_error = first_error or first
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    return latencies, errors, first_error


def percentile_ms(values: list[float], q: float) -> float:
    return sorted(values)[max(0, int(len(values) * q) - 1)] * 1000


def settle(api: Api, timeout: float = 60) -> None:
    """Waits until every projection of the server has caught up with the store."""
    deadline = time.monotonic() + timeout
    with api.client() as c:
        while time.monotonic() < deadline:
            if all(p["lag"] == 0 for p in c.get("/ready").json().get("projections", [])):
                return
            time.sleep(0.2)


def wait_ready(api: Api, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with api.client() as c:
        while c.get("/ready").status_code != 200:
            if not api.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"csm serve is not ready:\n{api.log_tail()}")
            time.sleep(0.2)


class LoadError(RuntimeError):
    """Too many failed commands, or a failed raw baseline."""


def phase(api: Api, dept: str, raw_url: str, clients: int, seconds: float) -> dict[str, Any]:
    """One client count: HTTP commands, then the raw baseline, each after a settle."""
    settle(api)
    load = os.getloadavg()
    lat, errors, first = run_clients(http_client, (api.port, dept), clients, seconds)
    if errors:
        print(f"{clients} clients: {errors} errors (first: {first})", file=sys.stderr)
    if not lat or errors > 0.01 * (len(lat) + errors):
        raise LoadError(f"{clients} clients: too many errors ({errors} of "
                        f"{len(lat) + errors}; first: {first})")
    rss = rss_of(api)
    settle(api)
    raw, raw_errors, raw_first = run_clients(raw_client, (raw_url,), clients, seconds)
    if raw_errors or not raw:
        raise LoadError(f"raw baseline: {raw_errors} errors (first: {raw_first})")
    return {"clients": clients, "rate": len(lat) / seconds, "p50": statistics.median(lat) * 1000,
            "p99": percentile_ms(lat, 0.99), "raw_rate": len(raw) / seconds,
            "raw_p50": statistics.median(raw) * 1000, "raw_p99": percentile_ms(raw, 0.99),
            "errors": errors, "load": load, "rss_after": rss}


def rss_of(api: Api) -> float:
    """The resident memory of the `csm serve` process and its children (workers), MiB."""
    parent = psutil.Process(api.proc.pid)
    rss = parent.memory_info().rss
    for child in parent.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            rss += child.memory_info().rss
    return rss / 2**20


def measure(clients: list[int], seconds: float, say: Callable[[str], None] | None = None,
            workers: int = 1) -> dict[str, Any]:
    """Starts PostgreSQL and `csm serve` (the API in `workers` processes), runs one phase per
    client count; returns the phases and the RSS of `csm serve` and its workers (MiB) before
    the first and after the last."""
    from csm.infra.database import EmbeddedPostgres
    from bench.processes import Api, part_env
    from bench.stack import new_database, settings_for

    say = say or (lambda _m: None)
    phases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        api = None
        try:
            url, raw_url = new_database(server), new_database(server)
            with psycopg.connect(raw_url, autocommit=True) as conn:
                conn.execute("CREATE TABLE bench_raw (id text PRIMARY KEY, state bytea, "
                             "at timestamptz DEFAULT now())")
            env = {**part_env(settings_for(url, Path(tmp))), "CSM_API_WORKERS": str(workers)}
            api = Api(env, Path(tmp), command="serve")
            wait_ready(api)
            with api.client("admin") as c:
                answer = c.post("/v1/departments", json={"name": "bench"})
                assert answer.status_code == 201, answer.text
                dept = answer.json()["id"]
            settle(api)
            rss_start = rss_of(api)
            for n in clients:
                say(f"http_load: {n} clients, {seconds:g} s HTTP then {seconds:g} s raw")
                phases.append(phase(api, dept, raw_url, n, seconds))
            return {"phases": phases, "seconds": seconds, "rss_start": rss_start,
                    "rss_end": phases[-1]["rss_after"] if phases else rss_start}
        finally:
            if api is not None:
                api.terminate(timeout=30)
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,16,32,64",
                        type=lambda s: [int(c) for c in s.split(",")])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1,
                        help="API worker processes of `csm serve` (default: 1)")
    opts = parser.parse_args()

    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    print(f"csm serve --workers {opts.workers}")
    try:
        rows = measure(opts.clients, opts.seconds, workers=opts.workers)["phases"]
    except LoadError as exc:
        raise SystemExit(str(exc)) from None
    print("\n| clients | csm commands/s | p50 / p99 ms | raw 1 txn/command | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['rate']:,.0f} | {r['p50']:.1f} / {r['p99']:.1f} "
              f"| {r['raw_rate']:,.0f}/s | {r['rate'] / r['raw_rate']:.2f} |")
    print()
    for r in rows:
        print(f"{r['clients']} clients: csm/raw = {r['rate']:,.0f} / {r['raw_rate']:,.0f} = "
              f"{r['rate'] / r['raw_rate']:.2f} (p50 {r['p50']:.2f} ms vs raw "
              f"{r['raw_p50']:.2f} ms)")
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
