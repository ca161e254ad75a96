"""Projector catch-up and full rebuild, against a raw streaming SELECT in the same run.

    .venv/bin/python -m bench.projector_catchup [N] [--data-dir DIR] [--profile NAME]

On a throwaway embedded PostgreSQL: writes N synthetic events (default
1,000,000) through the real application, then measures
  (a) a raw server-side-cursor SELECT of every event in position order (rows/s),
      and the store reader the runner uses (read + decode, no projection),
  (b) a catch-up of each projection alone, into a fresh schema (events/s),
  (c) all projections together in one runner,
  (d) a full `rebuild` of every read model (seconds),
and prints each rate with its ratio to the raw SELECT. Targets (DESIGN
§Performance): ≥ 50,000 events/s per projector; a full rebuild of 1,000,000
events in ≤ 60 s.

`--data-dir DIR` keeps the server there and reuses its events on the next run
(generation is skipped when the store already holds N events).
`--profile NAME` also runs cProfile over a catch-up of projection NAME (or
`all`) for the first min(N, 100,000) events and prints the top functions.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.synthetic import generate
from csm.infra.database import EmbeddedPostgres
from csm.consumers.composition import start_runtime
from csm.projections.rebuild import ensure_read_models, rebuild
from csm.projections.registry import ALL
from csm.projections.runner import Runner
from csm.projections.store import head_position, read_events
from bench.stack import new_database, settings_for

RAW_SELECT = ("SELECT notification_id, originator_id, originator_version, topic, state "
              "FROM csm_events ORDER BY notification_id")
PER_PROJECTOR_TARGET = 50_000
REBUILD_TARGET_SECONDS = 60.0
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def raw_select(url: str) -> tuple[int, float]:
    with psycopg.connect(url) as conn, conn.cursor(name="bench_raw") as cur:
        cur.itersize = 10_000
        started = time.perf_counter()
        cur.execute(RAW_SELECT)
        n = sum(1 for _ in cur)
        return n, time.perf_counter() - started


def store_reader(pool, batch: int = 5000) -> tuple[int, float]:
    """What the runner pays before any projection code: read + decode, in its batches."""
    started, position, n = time.perf_counter(), 0, 0
    while events := read_events(pool, position, batch):
        position, n = events[-1].position, n + len(events)
    return n, time.perf_counter() - started


def fresh_schema(pool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def catch_up(pool, projections, zone, schema: str, upto: int | None = None) -> tuple[int, float]:
    fresh_schema(pool, schema)
    ensure_read_models(pool, projections, zone, schema=schema)
    runner = Runner(pool, projections, zone, schema=schema)
    started = time.perf_counter()
    n = runner.catch_up(upto)
    return n, time.perf_counter() - started


def line(label: str, n: int, seconds: float, raw_rate: float, target: float | None = None) -> str:
    rate = n / seconds if seconds else float("inf")
    verdict = ""
    if target is not None:
        verdict = "  [meets target]" if rate >= target else f"  [BELOW target {target:,.0f}/s]"
    return (f"{label:<28} {rate:>10,.0f} events/s  ({rate / raw_rate:.2f}x raw select)"
            f"  {n:,} events in {seconds:.1f} s{verdict}")


def profile(pool, zone, name: str, upto: int) -> None:
    projections = list(ALL.values()) if name == "all" else [ALL[name]]
    schema = f"bench_profile_{name}"
    fresh_schema(pool, schema)
    ensure_read_models(pool, projections, zone, schema=schema)
    runner = Runner(pool, projections, zone, schema=schema)
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    n = runner.catch_up(upto)
    prof.disable()
    seconds = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    print(f"\n== cProfile: catch-up of {name}, {n:,} events in {seconds:.1f} s "
          f"(with profiler overhead) ==")
    print(out.getvalue())
    fresh_schema(pool, schema)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--profile", default=None, help="projection name or 'all'")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: each,all,rebuild")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with ExitStack() as stack:
        base = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = EmbeddedPostgres(base / "pg", keep_running=False)
        stack.callback(server.stop)
        url = server.url if args.data_dir else new_database(server)
        settings = settings_for(url, base)
        rt = start_runtime(settings)
        stack.callback(rt.close)
        zone = settings.zone

        head = head_position(rt.pool)
        if head < args.n:
            print(f"writing {args.n - head:,} synthetic events through the application ...",
                  flush=True)
            started = time.perf_counter()
            written = generate(rt.app, args.n - head, seed=1 + head, now=NOW,
                               prefix=f"b{head}-")
            seconds = time.perf_counter() - started
            print(f"wrote {written:,} events in {seconds:.1f} s ({written / seconds:,.0f}/s)",
                  flush=True)
        head = head_position(rt.pool)
        with rt.pool.connection() as conn:
            conn.execute("VACUUM ANALYZE csm_events")
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('csm_events')) s"
                                ).fetchone()["s"]
        print(f"\nstore: {head:,} events ({size}), zone {zone.key}, load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n", flush=True)

        n_raw, t_raw = raw_select(url)
        raw_rate = n_raw / t_raw
        print(f"{'raw SELECT (server cursor)':<28} {raw_rate:>10,.0f} rows/s    (1.00x)"
              f"             {n_raw:,} rows in {t_raw:.1f} s", flush=True)
        n, t = store_reader(rt.pool)
        print(line("store reader (read+decode)", n, t, raw_rate), flush=True)

        results: dict[str, float] = {}
        if "each" not in skip:
            print("\neach projection alone (fresh schema, one runner):", flush=True)
            for p in ALL.values():
                n, t = catch_up(rt.pool, [p], zone, f"bench_{p.name}")
                results[p.name] = n / t
                print(line(f"  {p.name}", n, t, raw_rate, PER_PROJECTOR_TARGET), flush=True)
                fresh_schema(rt.pool, f"bench_{p.name}")
        if "all" not in skip:
            print("\nall projections together (one runner):", flush=True)
            n, t = catch_up(rt.pool, list(ALL.values()), zone, "bench_all")
            print(line("  all", n, t, raw_rate), flush=True)
            fresh_schema(rt.pool, "bench_all")
        if "rebuild" not in skip:
            print("\nfull rebuild of every read model (build schema + atomic swap):", flush=True)
            started = time.perf_counter()
            position = rebuild(rt.pool, list(ALL.values()), zone)
            t = time.perf_counter() - started
            verdict = ("meets target" if head < 1_000_000 or t <= REBUILD_TARGET_SECONDS
                       else f"BELOW target {REBUILD_TARGET_SECONDS:.0f} s")
            scaled = t * 1_000_000 / max(head, 1)
            print(line("  rebuild", position, t, raw_rate), flush=True)
            print(f"  rebuild of {head:,} events: {t:.1f} s (≈ {scaled:.0f} s per 1,000,000 "
                  f"events; target ≤ {REBUILD_TARGET_SECONDS:.0f} s) [{verdict}]", flush=True)
        if results:
            slowest = min(results, key=results.get)
            print(f"\nslowest projector: {slowest} at {results[slowest]:,.0f} events/s "
                  f"(target ≥ {PER_PROJECTOR_TARGET:,}/s)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (another busy process on "
              f"these cores skews the figures)")
        if args.profile:
            profile(rt.pool, zone, args.profile, min(head, 100_000))


if __name__ == "__main__":
    main()
