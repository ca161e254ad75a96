"""The store a benchmark measures: N synthetic events written through the real application,
on a throwaway embedded PostgreSQL, or on one kept in `--data-dir` and reused next time
(nothing is written when it already holds N events)."""
from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.synthetic import generate
from csm.infra.database import EmbeddedPostgres
from csm.consumers.composition import Process as Runtime, start_runtime
from csm.projections.store import head_position
from bench.stack import new_database, settings_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_store(stack: ExitStack, n: int, data_dir: Path | None) -> tuple[Runtime, str]:
    """A runtime on a store of at least n events, closed with `stack`, and its URL."""
    base = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
    server = EmbeddedPostgres(base / "pg", keep_running=False)
    stack.callback(server.stop)
    url = server.url if data_dir else new_database(server)
    rt = start_runtime(settings_for(url, base))
    stack.callback(rt.close)
    head = head_position(rt.pool)
    if head < n:
        print(f"writing {n - head:,} synthetic events through the application ...", flush=True)
        started = time.perf_counter()
        written = generate(rt.app, n - head, seed=1 + head, now=NOW, prefix=f"b{head}-")
        seconds = time.perf_counter() - started
        print(f"wrote {written:,} events in {seconds:.1f} s ({written / seconds:,.0f}/s)",
              flush=True)
    return rt, url
