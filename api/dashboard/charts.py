"""Charts as SVG drawn on the server: no script, no asset fetched, the same in a PDF.

Every mark carries its exact figure in a `data-value` attribute and a `<title>` (the
tooltip), and the visible labels round it to one decimal.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
BLUE, BAND, GREEN, AMBER, RED = "#2563eb", "#bfdbfe", "#16a34a", "#f59e0b", "#dc2626"
SEVERITY_COLOURS = {"low": "#93c5fd", "medium": "#60a5fa", "high": AMBER, "critical": RED}


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _svg(name: str, width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "middle", fill: str = MUTED,
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>'
            f"{escape(text)}</text>")


@dataclass(frozen=True)
class Point:
    label: str  # the x label, e.g. "2026-10"
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0


def band_line(name: str, points: Sequence[Point], *, target: float | None = None,
              width: int = 640, height: int = 220, top: float = 100.0) -> str:
    """A line of values over periods with its 95% band, and a target line if given."""
    left, right, upper, lower = 36, 10, 12, 28
    step = (width - left - right) / max(len(points) - 1, 1)
    x = [left + i * step for i in range(len(points))]

    def y(v: float) -> float:
        return upper + (1 - max(0.0, min(v, top)) / top) * (height - upper - lower)
    body = []
    for tick in range(0, int(top) + 1, int(top) // 4 or 1):
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                    f'y2="{y(tick):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 4, y(tick) + 4, str(tick), "end"))
    banded = [(xi, p) for xi, p in zip(x, points, strict=True) if p.low is not None]
    if banded:
        ring = [f"{xi:.1f},{y(p.high):.1f}" for xi, p in banded]
        ring += [f"{xi:.1f},{y(p.low):.1f}" for xi, p in reversed(banded)]
        body.append(f'<polygon class="band" points="{" ".join(ring)}" fill="{BAND}" '
                    f'opacity="0.7"/>')
    if target is not None:
        body.append(f'<line class="target" x1="{left}" x2="{width - right}" '
                    f'y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="{GREEN}" '
                    f'stroke-dasharray="4 3" data-value="{target}"/>')
    body.append(_polyline([(xi, p.value) for xi, p in zip(x, points, strict=True)], y))
    for xi, p in zip(x, points, strict=True):
        body.append(_text(xi, height - 10, p.label[2:] if len(p.label) == 7 else p.label))
        if p.value is not None:
            band = f" (95%: {fmt(p.low)}–{fmt(p.high)})" if p.low is not None else ""
            body.append(f'<circle cx="{xi:.1f}" cy="{y(p.value):.1f}" r="3.5" fill="{BLUE}" '
                        f'data-period="{escape(p.label)}" data-value="{p.value!r}">'
                        f"<title>{escape(p.label)}: {fmt(p.value)}{band}, n = {p.n}</title>"
                        "</circle>")
    return _svg(name, width, height, f"{name}: {len(points)} periods", body)


def _polyline(values: list[tuple[float, float | None]], y) -> str:
    """The line through the known values, broken where a period has none."""
    runs, run = [], []
    for xi, v in values:
        if v is None:
            runs, run = (runs + [run] if run else runs), []
        else:
            run.append(f"{xi:.1f},{y(v):.1f}")
    runs += [run] if run else []
    return "".join(f'<polyline points="{" ".join(r)}" fill="none" stroke="{BLUE}" '
                   f'stroke-width="2"/>' for r in runs)


def hbars(name: str, items: Sequence[tuple[str, float, bool]], *, top: float = 100.0,
          reference: float | None = None, width: int = 420, digits: int = 1) -> str:
    """Horizontal bars (label, value, flagged); flagged bars are red, a reference line
    (e.g. the index) is drawn across."""
    row, left, right = 22, 130, 44
    height = row * len(items) + 16
    scale = (width - left - right) / top
    body = []
    for i, (label, value, flagged) in enumerate(items):
        yy = 8 + i * row
        body.append(_text(left - 6, yy + 13, label, "end", INK))
        body.append(f'<rect x="{left}" y="{yy}" width="{max(value, 0) * scale:.1f}" '
                    f'height="{row - 8}" fill="{RED if flagged else BLUE}" '
                    f'data-label="{escape(label)}" data-value="{value!r}">'
                    f"<title>{escape(label)}: {fmt(value)}</title></rect>")
        body.append(_text(left + max(value, 0) * scale + 4, yy + 13, fmt(value, digits),
                          "start", INK))
    if reference is not None:
        rx = left + reference * scale
        body.append(f'<line class="reference" x1="{rx:.1f}" x2="{rx:.1f}" y1="4" '
                    f'y2="{height - 4}" stroke="{INK}" stroke-dasharray="3 3" '
                    f'data-value="{reference!r}"/>')
    return _svg(name, width, height, f"{name}: {len(items)} bars", body)


def split_bar(name: str, parts: Sequence[tuple[str, int, str]], *, width: int = 420) -> str:
    """One bar split into shares (label, count, colour), each labelled with its count."""
    total = sum(n for _, n, _ in parts)
    body, x, span = [], 0.0, width - 2
    for i, (label, n, colour) in enumerate(parts):
        w = span * n / total if total else 0.0
        body.append(f'<rect x="{1 + x:.1f}" y="1" width="{w:.1f}" height="26" '
                    f'fill="{colour}" data-label="{escape(label)}" data-value="{n}">'
                    f"<title>{escape(label)}: {n}</title></rect>")
        share = f" {100 * n / total:.0f}%" if total else ""
        anchor, at = (("start", 1 + x) if i == 0 else ("end", 1 + x + w)
                      if i == len(parts) - 1 else ("middle", 1 + x + w / 2))
        body.append(_text(at, 44, f"{label} {n}{share}", anchor, INK))
        x += w
    return _svg(name, width, 52, f"{name}: {total} answers", body)


def gauge(name: str, value: float | None, *, low: float = -100.0, high: float = 100.0,
          width: int = 200) -> str:
    """A half-circle gauge from `low` to `high` with a needle at `value`."""
    cx, cy, r = width / 2, 96, 80

    def at(v: float, radius: float) -> tuple[float, float]:
        angle = math.pi * (1 - (max(low, min(v, high)) - low) / (high - low))
        return cx + radius * math.cos(angle), cy - radius * math.sin(angle)
    body = [f'<path d="M {cx - r} {cy} A {r} {r} 0 0 1 {cx + r} {cy}" fill="none" '
            f'stroke="{GRID}" stroke-width="16"/>']
    if value is not None:
        ex, ey = at(value, r)
        colour = GREEN if value >= 30 else AMBER if value >= 0 else RED
        body.append(f'<path d="M {cx - r} {cy} A {r} {r} 0 0 1 {ex:.1f} {ey:.1f}" fill="none" '
                    f'stroke="{colour}" stroke-width="16"/>')
        nx, ny = at(value, r - 24)
        body.append(f'<line x1="{cx}" y1="{cy}" x2="{nx:.1f}" y2="{ny:.1f}" stroke="{INK}" '
                    f'stroke-width="2" data-value="{value!r}"/>')
    body.append(_text(cx, cy - 20, fmt(value), fill=INK, extra=' font-size="22"'))
    body.append(_text(cx - r, cy + 14, fmt(low, 0)))
    body.append(_text(cx + r, cy + 14, fmt(high, 0)))
    return _svg(name, width, 112, f"{name}: {fmt(value)}", body)


def stacked_columns(name: str, columns: Sequence[str],
                    series: Sequence[tuple[str, str, Sequence[int]]],
                    marked: Sequence[int], *, mark_label: str = "overdue",
                    width: int = 420, height: int = 200) -> str:
    """Columns stacked by series (name, colour, count per column); `marked` counts per
    column (e.g. overdue) are written above each column in red."""
    left, lower, upper = 30, 34, 22
    totals = [sum(s[2][i] for s in series) for i in range(len(columns))]
    top = max(totals + [1])
    slot = (width - left - 8) / max(len(columns), 1)
    unit = (height - upper - lower) / top
    body = [f'<line x1="{left}" x2="{width - 4}" y1="{height - lower}" y2="{height - lower}" '
            f'stroke="{GRID}"/>']
    for i, column in enumerate(columns):
        x, base = left + i * slot + slot * 0.15, height - lower
        for label, colour, counts in series:
            h = counts[i] * unit
            if counts[i]:
                base -= h
                body.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" '
                            f'height="{h:.1f}" fill="{colour}" data-column="{escape(column)}" '
                            f'data-label="{escape(label)}" data-value="{counts[i]}">'
                            f"<title>{escape(column)}, {escape(label)}: {counts[i]}</title></rect>")
        body.append(_text(x + slot * 0.35, height - lower + 14, column))
        body.append(_text(x + slot * 0.35, base - 4, str(totals[i]), fill=INK))
        if marked[i]:
            body.append(_text(x + slot * 0.35, height - 6, f"{marked[i]} {mark_label}",
                              fill=RED, extra=f' data-column="{escape(column)}" '
                                              f'data-marked="{marked[i]}"'))
    return _svg(name, width, height, f"{name}: {sum(totals)} in {len(columns)} columns", body)
