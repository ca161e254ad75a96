"""The parts of `python -m bench`: each runs a benchmark module's measuring function and
turns what it returns into rows of the table."""
from __future__ import annotations

import os
import traceback
from contextlib import ExitStack
from dataclasses import dataclass

from bench.machine import say
from bench.verdicts import Row, Target, per_million_target, seconds_per_million

PER_SECOND = Target("≥ 50,000/s", ">=", 50_000)
REBUILD = per_million_target(20)


@dataclass(frozen=True)
class Sizes:
    """How much each part does."""
    events: int                 # the synthetic store of projectors, verify and relay
    http_clients: tuple[int, ...]
    http_seconds: float
    inbound: int
    imported: int               # lines of the bulk import
    fresh_rate: float
    fresh_seconds: float


DEFAULT = Sizes(150_000, (1, 8, 32), 5.0, 5_000, 20_000, 1_000.0, 10.0)
QUICK = Sizes(20_000, (1, 32), 2.0, 1_000, 2_000, 1_000.0, 4.0)


def http_rows(m: dict, workers: int = 1) -> list[Row]:
    """bench.http_load: 32 clients, one client, the best client count, RSS of csm serve (with
    `workers` API processes, named in each row when more than one)."""
    by = {p["clients"]: p for p in m["phases"]}
    of = f", --workers {workers}" if workers > 1 else ""
    rows = []
    if 32 in by:
        p = by[32]
        rows += [Row(f"HTTP commands/s, 32 clients{of} (raw: 1 txn/command)", p["rate"],
                     raw=p["raw_rate"], targets=[Target("≥ 2,500/s", ">=", 2500)],
                     load=p["load"]),
                 Row(f"HTTP p99, 32 clients{of}", p["p99"], "ms", raw=p["raw_p99"],
                     targets=[Target("< 50 ms", "<", 50)], load=p["load"])]
    if 1 in by:
        rows.append(Row(f"HTTP p50, 1 client{of}", by[1]["p50"], "ms", raw=by[1]["raw_p50"],
                        targets=[Target("≤ 2 ms", "<=", 2)], load=by[1]["load"]))
    best = max(m["phases"], key=lambda p: p["rate"])
    rows.append(Row(f"HTTP commands/s, best C{of} (C={best['clients']} of "
                    f"{','.join(map(str, by))})", best["rate"], raw=best["raw_rate"],
                    targets=[Target("≥ 1,000/s", ">=", 1000)], load=best["load"]))
    growth = 100 * (m["rss_end"] - m["rss_start"]) / m["rss_start"]
    rows.append(Row(f"RSS of csm serve{of}, start → end of the HTTP load", growth, "%",
                    shown=f"{m['rss_start']:.0f} → {m['rss_end']:.0f} MiB ({growth:+.1f}%)",
                    targets=[Target("flat: < 10% growth", "<", 10)],
                    load=m["phases"][0]["load"],
                    note=f"{m['seconds']:g} s per phase, C = {', '.join(map(str, by))}"))
    return rows


def http_part(sizes: Sizes) -> list[Row]:
    """The API in `csm serve`'s own process (projectors beside it), then in two worker
    processes (the projectors in the parent)."""
    from bench import http_load
    rows = http_rows(http_load.measure(list(sizes.http_clients), sizes.http_seconds, say))
    two = http_load.measure([c for c in sizes.http_clients if c in (1, 32)],
                            sizes.http_seconds, say, workers=2)
    return rows + http_rows(two, workers=2)


def rate(pair) -> float:
    return pair[0] / pair[1]


def projector_rows(m: dict, proc: dict | None) -> list[Row]:
    """bench.projector_catchup (and `csm project` as a process): rates against the raw SELECT."""
    raw = rate(m["raw"])
    rows = [Row("store reader (read + decode) events/s", rate(m["reader"]), raw=raw,
                load=m["load_raw"])]
    n, t, load = m["all"]
    rows.append(Row("projectors all together events/s", n / t, raw=raw, targets=[PER_SECOND],
                    load=load))
    n, t, load = m["rebuild"]
    r = m["head"] / t
    rows.append(Row("full rebuild, scaled to 1,000,000 events", r, raw=raw, targets=[REBUILD],
                    load=load, shown=f"{seconds_per_million(r):.1f} s per 1M ({r:,.0f}/s)",
                    note=f"{m['head']:,} events in {t:.1f} s, judged on the rate"))
    for name, (n, t, load) in m["each"].items():
        rows.append(Row(f"projection {name} alone events/s", n / t, raw=raw,
                        targets=[PER_SECOND], load=load))
    if proc:
        rows.append(Row("RSS of csm project during catch-up (peak)", proc["rss_peak"], "MiB",
                        shown=f"{proc['rss_peak']:.0f} MiB (start {proc['rss_start']:.0f}, "
                              f"end {proc['rss_end']:.0f})", load=proc["load"],
                        note=f"caught up {proc['events']:,} events in {proc['seconds']:.1f} s "
                             f"= {proc['events'] / max(proc['seconds'], 1e-9):,.0f}/s"))
    return rows


def verify_rows(m: dict) -> list[Row]:
    """bench.verify_rate: verify against the raw SELECT (server cursor)."""
    raw = rate(m["raw"])
    n, t, load = m["verify"]
    rows = [Row("verify (chain, links, seals) events/s", n / t, raw=raw,
                targets=[Target("≥ the raw SELECT", ">=", 1.0, on="ratio")], load=load,
                note=f"raw SELECT through libpq's chunked stream: {rate(m['stream']):,.0f}/s")]
    n, t, load = m["checkpoint"]
    rows.append(Row("verify --checkpoint (public key) events/s", n / t, raw=raw, load=load))
    return rows


def relay_rows(m: dict) -> list[Row]:
    """bench.kafka_relay: one row per Kafka client measured (CSM_KAFKA_CLIENT)."""
    raw = m["n_raw"] / m["t_raw"]
    each = m.get("clients") or {"kafka-python": m}
    return [Row(f"relay store → Kafka events/s ({client})", c["n"] / c["t"], raw=raw,
                targets=[PER_SECOND], load=c["load"],
                note=f"{c['n']:,} events, {m['partitions']} partitions, acks=all, idempotent, "
                     f"CSM_KAFKA_CLIENT={client}: {c.get('version', client)}")
            for client, c in each.items()]


def quiet(text: str) -> None:
    """A module's printed line, as a progress line."""
    if text.strip():
        say(text.strip())


def guarded(name: str, measure) -> list[Row]:
    """The rows of `measure()`, or one row saying that part failed (and its traceback on
    stderr), so that the next part on the same store still runs."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        traceback.print_exc()
        return [Row(f"{name}: failed", None, note=f"{type(exc).__name__}: {exc}"[:300])]


def store_part(sizes: Sizes, names: set[str], kafka_reason: str | None) -> list[Row]:
    """One synthetic store, measured by the projector, verify and relay parts in turn."""
    from bench import kafka_relay, projector_catchup, projector_process, verify_rate
    from bench.bench_store import synthetic_store
    rows: list[Row] = []
    with ExitStack() as stack:
        say(f"synthetic store: {sizes.events:,} events")
        rt, url = synthetic_store(stack, sizes.events, None)
        if "projectors" in names:
            say("projector_catchup: csm project as a process, then each, all, rebuild")
            def projectors() -> list[Row]:  # the process first: a rebuild fills csm_read
                proc = projector_process.catch_up(rt, rt.settings.csm_data_dir)
                return projector_rows(projector_catchup.measure(rt, url, emit=quiet), proc)
            rows += guarded("projectors", projectors)
        if "verify" in names:
            say("verify_rate: raw SELECTs, verify, verify --checkpoint")
            rows += guarded("verify", lambda: verify_rows(
                verify_rate.measure(rt, url, {"snapshot"}, emit=quiet)))
        if "relay" in names and not kafka_reason:
            say("kafka_relay: raw SELECT, relay into a fresh topic with each Kafka client")
            rows += guarded("relay", lambda: relay_rows(kafka_relay.measure(rt, url)))
    return rows


def inbound_part(sizes: Sizes) -> list[Row]:
    from bench import kafka_inbound
    m = kafka_inbound.measure(sizes.inbound)
    return [Row("inbound batch path messages/s (raw: COPY)", m["n"] / m["t"],
                raw=m["n_copy"] / m["t_copy"], load=m["load"],
                targets=[Target("≥ 50% of COPY", ">=", 0.5, on="ratio"),
                         Target("≥ 20,000/s", ">=", 20_000)],
                note=f"{m['n']:,} messages → {m['events']:,} events, {m['partitions']} "
                     f"partitions, one consumer")]


def import_part(sizes: Sizes) -> list[Row]:
    from bench import bulk_import
    load = os.getloadavg()
    m = bulk_import.run(sizes.imported)
    return [Row(f"bulk import (csm import) lines/s (raw: COPY; {m['events_per_s']:,} "
                f"events/s)", m["lines_per_s"], raw=m["copy_rows_per_s"], load=load,
                rate=m["events_per_s"],
                targets=[Target("≥ 50% of COPY", ">=", 0.5, on="ratio"),
                         Target("≥ 20,000 events/s", ">=", 20_000, on="rate")],
                note=f"{m['lines']:,} lines → {m['events']:,} events in {m['seconds']:.1f} s, "
                     f"batch {m['batch']:,}")]


def freshness_part(sizes: Sizes) -> list[Row]:
    from bench import kafka_freshness
    # 32 clients: with fewer, the rate reached is bound by their round trips, not the API.
    res = kafka_freshness.measure([sizes.fresh_rate], sizes.fresh_seconds, clients=32,
                                  say=say)[0]
    asked, reached = res["rate"], res["reached"]
    p99 = kafka_freshness.p99_of(res["fresh"]) * 1000
    return [Row(f"freshness p99, answer → read model (asked {asked:,.0f}/s, measured at "
                f"{reached:,.0f}/s)", p99, "ms", rate=reached, load=res["load"],
                targets=[Target("< 250 ms", "<", 250),
                         Target(f"at ≥ {0.9 * asked:,.0f}/s", ">=", 0.9 * asked, on="rate")],
                note=f"{res['commands']:,} commands in {res['elapsed']:.1f} s from 32 clients, "
                     f"{len(res['failures'])} failed, {res['unseen']} never seen; API read "
                     f"p99 {kafka_freshness.p99_of(res['api']) * 1000:.0f} ms")]
