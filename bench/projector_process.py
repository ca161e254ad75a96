"""`csm project` as a process of its own catching up on a store: its rate and its RSS."""
from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import psycopg

from bench.processes import Part, part_env
from csm.projections.registry import ALL
from csm.projections.store import head_position

STATUS = "SELECT min(position) AS p, count(*) AS n FROM csm_read.projection_status " \
         "WHERE name = ANY(%s)"


def lowest_position(pool) -> int:
    """The position of the projection furthest behind in csm_read (0 before any)."""
    with pool.connection() as conn:
        try:
            row = conn.execute(STATUS, (list(ALL),)).fetchone()
        except psycopg.errors.UndefinedTable:  # no read-model schema yet
            return 0
    return row["p"] if row and row["n"] == len(ALL) else 0


def catch_up(rt, log_dir: Path, timeout: float = 600, every: float = 0.2) -> dict:
    """Starts `csm project` on the store of `rt` and samples its RSS (MiB) until every
    projection of csm_read reached the head; returns events, seconds (from its
    `projectors_started` line), RSS at start, peak and end, and the load before."""
    head, start_position = head_position(rt.pool), lowest_position(rt.pool)
    load = os.getloadavg()
    part = Part("project", part_env(rt.settings), log_dir, started="projectors_started")
    try:
        proc = psutil.Process(part.proc.pid)
        started = time.perf_counter()
        samples = [proc.memory_info().rss / 2**20]
        while lowest_position(rt.pool) < head:
            assert part.alive(), f"csm project exited:\n{part.log_tail()}"
            assert time.perf_counter() - started < timeout, "csm project did not catch up"
            time.sleep(every)
            samples.append(proc.memory_info().rss / 2**20)
        seconds = time.perf_counter() - started
    finally:
        part.terminate()
    return {"events": head - start_position, "seconds": seconds, "rss_start": samples[0],
            "rss_peak": max(samples), "rss_end": samples[-1], "load": load}
