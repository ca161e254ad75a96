"""The monthly report: the dashboard's panels for one month, with the month's complaints by
category, the overdue ones, improvement actions and each department's points by rule —
as HTML, or as PDF through WeasyPrint."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from csm.api.dashboard import charts, panels
from csm.api.dashboard.figures import Scope, monthly
from csm.api.dashboard.html import esc, page, percent, section, table, tile, tiles
from csm.api.dashboard.source import QuerySource


def html(figures: dict[str, Any], generated_at: datetime) -> str:
    scope: Scope = figures["scope"]
    who = scope.department_id or "all departments"
    header = (f"<h1>Monthly report · {esc(who)} · {scope.label}</h1>"
              f'<span class="note" style="color:#fff">generated {generated_at:%Y-%m-%d %H:%M %Z}'
              f", backlog as of {esc(figures['backlog']['as_of'][:16].replace('T', ' '))}"
              " UTC</span>")
    body = (complaints(figures) + categories(figures) + panels.overview(figures, None)
            + actions(figures) + points(figures))
    return page(f"csm monthly report {who} {scope.label}", header, body)


def pdf(document: str) -> bytes:
    """The report printed by WeasyPrint (it needs Pango, a system library)."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # the Python package is there, its system libraries are not
        raise RuntimeError(f"PDF needs WeasyPrint's system libraries (Pango): {exc}") from None
    return HTML(string=document).write_pdf()


def complaints(f: dict[str, Any]) -> str:
    c = f["complaints"] or {}
    return section(f"Complaints received in {f['scope'].label}", tiles(
        tile("Received", c.get("received"), "complaints-received", digits=0),
        tile("Resolved", c.get("resolved"), "complaints-resolved", digits=0),
        tile("Within SLA %", _pct(c.get("within_sla_rate")), "within-sla"),
        tile("Hours to resolve", c.get("mean_hours_to_resolve"), "hours-to-resolve"),
        tile("Escalations", c.get("escalations"), "escalations", digits=0),
        tile("Reopened", c.get("reopened"), "reopened", digits=0)),
        name="complaints", wide=True)


def categories(f: dict[str, Any]) -> str:
    top = f["categories"][:8]
    if not top:
        return section("Top complaint categories", '<p class="note">No complaint.</p>',
                       name="categories")
    most = max(r["received"] for r in top)
    bars = charts.hbars("categories", [(r["category"] or "(none)", r["received"], False)
                                       for r in top], top=float(most), digits=0)
    rows = [[esc(r["category"] or "(none)"), esc(r["received"]), percent(r["resolution_rate"]),
             percent(r["within_sla_rate"])] for r in top]
    return section("Top complaint categories", bars + table(
        ["category", "received", "resolved", "within SLA"], rows, name="categories",
        numeric={1, 2, 3}), name="categories")


def actions(f: dict[str, Any]) -> str:
    rows = [[esc(a["action_id"]), esc(a["department_id"]), esc(a["title"]),
             esc(a["status"]) + (' <b class="bad">overdue</b>' if a["overdue"] else ""),
             esc(a["due_at"][:10]), esc((a["verified_at"] or "")[:10]),
             {True: "effective", False: "not effective"}.get(a["effective"], "–")]
            for a in f["actions"]]
    return section("Improvement actions and their verification", table(
        ["action", "department", "title", "status", "due", "verified", "verdict"], rows,
        name="actions") if rows else '<p class="note">None in play.</p>',
        name="actions", wide=True)


def points(f: dict[str, Any]) -> str:
    rows = [[esc(dept), esc(r["rule"]), esc(r["lines"]), esc(r["points"])]
            for dept, rules in f["points"].items() for r in rules]
    return section("Points and why: ledger lines by rule", table(
        ["department", "rule", "lines", "points"], rows, name="points", numeric={2, 3})
        if rows else '<p class="note">No ledger line this month.</p>', name="points",
        wide=True)


def _pct(rate: float | None) -> float | None:
    return None if rate is None else 100 * rate



async def render(app: Any, key: str, scope: Scope, now: datetime) -> str:
    """The report's HTML, its figures read from the query API of `app` with `key`."""
    async with QuerySource(app, key) as src:
        return html(await monthly(src, scope), now)
