"""Figures, their targets and verdicts, and the markdown table of `python -m bench`.

Pure functions only (no database, no csm import), so that a unit test can check them.
A target stated per 1,000,000 events ("≤ 20 s per 1,000,000 events") is judged on the
rate it implies (≥ 50,000 events/s), never on the time of a smaller run."""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
MILLION = 1_000_000


@dataclass(frozen=True)
class Target:
    """`on` (the row's "value", its "ratio" to the raw baseline, or the "rate" it was
    measured at) must be `op` `bound`; `text` is how the table states it."""
    text: str
    op: str
    bound: float
    on: str = "value"

    def met(self, quantity: float | None) -> bool:
        return quantity is not None and OPS[self.op](quantity, self.bound)


def per_million_target(seconds: float) -> Target:
    """"≤ `seconds` s per 1,000,000 events", as the rate (events/s) it takes."""
    return Target(f"≤ {seconds:g} s per 1,000,000 events (≥ {MILLION / seconds:,.0f}/s)",
                  ">=", MILLION / seconds)


def seconds_per_million(rate: float) -> float:
    """The time 1,000,000 events take at `rate` events/s."""
    return MILLION / rate if rate > 0 else float("inf")


def ratio(value: float | None, raw: float | None) -> float | None:
    """value / raw, or None when either is missing or raw is 0."""
    if value is None or not raw:
        return None
    return value / raw


def busy(load1: float, cores: int) -> bool:
    """Whether the 1-minute load average is above the core count."""
    return load1 > cores


@dataclass
class Row:
    """One figure of the table. `value` and `raw` are in `unit`; `shown` replaces the
    formatted value; `load` is os.getloadavg() just before the figure was measured."""
    figure: str
    value: float | None
    unit: str = "/s"
    raw: float | None = None
    targets: list[Target] = field(default_factory=list)
    load: tuple[float, float, float] | None = None
    rate: float | None = None
    shown: str = ""
    note: str = ""

    def quantities(self) -> dict[str, float | None]:
        return {"value": self.value, "ratio": ratio(self.value, self.raw), "rate": self.rate}


def verdict(row: Row) -> str:
    """"met" when every target is met, "not met" otherwise, "—" without a target,
    "not measured" without a value."""
    if row.value is None:
        return "not measured"
    if not row.targets:
        return "—"
    q = row.quantities()
    return "met" if all(t.met(q[t.on]) for t in row.targets) else "not met"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "%":
        return f"{value:+.1f}%"
    return f"{value:,.1f} {unit}".strip()


def load_note(load: tuple[float, float, float] | None, cores: int) -> str:
    if load is None:
        return ""
    flag = ", busy" if busy(load[0], cores) else ""
    return f" (load {load[0]:.2f}{flag})"


def cells(row: Row, cores: int) -> list[str]:
    r = ratio(row.value, row.raw)
    return [row.figure + load_note(row.load, cores), row.shown or fmt(row.value, row.unit),
            fmt(row.raw, row.unit), "—" if r is None else f"{r:.2f}×",
            " and ".join(t.text for t in row.targets) or "—", verdict(row)]


HEADER = ["figure", "value", "raw baseline (same run)", "ratio", "target", "met / not met"]


def table(rows: list[Row], cores: int) -> str:
    """The markdown table, one line per row."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---:|---:|---:|---|---|"]
    lines += ["| " + " | ".join(cells(r, cores)) + " |" for r in rows]
    return "\n".join(lines)


def as_json(row: Row, cores: int) -> dict:
    """A row as plain data, with its ratio, verdict and busy flag."""
    return {"figure": row.figure, "value": row.value, "unit": row.unit, "raw": row.raw,
            "ratio": ratio(row.value, row.raw), "rate": row.rate,
            "targets": [t.text for t in row.targets], "verdict": verdict(row),
            "load": list(row.load) if row.load else None,
            "busy": busy(row.load[0], cores) if row.load else None, "note": row.note}
