"""`verify` against a raw streaming SELECT of the same rows, and a snapshot build against a
full rebuild, in the same run.

    .venv/bin/python -m bench.verify_rate [N] [--data-dir DIR] [--skip snapshot]

On a throwaway embedded PostgreSQL: writes N synthetic events (default 1,000,000) through
the real application (so every event is hash-chained and sealed), then measures
  (a) a raw server-side-cursor SELECT of every stored event in position order, with the
      columns its hash covers, its hash and its seal (rows/s);
  (b) `verify_chain` — every hash, link and seal, what `csm verify` and GET
      /v1/audit/verify run — and `verify_against` a checkpoint (the public-key check);
  (c) a snapshot of every read model as of the last event, beside a full `rebuild`;
and prints each with its ratio. Targets (DESIGN §Performance): verify at least the rate
of the raw SELECT; a snapshot as fast as a rebuild.

`--data-dir DIR` keeps the server there and reuses its events on the next run.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

from bench.synthetic import generate
from infra.chain import verify_against, verify_chain
from infra.checkpointer import Checkpointer
from infra.database import EmbeddedPostgres
from infra.runtime import start_runtime
from projections.rebuild import rebuild
from projections.registry import ALL
try:
    from projections.snapshots import build_snapshot, request_snapshot
except ImportError: pass
from projections.store import head_position
from tests.conftest import new_database, settings_for

RAW_SELECT = ("SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
              "e.recorded_at, e.state, e.hash, s.prev_position, s.ordinal, s.seal "
              "FROM csm_events e LEFT JOIN csm_event_seals s ON s.position = e.notification_id "
              "ORDER BY e.notification_id")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def raw_select(url: str) -> tuple[int, float]:
    with psycopg.connect(url) as conn, conn.cursor(name="bench_raw", row_factory=tuple_row) as cur:
        cur.itersize = 20_000
        started = time.perf_counter()
        cur.execute(RAW_SELECT, binary=True)
        n = sum(1 for _ in cur)
        return n, time.perf_counter() - started


def timed(label: str, n: int, seconds: float, raw_rate: float) -> str:
    rate = n / seconds
    return (f"{label:<34} {rate:>10,.0f} events/s  ({rate / raw_rate:.2f}x raw select)  "
            f"{n:,} events in {seconds:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--skip", default="", help="comma-separated: verify,snapshot")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with ExitStack() as stack:
        base = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = EmbeddedPostgres(base / "pg", keep_running=False)
        stack.callback(server.stop)
        url = server.url if args.data_dir else new_database(server)
        rt = start_runtime(settings_for(url, base))
        stack.callback(rt.close)
        head = head_position(rt.pool)
        if head < args.n:
            print(f"writing {args.n - head:,} synthetic events through the application ...",
                  flush=True)
            generate(rt.app, args.n - head, seed=1 + head, now=NOW, prefix=f"b{head}-")
        with rt.pool.connection() as conn:
            conn.execute("VACUUM ANALYZE csm_events")
            conn.execute("VACUUM ANALYZE csm_event_seals")
        head = head_position(rt.pool)
        print(f"\nstore: {head:,} events, load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores\n", flush=True)

        n_raw, t_raw = raw_select(url)
        raw_rate = n_raw / t_raw
        print(f"{'raw SELECT (server cursor)':<34} {raw_rate:>10,.0f} rows/s    (1.00x)"
              f"             {n_raw:,} rows in {t_raw:.1f} s", flush=True)
        if "verify" not in skip:
            started = time.perf_counter()
            report = verify_chain(rt.pool, rt.audit)
            t = time.perf_counter() - started
            assert report.ok, report
            print(timed("verify (chain, links, seals)", report.events_checked, t, raw_rate),
                  flush=True)
            saved = Checkpointer(rt.pool, rt.audit, 1, 1).make_once(force=True)
            started = time.perf_counter()
            report = verify_against(rt.pool, [saved] if saved else [], rt.audit.signer.public)
            t = time.perf_counter() - started
            assert report.ok, report
            print(timed("verify --checkpoint (public key)", report.events_checked, t,
                        raw_rate), flush=True)
        if "snapshot" not in skip:
            zone = rt.settings.zone
            print("\nevery read model, from the first event to the last:", flush=True)
            started = time.perf_counter()
            rebuild(rt.pool, list(ALL.values()), zone)
            t_rebuild = time.perf_counter() - started
            print(f"  full rebuild   {t_rebuild:7.1f} s", flush=True)
            with rt.pool.connection() as conn:
                as_of = conn.execute("SELECT max(recorded_at) AS t FROM csm_events").fetchone()["t"]
            snapshot = request_snapshot(rt.pool, as_of)
            started = time.perf_counter()
            built = build_snapshot(rt.pool, snapshot["snapshot_id"], zone)
            t_snapshot = time.perf_counter() - started
            print(f"  snapshot       {t_snapshot:7.1f} s  ({built['position']:,} events; "
                  f"{t_snapshot / t_rebuild:.2f}x the rebuild's time)", flush=True)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (another busy process on "
              f"these cores skews the figures)")


if __name__ == "__main__":
    main()
