"""Projector catch-up and full rebuild, against a raw streaming SELECT in the same run.

    .venv/bin/python -m bench.projector_catchup [N] [--data-dir DIR] [--profile NAME]

On a throwaway embedded PostgreSQL: writes N synthetic events (default
1,000,000) through the real application, then measures
  (a) a raw server-side-cursor SELECT of every event in position order (rows/s),
      and the store reader the runner uses (read + decode, no projection),
  (b) a catch-up of each projection alone, into a fresh schema (events/s),
  (c) all projections together in one runner,
  (d) a full `rebuild` of every read model (seconds; with many events, `rebuild`
      shares the projections among processes, one per core),
and prints each rate with its ratio to the raw SELECT. Targets:
≥ 50,000 events/s per projector; a full rebuild of 1,000,000
events in ≤ 20 s (judged on the rate, scaled to 1,000,000 events).

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
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg

from bench.bench_store import synthetic_store
from csm.projections import parallel_build
from csm.projections.rebuild import ensure_read_models, rebuild
from csm.projections.registry import ALL
from csm.projections.runner import Runner
from csm.projections.store import head_position, read_events

RAW_SELECT = ("SELECT notification_id, originator_id, originator_version, topic, state "
              "FROM csm_events ORDER BY notification_id")
PER_PROJECTOR_TARGET = 50_000
REBUILD_TARGET_SECONDS = 20.0


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


def store_facts(rt) -> tuple[int, str]:
    """VACUUM ANALYZE of the events; their count and size."""
    with rt.pool.connection() as conn:
        conn.execute("VACUUM ANALYZE csm_events")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('csm_events')) s"
                            ).fetchone()["s"]
    return head_position(rt.pool), size


def measure_each(rt, raw_rate: float, emit) -> dict[str, tuple[int, float, tuple]]:
    """Each projection alone into a fresh schema: (events, seconds, load before)."""
    emit("\neach projection alone (fresh schema, one runner):")
    each = {}
    for p in ALL.values():
        load = os.getloadavg()
        n, t = catch_up(rt.pool, [p], rt.settings.zone, f"bench_{p.name}")
        each[p.name] = (n, t, load)
        emit(line(f"  {p.name}", n, t, raw_rate, PER_PROJECTOR_TARGET))
        fresh_schema(rt.pool, f"bench_{p.name}")
    return each


def measure_rebuild(rt, head: int, raw_rate: float, emit) -> tuple[int, float, tuple]:
    """A full rebuild of every read model: (position, seconds, load before)."""
    shared = parallel_build.PROCESSES if head >= parallel_build.PARALLEL_FROM else 1
    groups = parallel_build.groups(list(ALL.values()), shared)
    emit(f"\nfull rebuild of every read model (build schema + atomic swap), in {len(groups)} "
         f"process(es): {' | '.join(','.join(p.name for p in g) for g in groups)}")
    load = os.getloadavg()
    started = time.perf_counter()
    position = rebuild(rt.pool, list(ALL.values()), rt.settings.zone)
    t = time.perf_counter() - started
    scaled = t * 1_000_000 / max(head, 1)  # judged on the rate, whatever the size
    verdict = ("meets target" if scaled <= REBUILD_TARGET_SECONDS
               else f"BELOW target {REBUILD_TARGET_SECONDS:.0f} s")
    emit(line("  rebuild", position, t, raw_rate))
    emit(f"  rebuild of {head:,} events: {t:.1f} s (≈ {scaled:.0f} s per 1,000,000 "
         f"events; target ≤ {REBUILD_TARGET_SECONDS:.0f} s) [{verdict}]")
    return position, t, load


def measure(rt, url: str, skip: set[str] = frozenset(), emit=lambda _line: None) -> dict:
    """Raw SELECT, store reader, each projection alone, all together, full rebuild (less
    the parts in `skip`) on the store of `rt`; `emit` gets each printed line."""
    head, size = store_facts(rt)
    emit(f"\nstore: {head:,} events ({size}), zone {rt.settings.zone.key}, load average "
         f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    out: dict = {"head": head, "size": size, "load_raw": os.getloadavg()}
    n_raw, t_raw = out["raw"] = raw_select(url)
    raw_rate = n_raw / t_raw
    emit(f"{'raw SELECT (server cursor)':<28} {raw_rate:>10,.0f} rows/s    (1.00x)"
         f"             {n_raw:,} rows in {t_raw:.1f} s")
    n, t = out["reader"] = store_reader(rt.pool)
    emit(line("store reader (read+decode)", n, t, raw_rate))
    if "each" not in skip:
        out["each"] = measure_each(rt, raw_rate, emit)
    if "all" not in skip:
        emit("\nall projections together (one runner):")
        load = os.getloadavg()
        n, t = catch_up(rt.pool, list(ALL.values()), rt.settings.zone, "bench_all")
        out["all"] = (n, t, load)
        emit(line("  all", n, t, raw_rate))
        fresh_schema(rt.pool, "bench_all")
    if "rebuild" not in skip:
        out["rebuild"] = measure_rebuild(rt, head, raw_rate, emit)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--profile", default=None, help="projection name or 'all'")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: each,all,rebuild")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with ExitStack() as stack:
        rt, url = synthetic_store(stack, args.n, args.data_dir)
        out = measure(rt, url, skip, emit=lambda text: print(text, flush=True))
        if "each" in out:
            rates = {name: n / t for name, (n, t, _) in out["each"].items()}
            slowest = min(rates, key=rates.get)
            print(f"\nslowest projector: {slowest} at {rates[slowest]:,.0f} events/s "
                  f"(target ≥ {PER_PROJECTOR_TARGET:,}/s)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (another busy process on "
              f"these cores skews the figures)")
        if args.profile:
            profile(rt.pool, rt.settings.zone, args.profile, min(out["head"], 100_000))


if __name__ == "__main__":
    main()
