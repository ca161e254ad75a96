"""The HTML around the charts: one page shell with its style inline, tables, figure tiles."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from csm.api.dashboard.charts import fmt

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#f9fafb}
header{background:#1e3a8a;color:#fff;padding:10px 20px;display:flex;gap:20px;
  align-items:center;flex-wrap:wrap}
header a{color:#fff}
header form{display:flex;gap:8px;align-items:center;margin-left:auto}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));
  gap:16px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:12px 16px}
section.wide{grid-column:1/-1}
h1{font-size:18px;margin:0} h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 6px;border-bottom:1px solid #e5e7eb;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:8px}
.tile{border:1px solid #e5e7eb;border-radius:6px;padding:6px 10px;min-width:90px}
.tile b{display:block;font-size:20px}
.tile small,.note{color:#6b7280;font-size:12px}
.bad{color:#dc2626}
@media screen{svg.chart{max-width:100%;height:auto}}
@page{size:A4;margin:12mm}
@media print{header form{display:none} main{display:block;padding:8px 0}
  section{break-inside:avoid;margin-bottom:12px}}
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def page(title: str, header: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body><header>{header}</header><main>{body}</main></body></html>")


def section(title: str, content: str, *, name: str, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f'<section{cls} data-section="{name}"><h2>{esc(title)}</h2>{content}</section>'


def tile(label: str, value: float | None, name: str, note: str = "", digits: int = 1) -> str:
    exact = "" if value is None else f' data-value="{value!r}"'
    small = f"<small>{esc(note)}</small>" if note else ""
    return (f'<div class="tile" data-figure="{name}"{exact}>{esc(label)}'
            f"<b>{fmt(value, digits)}</b>{small}</div>")


def tiles(*items: str) -> str:
    return '<div class="tiles">' + "".join(items) + "</div>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, name: str,
          numeric: set[int] = frozenset()) -> str:
    """A table whose cells are HTML already (escape text with `esc`)."""
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table data-table="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"
