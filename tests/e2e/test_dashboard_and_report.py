"""The dashboard in a real headless Chromium (Debian's, /usr/bin/chromium) and the monthly
report as HTML and PDF, on the demo year: the figures drawn are the query API's, a score
opens its ledger lines and a line its event, the PDF page looks like the report.

The screenshot is saved in the test's folder; with CSM_UPDATE_SCREENSHOTS=1 also as
docs/dashboard.png, the one the README shows.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Page, sync_playwright

from bench.stack import LiveServer, new_database, settings_for
from csm.consumers.composition import start_runtime
from csm.consumers.demo import load_demo
from csm.projections.store import head_position
from tests.csm_process import csm_env, run_csm

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out, and is refused.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
END = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
MONTH = "2026-10"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


@pytest.fixture(scope="module")
def demo(pg_server, tmp_path_factory):
    """The demo year, projected, behind a live API."""
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path_factory.mktemp("demo")))
    load_demo(rt, end=END, seed=3)
    rt.start_projectors()
    server = LiveServer(rt)
    server.database_url = rt.url
    head = head_position(rt.pool)
    with server.client("admin") as c:  # every read model has applied the whole year
        for path in ("/v1/satisfaction", "/v1/complaints/stats", "/v1/departments/scores",
                     "/v1/revisits/stats", "/v1/feedback/stats"):
            statuses = [c.get(path, params={"min_position": head, "wait": 30}).status_code
                        for _ in range(3)]  # 503 while the read model is still behind
            assert 200 in statuses, (path, statuses)
    yield server
    server.stop()
    rt.close()


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def signed_in(browser, server: LiveServer, role: str) -> Page:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{server.url}/dashboard")
    assert page.url.endswith("/dashboard/login")
    page.fill("input[name=key]", f"key-{role}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/dashboard")
    return page


def value(page: Page, selector: str) -> float:
    return float(page.locator(selector).get_attribute("data-value"))


def test_the_charts_show_the_query_api_figures(demo, browser, tmp_path):
    page = signed_in(browser, demo, "manager")
    started = time.perf_counter()
    page.goto(f"{demo.url}/dashboard?period={MONTH}")
    print(f"dashboard of {MONTH} drawn in {1000 * (time.perf_counter() - started):.0f} ms")
    with demo.client("manager") as api:
        trend = {r["period_start"][:7]: r for r in api.get("/v1/satisfaction", params={
            "period": "month", "from": "2025-11-01", "to": "2026-10-31"}).json()["rows"]}
        backlog = api.get("/v1/complaints/backlog", params={"limit": 10000}).json()
        scores = api.get("/v1/departments/scores", params={
            "period": "month", "from": "2026-10-01", "to": "2026-10-31"}).json()["rows"]
    month = trend[MONTH]
    assert page.locator("[data-section=lag]").count() == 0  # every event applied: no warning
    for name in ("csi", "csat", "nps"):
        tile = f"[data-section=satisfaction] [data-figure={name}]"
        assert value(page, tile) == pytest.approx(month[name], abs=1e-9)
        assert page.locator(f"{tile} b").inner_text() == f"{month[name]:.1f}"
    drawn = {c.get_attribute("data-period"): float(c.get_attribute("data-value"))
             for c in page.locator("[data-chart=csi-trend] circle").all()}
    assert drawn == pytest.approx({m: r["csi"] for m, r in trend.items() if r["csi"] is not None})
    assert len(drawn) >= 10  # a year of months with answers
    split = {r.get_attribute("data-label"): int(r.get_attribute("data-value"))
             for r in page.locator("[data-chart=nps-split] rect").all()}
    assert split == {"promoters": month["nps_promoters"], "passives": month["nps_passives"],
                     "detractors": month["nps_detractors"]}
    assert min(split.values()) > 0
    below = {r.get_attribute("data-label") for r in page.locator(
        f"[data-chart=dimensions] rect[fill='#dc2626']").all()}
    assert below == {d for d, m in month["dimensions"].items() if m["mean"] < month["csi"]}
    assert value(page, "[data-figure=backlog-open]") == backlog["summary"]["open"]
    assert value(page, "[data-figure=backlog-overdue]") == backlog["summary"]["overdue"] > 0
    marked = sum(int(t.get_attribute("data-marked"))
                 for t in page.locator("[data-chart=backlog-age] [data-marked]").all())
    assert marked == backlog["summary"]["overdue"]
    cells = page.locator("[data-table=scores] tbody tr").all()
    shown = {r.locator("td").nth(0).inner_text(): int(r.locator("td").nth(1).inner_text())
             for r in cells}
    assert shown == {r["department_id"]: r["points"] for r in scores}
    assert page.locator("[data-table=surveys] tbody tr").count() == 2
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    if os.environ.get("CSM_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(tmp_path / "dashboard.png", README_SHOT)


def test_a_score_opens_its_ledger_and_a_line_its_event(demo, browser):
    page = signed_in(browser, demo, "auditor")
    page.goto(f"{demo.url}/dashboard?period={MONTH}")
    row = page.locator("[data-table=scores] tbody tr").first
    department = row.locator("td").first.inner_text()
    row.locator("td a").click()
    page.wait_for_selector("[data-table=ledger]")
    with demo.client("auditor") as api:
        score = next(r for r in api.get("/v1/departments/scores", params={
            "period": "month", "from": "2026-10-01", "to": "2026-10-31"}).json()["rows"]
            if r["department_id"] == department)
        lines = api.get(f"/v1/departments/{department}/ledger", params={
            "from": "2026-10-01", "to": "2026-10-31", "limit": 100000}).json()["items"]
    assert value(page, "[data-figure=ledger-total]") == score["ledger_points"]
    assert page.locator("[data-table=ledger] tbody tr").count() == len(lines) > 0
    link = page.locator("[data-table=ledger] tbody tr").first.locator("a")
    event_id = link.inner_text()
    assert event_id == lines[0]["event_id"]
    link.click()
    chosen = page.locator("article[data-chosen=true]")
    chosen.wait_for()
    assert chosen.get_attribute("data-event") == event_id
    assert f"position {lines[0]['position']}" in chosen.locator("h3").inner_text()


def test_a_key_of_another_role_is_refused_and_signing_out_forgets_the_key(demo, browser):
    page = browser.new_page()
    page.goto(f"{demo.url}/dashboard/login")
    page.fill("input[name=key]", "key-channel")
    page.click("button[type=submit]")
    assert "may not see the dashboard" in page.locator("[data-message]").inner_text()
    page = signed_in(browser, demo, "admin")
    page.click("text=sign out")
    page.goto(f"{demo.url}/dashboard")
    assert page.url.endswith("/dashboard/login")


def figures_of(document: str) -> dict[str, float]:
    """Every `data-figure` of a page with its exact value."""
    return {m[1]: float(m[2]) for m in re.finditer(
        r'data-figure="([\w-]+)" data-value="([^"]+)"', document)}


def month_answers(api) -> dict:
    within = {"period": "month", "from": "2026-10-01", "to": "2026-10-31"}
    return {
        "satisfaction": api.get("/v1/satisfaction", params=within).json()["rows"][0],
        "complaints": api.get("/v1/complaints/stats", params=within).json()["rows"][0],
        "categories": api.get("/v1/complaints/stats", params={
            **within, "group_by": "category"}).json()["rows"],
        "scores": api.get("/v1/departments/scores", params=within).json()["rows"]}


def test_the_monthly_report_states_the_query_api_figures(demo):
    with demo.client("manager") as api:
        answer = api.get("/v1/reports/monthly", params={"period": MONTH})
        expected = month_answers(api)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    shown, s, c = figures_of(answer.text), expected["satisfaction"], expected["complaints"]
    assert {k: shown[k] for k in ("csi", "csat", "nps")} == pytest.approx(
        {k: s[k] for k in ("csi", "csat", "nps")})
    assert shown["complaints-received"] == c["received"] > 0
    assert shown["complaints-resolved"] == c["resolved"]
    assert shown["escalations"] == c["escalations"]
    assert shown["reopened"] == c["reopened"]
    assert shown["within-sla"] == pytest.approx(100 * c["within_sla_rate"])
    categories = re.findall(r'data-chart="categories".*?</svg>', answer.text, re.S)[0]
    assert [(m[1], int(m[2])) for m in re.finditer(
        r'data-label="([^"]+)" data-value="(\d+)"', categories)] == [
        (r["category"], r["received"]) for r in sorted(
            expected["categories"], key=lambda r: (-r["received"], r["category"]))][:8]
    points = re.findall(r'data-table="points".*?</table>', answer.text, re.S)[0]
    per_department: dict[str, int] = {}
    for dept, points_of_rule in re.findall(r"<tr><td>([^<]+)</td><td>[^<]+</td>"
                                           r"<td class=n>\d+</td><td class=n>(-?\d+)</td>",
                                           points):
        per_department[dept] = per_department.get(dept, 0) + int(points_of_rule)
    assert per_department == {r["department_id"]: r["ledger_points"] for r in expected["scores"]
                              if r["ledger_points"] or r["department_id"] in per_department}


def test_csm_report_prints_a_pdf_that_shows_the_report(demo, tmp_path):
    out = tmp_path / "report.pdf"
    done = run_csm("report", "--period", MONTH, "--format", "pdf", "-o", str(out),
                   env=csm_env(tmp_path, demo.database_url))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "report 2026-10" in done.stderr  # the progress bar
    pdf = pdfium.PdfDocument(out)
    first = pdf[0]
    text = first.get_textpage().get_text_range()
    with demo.client("manager") as api:
        expected = month_answers(api)
    assert f"Monthly report · all departments · {MONTH}" in text
    assert f"{expected['satisfaction']['csi']:.1f}" in pdf_text(pdf)
    image = first.render(scale=1.5).to_pil()
    image.save(tmp_path / "report-page-1.png")
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # charts and text, not a blank page
    assert any(c == (30, 58, 138) for _, c in colours)  # the report's header band


def pdf_text(pdf) -> str:
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
