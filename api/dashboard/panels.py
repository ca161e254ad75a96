"""The panels the dashboard and the report share, each drawn from the gathered figures."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csm.api.dashboard import charts
from csm.api.dashboard.charts import GREEN, GRID, RED, SEVERITY_COLOURS, Point, fmt
from csm.api.dashboard.figures import SEVERITIES
from csm.api.dashboard.html import esc, percent, section, table, tile, tiles

Link = Callable[[str], str] | None  # department id → the href of its ledger, if any


def satisfaction(f: dict[str, Any]) -> str:
    points = [Point(m, r["csi"], *(r["csi_ci95"] or (None, None)), n=r["responses"])
              if (r := f["trend"].get(m)) else Point(m, None) for m in f["months"]]
    now = f["current"] or {}
    ci = now.get("csi_ci95")
    return section("Satisfaction index, last 12 months (95% band)", tiles(
        tile("CSI", now.get("csi"), "csi", f"95%: {fmt(ci[0])}–{fmt(ci[1])}" if ci else ""),
        tile("CSAT %", now.get("csat"), "csat"),
        tile("NPS", now.get("nps"), "nps"),
        tile("Responses", now.get("responses"), "responses", digits=0),
    ) + charts.band_line("csi-trend", points), name="satisfaction", wide=True)


def nps(f: dict[str, Any]) -> str:
    now = f["current"] or {}
    parts = [("promoters", now.get("nps_promoters", 0), GREEN),
             ("passives", now.get("nps_passives", 0), "#d1d5db"),
             ("detractors", now.get("nps_detractors", 0), RED)]
    return section(f"NPS in {f['scope'].label}: promoters, passives, detractors",
                   charts.gauge("nps-gauge", now.get("nps"))
                   + charts.split_bar("nps-split", parts), name="nps")


def dimensions(f: dict[str, Any]) -> str:
    now = f["current"] or {}
    csi = now.get("csi")
    dims = sorted(now.get("dimensions", {}).items(), key=lambda kv: kv[1]["mean"])
    if not dims:
        return section("Dimensions", '<p class="note">No survey answers this month.</p>',
                       name="dimensions")
    items = [(name, d["mean"], csi is not None and d["mean"] < csi) for name, d in dims]
    return section("Dimensions pulling the index down (red: below the CSI)",
                   charts.hbars("dimensions", items, reference=csi), name="dimensions")


def backlog(f: dict[str, Any]) -> str:
    ages, summary = f["ages"], f["backlog"]["summary"]
    series = [(s, SEVERITY_COLOURS.get(s, GRID), ages["counts"][s]) for s in SEVERITIES]
    series += [(s, GRID, c) for s, c in ages["counts"].items() if s not in SEVERITIES]
    overdue = [i for i in f["backlog"]["items"] if i["overdue"]][:10]
    rows = [[esc(i["complaint_id"]), esc(i["department_id"]), esc(i["severity"]),
             esc(i["status"]), fmt(i["age_hours"] / 24)] for i in overdue]
    return section("Complaint backlog by age and severity", tiles(
        tile("Open", summary["open"], "backlog-open", digits=0),
        tile("Overdue", summary["overdue"], "backlog-overdue", digits=0),
    ) + charts.stacked_columns("backlog-age", ages["columns"], series, ages["overdue"])
        + (table(["oldest overdue", "department", "severity", "status", "age (days)"], rows,
                 name="overdue", numeric={4}) if rows else ""),
        name="backlog")


def scoreboard(f: dict[str, Any], link: Link) -> str:
    def points(r: dict[str, Any]) -> str:
        text = esc(r["points"])
        return f'<a href="{esc(link(r["department_id"]))}">{text}</a>' if link else text
    rows = [[esc(r["department_id"]), points(r), esc(r["ledger_points"]), esc(r["rewards"]),
             esc(r["penalties"]), fmt(r["csi"]), esc(r["responses"]), esc(r["index_bonus"])]
            for r in sorted(f["scores"], key=lambda r: -r["points"])]
    return section(f"Department scoreboard, {f['scope'].label}", table(
        ["department", "points", "ledger", "rewards", "penalties", "CSI", "responses",
         "index bonus"], rows, name="scores", numeric={1, 2, 3, 4, 5, 6, 7}),
        name="scores", wide=True)


def surveys(f: dict[str, Any]) -> str:
    if not f["surveys"]:
        return section("Survey response rates", '<p class="note">No survey answered.</p>',
                       name="surveys")
    items = [(s["survey_id"], 100 * (s["response_rate"] or 0.0), False) for s in f["surveys"]]
    rows = [[esc(s["survey_id"]), esc(s["name"]), esc(s["invited"]), esc(s["responded"]),
             percent(s["response_rate"])] for s in f["surveys"]]
    return section("Survey response rates (%)", charts.hbars("survey-rates", items)
                   + table(["survey", "name", "invited", "responded", "rate"], rows,
                           name="surveys", numeric={2, 3, 4}), name="surveys")


def catching_up(f: dict[str, Any]) -> str:
    """A warning while the read models have not yet applied every stored event."""
    if not f["lag"]:
        return ""
    return section("Still coming in", f'<p class="bad" data-message data-lag="{f["lag"]}">'
                   f'The read models are {f["lag"]:,} events behind the store: these figures '
                   "are not complete yet. Reload in a moment.</p>", name="lag", wide=True)


def overview(f: dict[str, Any], link: Link) -> str:
    return (catching_up(f) + satisfaction(f) + nps(f) + dimensions(f) + backlog(f) + surveys(f)
            + scoreboard(f, link))
