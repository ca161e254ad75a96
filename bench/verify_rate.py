"""`verify` against a raw streaming SELECT of the same rows, and a snapshot build against a
full rebuild, in the same run.

    .venv/bin/python -m bench.verify_rate [N] [--data-dir DIR] [--skip snapshot]

On a throwaway embedded PostgreSQL: writes N synthetic events (default 1,000,000) through
the real application (so every event is hash-chained and sealed), then measures
  (a) a raw streaming SELECT of every stored event in position order, with the columns
      its hash covers, its hash and its seal (rows/s) — through a server-side cursor, as
      the other benches measure it, and through libpq's chunked streaming;
  (b) `verify_chain` — every hash, link and seal, what `csm verify` and GET
      /v1/audit/verify run — and `verify_against` a checkpoint (the public-key check);
  (c) a snapshot of every read model as of the last event, beside a full `rebuild`;
and prints each with its ratio. Targets: verify at least the rate
of the raw SELECT; a snapshot as fast as a rebuild.

`--data-dir DIR` keeps the server there and reuses its events on the next run.
"""
from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

from bench.bench_store import synthetic_store
from csm.infra.chain import CHUNK, verify_against, verify_chain
from csm.infra.checkpointer import Checkpointer
from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL
from csm.projections.snapshots import build_snapshot, delete_snapshot, request_snapshot
from csm.projections.store import head_position

RAW_SELECT = ("SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
              "e.recorded_at, e.state, e.hash, s.prev_position, s.ordinal, s.seal "
              "FROM csm_events e LEFT JOIN csm_event_seals s ON s.position = e.notification_id "
              "ORDER BY e.notification_id")


def raw_select(url: str) -> tuple[int, float]:
    """As the other benches measure a raw streaming SELECT: a server-side cursor."""
    with psycopg.connect(url) as conn, conn.cursor(name="bench_raw", row_factory=tuple_row) as cur:
        cur.itersize = 10_000
        started = time.perf_counter()
        cur.execute(RAW_SELECT, binary=True)
        n = sum(1 for _ in cur)
        return n, time.perf_counter() - started


def raw_stream(url: str) -> tuple[int, float]:
    """The same rows through libpq's chunked streaming (what verify itself reads with)."""
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        rows = conn.cursor(row_factory=tuple_row).stream(RAW_SELECT, binary=True, size=CHUNK)
        n = sum(1 for _ in rows)
        return n, time.perf_counter() - started


def timed(label: str, n: int, seconds: float, raw_rate: float) -> str:
    rate = n / seconds
    return (f"{label:<34} {rate:>10,.0f} rows/s    ({rate / raw_rate:.2f}x server cursor)  "
            f"{n:,} events in {seconds:.1f} s")


def replay(rt, part: str) -> float:
    """Seconds to build every read model from every event: as a snapshot (then deleted), or
    as a full rebuild swapped into csm_read."""
    started = time.perf_counter()
    if part == "rebuild":
        rebuild(rt.pool, list(ALL.values()), rt.settings.zone)
        return time.perf_counter() - started
    with rt.pool.connection() as conn:
        as_of = conn.execute("SELECT max(recorded_at) AS t FROM csm_events").fetchone()["t"]
    snap = request_snapshot(rt.pool, as_of)
    built = build_snapshot(rt.pool, snap["snapshot_id"], rt.settings.zone)
    seconds = time.perf_counter() - started
    assert built["status"] == "ready" and built["position"] == head_position(rt.pool), built
    delete_snapshot(rt.pool, snap["snapshot_id"])
    return seconds


def measure_verify(rt, raw_rate: float, emit) -> dict:
    """`verify_chain`, then `verify_against` a fresh checkpoint: (events, seconds, load)."""
    out = {}
    load = os.getloadavg()
    started = time.perf_counter()
    report = verify_chain(rt.pool, rt.audit)
    t = time.perf_counter() - started
    assert report.ok, report
    out["verify"] = (report.events_checked, t, load)
    emit(timed("verify (chain, links, seals)", report.events_checked, t, raw_rate))
    saved = Checkpointer(rt.pool, rt.audit, 1, 1).make_once(force=True)
    load = os.getloadavg()
    started = time.perf_counter()
    report = verify_against(rt.pool, [saved] if saved else [], rt.audit.signer.public)
    t = time.perf_counter() - started
    assert report.ok, report
    out["checkpoint"] = (report.events_checked, t, load)
    emit(timed("verify --checkpoint (public key)", report.events_checked, t, raw_rate))
    return out


def measure_snapshot(rt, emit) -> dict[str, list[float]]:
    """A snapshot and a full rebuild, twice each in turn: their seconds."""
    emit("\nevery read model, from the first event to the last (twice each, in turn, "
         "so that neither always follows the other):")
    times: dict[str, list[float]] = {"snapshot": [], "rebuild": []}
    for _ in range(2):
        for part in times:
            times[part].append(replay(rt, part))
            emit(f"  {part:<9} {times[part][-1]:7.1f} s  (load average "
                 f"{os.getloadavg()[0]:.1f})")
    best = {part: min(t) for part, t in times.items()}
    emit(f"  best: snapshot {best['snapshot']:.1f} s, full rebuild "
         f"{best['rebuild']:.1f} s: {best['snapshot'] / best['rebuild']:.2f}x the "
         f"rebuild's time")
    return times


def measure(rt, url: str, skip: set[str] = frozenset(), emit=lambda _line: None) -> dict:
    """Both raw SELECTs, verify and the snapshot/rebuild pair (less the parts in `skip`)
    on the store of `rt`; `emit` gets each printed line."""
    for table in ("csm_events", "csm_event_seals"):
        with rt.pool.connection() as conn:
            conn.execute(f"VACUUM ANALYZE {table}")
    emit(f"\nstore: {head_position(rt.pool):,} events; load average "
         f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    out: dict = {"load_raw": os.getloadavg()}
    raw_rate = 0.0
    for key, label, how in (("raw", "raw SELECT (server cursor)", raw_select),
                            ("stream", "raw SELECT (chunked stream)", raw_stream)):
        n, t = out[key] = how(url)
        raw_rate = raw_rate or n / t  # the first is the baseline
        emit(timed(label, n, t, raw_rate))
    if "verify" not in skip:
        out.update(measure_verify(rt, raw_rate, emit))
    if "snapshot" not in skip:
        out["snapshot"] = measure_snapshot(rt, emit)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--skip", default="", help="comma-separated: verify,snapshot")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with ExitStack() as stack:
        rt, url = synthetic_store(stack, args.n, args.data_dir)
        measure(rt, url, skip, emit=lambda text: print(text, flush=True))
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (another busy process on "
              f"these cores skews the figures)")


if __name__ == "__main__":
    main()
