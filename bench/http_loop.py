"""Sequential HTTP commands/s against the live API, and raw PostgreSQL in the same run.

    .venv/bin/python -m bench.http_loop [N]

One client sends one command at a time (open a complaint, then acknowledge it)
to uvicorn on loopback; the baseline is one psycopg INSERT per transaction of a
row of the same size into a bare table on the same server.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from csm.infra.database import EmbeddedPostgres
from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, new_database, settings_for


def raw_inserts(url: str, n: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id text PRIMARY KEY, v int, "
                     "state bytea, at timestamptz DEFAULT now())")
        payload = b"x" * 600
        started = time.perf_counter()
        for _ in range(n):
            conn.execute("INSERT INTO bench_raw (id, v, state) VALUES (%s, 1, %s)",
                         (uuid.uuid4().hex, payload))
        return n / (time.perf_counter() - started)


def main(n: int = 2000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        url = new_database(server)
        rt = start_runtime(settings_for(url, Path(tmp)))
        live = LiveServer(rt)
        try:
            with live.client("admin") as c:
                dep = c.post("/v1/departments", json={"name": "bench"}).json()["id"]
                latencies = []
                started = time.perf_counter()
                for i in range(n // 2):
                    t = time.perf_counter()
                    cid = c.post("/v1/complaints", json={
                        "channel": "web", "department_id": dep, "severity": "low",
                        "description": "bench"}).json()["id"]
                    latencies.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    r = c.post(f"/v1/complaints/{cid}/acknowledge", json={})
                    latencies.append(time.perf_counter() - t)
                    assert r.status_code == 201, r.text
                http_rate = n / (time.perf_counter() - started)
            raw_rate = raw_inserts(url, n)
        finally:
            live.stop()
            rt.close()
            server.stop()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"sequential HTTP commands: {http_rate:,.0f}/s  (p50 {p50:.1f} ms, p99 {p99:.1f} ms)")
    print(f"raw PostgreSQL INSERT+commit, one per transaction: {raw_rate:,.0f}/s")
    print(f"ratio HTTP command / raw insert: {http_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
