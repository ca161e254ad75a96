"""Every benchmark in one command, and one table of figures, baselines and verdicts.

    .venv/bin/python -m bench [--quick] [--only NAMES] [--json FILE] [--events N]

Parts (NAMES, comma-separated): http, projectors, verify, relay, import, inbound,
freshness.
Each starts what it needs (an embedded PostgreSQL; relay, inbound and freshness a Kafka
broker too, and are skipped when none can be started); projectors, verify and relay
share one synthetic store. Progress goes to stderr; machine info and the table to stdout.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
import traceback

# HTTP client processes are spawned and import this module: heavy imports stay in main().
PARTS = ("http", "projectors", "verify", "relay", "import", "inbound", "freshness")
KAFKA = {"relay", "inbound", "freshness"}
STORE = ("projectors", "verify", "relay")


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run of a minute or two")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts to run")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    ap.add_argument("--events", type=int, help="events of the synthetic store")
    args = ap.parse_args()
    args.names = set(filter(None, args.only.split(",")))
    if args.names - set(PARTS):
        ap.error(f"unknown parts: {', '.join(sorted(args.names - set(PARTS)))}")
    return args


def stages(names: set[str], sizes, kafka_reason: str | None):
    """(names, function returning rows) in the order they run."""
    from bench import suite
    if "http" in names:
        yield ["http"], lambda: suite.http_part(sizes)
    store = [n for n in STORE if n in names and not (n in KAFKA and kafka_reason)]
    if store:
        yield store, lambda: suite.store_part(sizes, set(store), kafka_reason)
    for name, part in (("import", suite.import_part), ("inbound", suite.inbound_part),
                       ("freshness", suite.freshness_part)):
        if name in names and not (name in KAFKA and kafka_reason):
            yield [name], lambda part=part: part(sizes)


def run(names: set[str], sizes, kafka_reason: str | None) -> list:
    from bench.machine import say
    from bench.verdicts import Row
    rows = []
    for part_names, measure in stages(names, sizes, kafka_reason):
        say(f"== {', '.join(part_names)} (load average {os.getloadavg()[0]:.2f})")
        try:
            with contextlib.redirect_stdout(sys.stderr):  # modules' own lines are progress
                rows += measure()
        except Exception as exc:  # noqa: BLE001 - one failed part does not stop the others
            traceback.print_exc()
            rows += [Row(f"{n}: failed", None, note=f"{type(exc).__name__}: {exc}"[:300])
                     for n in part_names]
    if kafka_reason:
        rows += [Row(f"{n}: skipped, Kafka unavailable", None) for n in PARTS
                 if n in names & KAFKA]
    return rows


def report(rows, info: dict, args, skipped: str, wall: float, loads) -> str:
    from bench.verdicts import table
    cores = int(info["cores"])
    lines = [f"## python -m bench{' --quick' if args.quick else ''}",
             f"machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}; "
             f"{info['postgresql']}; Kafka {info['kafka']}",
             "load average at start: %.2f %.2f %.2f; at end: %.2f %.2f %.2f" % (*loads[0],
                                                                               *loads[1]),
             "", table(rows, cores), "",
             f"(load N): the 1-minute load average just before the figure was measured; "
             f"busy: above the {cores} cores (this run's own earlier parts count too)."]
    lines += [f"- {r.figure}: {r.note}" for r in rows if r.note]
    if skipped:
        lines.append(skipped)
    lines.append(f"wall time: {wall:.0f} s")
    return "\n".join(lines)


def main() -> None:
    args = options()
    from bench import machine, suite
    from bench.verdicts import as_json
    sizes = suite.QUICK if args.quick else suite.DEFAULT
    if args.events:
        sizes = dataclasses.replace(sizes, events=args.events)
    started, load_start = time.monotonic(), os.getloadavg()
    info = machine.info()
    reason = machine.kafka_unavailable() if args.names & KAFKA else None
    skipped = ""
    if reason:
        skipped = f"skipped {', '.join(sorted(args.names & KAFKA))}: Kafka unavailable, {reason}"
        machine.say(skipped)
    rows = run(args.names, sizes, reason)
    wall = time.monotonic() - started
    print(report(rows, info, args, skipped, wall, (load_start, os.getloadavg())))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"machine": info, "quick": args.quick, "wall_seconds": wall,
                       "skipped": skipped, "rows": [as_json(r, int(info["cores"])) for r in rows]},
                      out, indent=2)


if __name__ == "__main__":
    main()
