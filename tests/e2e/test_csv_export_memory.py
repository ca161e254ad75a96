"""A CSV export of 1,000,000 ledger lines from a `csm serve` process runs in constant memory.

The department is registered through the API; its 1,000,000 lines are then put straight
into the ledger read-model table with one INSERT … SELECT over generate_series. That table
is a read model, normally written only by the ledger projection: it is filled here only to
measure the export, and no event stands behind these lines.

While the client streams the CSV, a thread samples the server process's resident set size
every 0.2 s. The ledger is read through a server-side cursor a batch at a time and written
out in 64 KiB chunks, so the growth must stay within a few tens of MB whatever the number of
lines. Gathered first, 1,000,000 lines would take several hundred MB: the same process's
growth for a JSON answer of 100,000 lines (a list, built whole) is measured last and shows
it, scaled by ten, well above the bound.
"""
from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psutil
import psycopg
import pytest

from bench.stack import API_KEYS, new_database
from csm.projections.ledger.projection import LEDGER
from csm.projections.pg_names import READ_SCHEMA
from tests.csm_process import csm_env, start_csm
from tests.http_builders import uid

LINES = 1_000_000
GROWTH_LIMIT_MB = 60
SAMPLE_SECONDS = 0.2
MB = 1024 * 1024
# Each column of the ledger table, as one generated line `n` fills it.
GENERATED = {
    "event_id": "'export-' || n",
    "rule": "CASE WHEN n %% 2 = 0 THEN 'praise' ELSE 'complaint_received_medium' END",
    "position": "n",
    "department_id": "%(department_id)s",
    "occurred_at": "timestamptz '2024-01-01 00:00:00+00' + n * interval '1 second'",
    "day": "(timestamptz '2024-01-01 00:00:00+00' + n * interval '1 second')::date",
    "points": "CASE WHEN n %% 2 = 0 THEN 2 ELSE -3 END",
    "policy_version": "1",
}


@dataclass
class Served:
    url: str
    database_url: str
    process: psutil.Process
    log: str

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120,
                            headers={"Authorization": f"Bearer key-{role}"})

    def rss(self) -> int:
        return self.process.memory_info().rss


@dataclass
class RssSampler:
    """The resident set size of a process, sampled in a thread until stopped."""
    process: psutil.Process
    every: float = SAMPLE_SECONDS
    samples: list[int] = field(default_factory=list)

    def __enter__(self) -> RssSampler:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples.append(self.process.memory_info().rss)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.process.memory_info().rss)

    @property
    def peak(self) -> int:
        return max(self.samples)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def served(pg_server, tmp_path_factory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("export")
    database_url, port, log = new_database(pg_server), _free_port(), tmp / "serve.log"
    proc = start_csm("serve", "--port", str(port), log=log,
                     env=csm_env(tmp, database_url, CSM_API_KEYS=API_KEYS))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield Served(url, database_url, psutil.Process(proc.pid), str(log))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _department(served: Served) -> tuple[str, int]:
    with served.client("admin") as admin:
        r = admin.post("/v1/departments", json={"department_id": uid("dep-"),
                                                "name": "After-sales service"})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["position"]


def _fill_ledger(database_url: str, department_id: str, lines: int) -> None:
    assert set(GENERATED) == set(LEDGER.names), "the ledger table's columns changed"
    columns = ", ".join(f'"{c}"' for c in LEDGER.names)
    values = ", ".join(GENERATED[c] for c in LEDGER.names)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{READ_SCHEMA}"."{LEDGER.name}" ({columns}) '
                     f"SELECT {values} FROM generate_series(1, %(lines)s) AS n",
                     {"department_id": department_id, "lines": lines})
        conn.execute(f'ANALYZE "{READ_SCHEMA}"."{LEDGER.name}"')


def test_a_json_ledger_is_limited_and_a_csv_one_is_not(served):
    dep, position = _department(served)
    path = f"/v1/departments/{dep}/ledger"
    with served.client("manager") as c:
        for params, headers in (({"limit": 100_001}, {}),
                                ({"limit": 100_001, "format": "json"}, {"Accept": "text/csv"})):
            r = c.get(path, params=params, headers=headers)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["loc"] == ["query", "limit"]
            assert "ask for CSV" in r.json()["detail"]
        ok = c.get(path, params={"limit": 100_000, "min_position": position})
        assert ok.status_code == 200 and ok.json() == {"items": []}, ok.text
        for params, headers in (({"limit": 10_000_000, "format": "csv"}, {}),
                                ({"limit": 100_001}, {"Accept": "text/csv"})):
            r = c.get(path, params=params, headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/csv")
        r = c.get(path, params={"limit": 10_000_001, "format": "csv"})
        assert r.status_code == 422, r.text


def test_an_export_of_a_million_lines_runs_in_constant_memory(served):
    dep, position = _department(served)
    started = time.monotonic()
    _fill_ledger(served.database_url, dep, LINES)
    filled = time.monotonic() - started
    path = f"/v1/departments/{dep}/ledger"
    with served.client("manager") as c:
        # A short export first, so what any first CSV answer loads is not counted below.
        warm = c.get(path, params={"format": "csv", "limit": 10, "min_position": position})
        assert warm.status_code == 200 and len(warm.text.splitlines()) == 11, warm.text
        lines, size = 0, 0
        started = time.monotonic()
        with RssSampler(served.process) as export:
            with c.stream("GET", path, params={"format": "csv", "limit": LINES}) as r:
                assert r.status_code == 200, r.read()
                head = b""
                for chunk in r.iter_bytes():
                    if not head:
                        head = chunk[:200]
                    lines += chunk.count(b"\n")
                    size += len(chunk)
        seconds = time.monotonic() - started
        # Gathered as a list: the largest JSON answer, a tenth of the lines.
        started = time.monotonic()
        with RssSampler(served.process) as as_json:
            r = c.get(path, params={"limit": 100_000})
            assert r.status_code == 200 and len(r.json()["items"]) == 100_000
        json_seconds = time.monotonic() - started
    before, peak = export.samples[0], export.peak
    json_growth = as_json.peak - as_json.samples[0]
    print(f"\nfilled {LINES:,} lines in {filled:.1f} s; exported {lines - 1:,} lines "
          f"({size / MB:.0f} MB of CSV) in {seconds:.1f} s ({(lines - 1) / seconds:,.0f}/s); "
          f"server RSS before {before / MB:.0f} MB, peak {peak / MB:.0f} MB, growth "
          f"{(peak - before) / MB:.1f} MB over {len(export.samples)} samples; a JSON answer "
          f"of 100,000 lines grew it by {json_growth / MB:.0f} MB in {json_seconds:.1f} s")
    assert head.startswith(b"event_id,position,occurred_at,rule,points,policy_version"), head
    assert lines == LINES + 1
    assert peak - before < GROWTH_LIMIT_MB * MB
    assert 10 * json_growth > 2 * GROWTH_LIMIT_MB * MB, "the bound would not tell a list"
