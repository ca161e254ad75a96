"""Bulk import rate (`csm import FILE`: inbound-shaped lines → recorded events), against a
raw COPY.

    .venv/bin/python -m bench.bulk_import [N] [--batch B]

On a throwaway embedded PostgreSQL: writes N channel messages (default 20,000; feedback,
complaints, survey answers, new customers, a few reopens and revisits, as
`bench/inbound_messages.py` makes them) to a JSON-lines file, imports it with the code
`csm import` runs (`consumers.bulk_import.import_file`) and times it from the first line
read to the summary (lines/s and events/s). The baseline, in the same run on the same
server: a raw psycopg `COPY` of N rows of the same messages into a bare table.
Targets: ≥ 50% of the raw COPY's rows/s, and ≥ 20,000 events/s.
"""
from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.inbound_messages import inbound_messages
from bench.kafka_inbound import raw_copy
from bench.stack import LiveServer, new_database, settings_for
from bench.world import make_world
from csm.consumers.bulk_import import BATCH, import_file
from csm.consumers.composition import start_runtime
from csm.infra.database import EmbeddedPostgres
from csm.projections.store import head_position

TARGET_RATIO, TARGET_EVENTS = 0.5, 20_000


def run(n: int = 20_000, batch: int = BATCH) -> dict[str, Any]:
    """Imports n lines into a fresh store; the figures, beside a raw COPY of the same rows."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-import-")))
        server = EmbeddedPostgres(tmp / "pg")
        stack.callback(server.stop)
        url = new_database(server)
        rt = start_runtime(settings_for(url, tmp))
        stack.callback(rt.close)
        live = LiveServer(rt)
        with live.client("admin") as c:
            world = make_world(c, "bench", reopenable=20, revisits=20)
        live.stop()
        msgs = inbound_messages(world, n, f"b{uuid.uuid4().hex[:6]}", random.Random(1),
                                repeat_share=0)
        path = tmp / "history.jsonl"
        path.write_bytes(b"".join(m.value + b"\n" for m in msgs))
        head_before, rejects = head_position(rt.pool), io.StringIO()
        started = time.perf_counter()
        with path.open("rb") as source:
            summary = import_file(rt.pool, rt.app, source, rejects, batch)
        seconds = time.perf_counter() - started
        events = head_position(rt.pool) - head_before
        assert summary.rejected == 0, rejects.getvalue()[:2000]
        assert summary.events == events, (summary.events, events)
        n_copy, t_copy = raw_copy(url, msgs)
    rate, copy_rate = len(msgs) / seconds, n_copy / t_copy
    return {"lines": len(msgs), "events": events, "seconds": round(seconds, 3),
            "lines_per_s": round(rate), "events_per_s": round(events / seconds),
            "copy_rows": n_copy, "copy_seconds": round(t_copy, 3),
            "copy_rows_per_s": round(copy_rate), "ratio": round(rate / copy_rate, 4),
            "batch": batch,
            "targets_met": rate / copy_rate >= TARGET_RATIO and events / seconds >= TARGET_EVENTS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=BATCH)
    args = ap.parse_args()
    r = run(args.n, args.batch)
    print(f"raw COPY into a bare table : {r['copy_rows']:>7,} rows in {r['copy_seconds']:7.3f} s "
          f"= {r['copy_rows_per_s']:>10,} rows/s")
    print(f"csm import (batch {r['batch']:,})    : {r['lines']:>7,} lines in {r['seconds']:7.3f} s "
          f"= {r['lines_per_s']:>10,} lines/s ({r['events']:,} events = "
          f"{r['events_per_s']:,} events/s)")
    print(f"ratio import / raw COPY: {r['ratio']:.2%} (target ≥ {TARGET_RATIO:.0%}); "
          f"{r['events_per_s']:,} events/s (target ≥ {TARGET_EVENTS:,}): "
          f"{'met' if r['targets_met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
