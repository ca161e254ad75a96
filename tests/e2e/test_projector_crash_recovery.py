"""Kill −9 `csm project` at random moments while it catches up: no loss, no double count.

100,000 synthetic events are written first; the projector process is then
killed several times in the middle of its catch-up, each run resuming from
the position the last one committed. At the end every read model must equal,
row for row, a fresh rebuild of the same events into another schema.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg
import pytest

from bench.synthetic import generate
from csm.consumers.composition import start_runtime
from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL
from csm.projections.store import head_position
from tests.read_model_checks import differences
from bench.stack import API_KEYS, KEYS_ENV, new_database, settings_for

EVENTS = 100_000
MIN_KILLS = 5
ZONE = "Asia/Shanghai"
PROJECT = [sys.executable, "-c", "from csm.consumers.cli import main; main()", "project"]


@pytest.fixture
def loaded(pg_server, tmp_path):
    """A database of its own holding EVENTS synthetic events (no projector running)."""
    url = new_database(pg_server)
    rt = start_runtime(settings_for(url, tmp_path, csm_timezone=ZONE))
    written = generate(rt.app, EVENTS, seed=7, now=datetime(2026, 1, 1, tzinfo=UTC),
                       progress=False)
    yield rt, url, written
    rt.close()


def positions(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            rows = conn.execute("SELECT name, position FROM csm_read.projection_status").fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {name: pos for name, pos in rows}


def lowest(url: str) -> int:
    found = positions(url)
    return min(found.get(name, 0) for name in ALL)


class Projector:
    """`csm project` as its own process, configured through the environment only."""

    def __init__(self, url: str, tmp_path, run: int):
        env = {**os.environ, "DATABASE_URL": url, **KEYS_ENV,
               "CSM_API_KEYS": API_KEYS, "CSM_DATA_DIR": str(tmp_path), "CSM_TIMEZONE": ZONE,
               "CSM_LOG_LEVEL": "WARNING"}
        self.log = open(tmp_path / f"project-{run}.log", "wb")
        self.proc = subprocess.Popen(PROJECT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_until(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"csm project exited ({self.proc.returncode}) {what}"
            assert time.monotonic() < deadline, f"csm project did not {what} in {timeout} s"
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code


def test_killed_projectors_leave_read_models_equal_to_a_fresh_rebuild(loaded, tmp_path):
    rt, url, written = loaded
    head = head_position(rt.pool)
    assert head >= written >= EVENTS * 0.95
    seed = int(time.time())
    rng = random.Random(seed)
    kills, run, history = 0, 0, []
    while kills < MIN_KILLS:
        before = lowest(url)
        if before >= head:
            break  # caught up before enough kills landed: reported below
        projector = Projector(url, tmp_path, run)
        run += 1
        projector.wait_until(lambda: lowest(url) > before, 90, "advance")
        time.sleep(rng.uniform(0.0, 0.3))  # within the next batch
        projector.kill()
        after = lowest(url)
        assert after > before, f"run {run} made no progress ({before} → {after})"
        assert set(positions(url).values()) == {after}, positions(url)
        history.append(after)
        if after < head:
            kills += 1  # killed while it was still catching up
    assert kills >= MIN_KILLS, (
        f"only {kills} kills landed during the catch-up (positions {history}, head {head}, "
        f"seed {seed})")

    final = Projector(url, tmp_path, run)
    final.wait_until(lambda: lowest(url) >= head, 120, "reach the head")
    assert final.terminate() == 0
    assert set(positions(url).values()) == {head}

    rebuilt_at = rebuild(rt.pool, list(ALL.values()), rt.settings.zone, schema="csm_check")
    assert rebuilt_at == head
    problems, counts = differences(rt.pool, "csm_read", "csm_check")
    print(f"\nprojector crash recovery (seed {seed}): {kills} kills -9 during catch-up at "
          f"positions {history}; {head:,} events; rows: "
          + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
    assert not problems, "\n".join(problems)
    assert counts["complaints"] > 0 and counts["satisfaction_facts"] > 0
