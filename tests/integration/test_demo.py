"""The demo year, loaded once through the real application: every kind of record is in the
read models, a second load changes nothing, and the same seed and end give the same year."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import time

import pytest

from bench.stack import new_database, settings_for
from csm.consumers.composition import start_runtime
from csm.consumers.demo import DemoRefused, load_demo
from csm.domain import commands as c
from csm.domain.demo_year import demo_start, demo_year
from csm.domain.policy import PolicyRules
from csm.projections.complaints.queries import backlog
from csm.projections.followups.queries import improvement_actions, revisit_stats, survey_stats
from csm.projections.query import Slice
from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL
from csm.projections.satisfaction.queries import satisfaction
from csm.projections.store import head_position

SEED, END = 7, datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
READ = "csm_read"


@pytest.fixture(scope="module")
def demo(pg_server, tmp_path_factory):
    """One store holding the demo, its read models built: (runtime, summary)."""
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path_factory.mktemp("demo")))
    summary = load_demo(rt, seed=SEED, end=END)
    rebuild(rt.pool, list(ALL.values()), rt.settings.zone)
    yield rt, summary
    rt.close()


def _rows(rt, sql: str) -> list[dict]:
    with rt.pool.connection() as conn:
        return conn.execute(sql).fetchall()


def test_the_demo_loads_a_year_of_events_with_both_policy_versions(demo):
    rt, summary = demo
    assert summary["loaded"] is True, summary
    assert 15_000 <= summary["events"] <= 30_000
    assert summary["policy"] == "published versions 1 and 2"
    versions = {r["policy_version"] for r in _rows(
        rt, f"SELECT DISTINCT policy_version FROM {READ}.department_score_ledger")}
    assert versions == {1, 2}


def test_departments_have_satisfaction_in_most_months_and_nps_has_both_ends(demo):
    rt, _ = demo
    rows = satisfaction(rt.pool, Slice(group_by=["department_id"]), {})
    months = Counter(r["department_id"] for r in rows if r["department_id"])
    assert len(months) == 6 and all(n >= 10 for n in months.values()), months
    assert sum(r["csi_ci95"] is not None for r in rows) >= 0.9 * len(rows)
    csi = sorted(r["csi"] for r in rows)
    assert csi[-1] - csi[0] > 15  # departments and months differ
    overall = satisfaction(rt.pool, Slice(period="year"), {})
    assert sum(r["nps_promoters"] for r in overall) > 0
    assert sum(r["nps_detractors"] for r in overall) > 0
    assert sum(r["nps_passives"] for r in overall) > 0


def test_complaints_take_every_path_and_some_are_still_open(demo):
    rt, _ = demo
    [n] = _rows(rt, f"""SELECT count(*) FILTER (WHERE escalations > 0) AS escalated,
        count(*) FILTER (WHERE department_id <> opened_department_id) AS reassigned,
        count(*) FILTER (WHERE reopened > 0) AS reopened,
        count(*) FILTER (WHERE breaches > 0) AS late, count(*) FILTER (WHERE waits > 0) AS waited,
        count(*) FILTER (WHERE customer_satisfied) AS satisfied,
        count(*) FILTER (WHERE NOT customer_satisfied) AS unsatisfied
        FROM {READ}.complaints""")
    assert all(v > 0 for v in n.values()), n
    summary = backlog(rt.pool, READ, END, None, None, None, 1000)["summary"]
    assert summary["open"] > 0 and summary["overdue"] > 0
    assert {"open", "acknowledged", "awaiting_customer"} <= set(summary["by_status"])


def test_both_surveys_invited_many_and_a_share_answered(demo):
    rt, _ = demo
    for survey_id in ("demo-relationship", "demo-after-service"):
        stats = survey_stats(rt.pool, READ, survey_id)
        assert stats["invited"] > 100, stats
        assert 0 < stats["response_rate"] < 1, stats


def test_revisits_of_every_reason_are_completed_and_actions_verified(demo):
    rt, _ = demo
    completed = Counter()
    for r in revisit_stats(rt.pool, Slice(period="year", group_by=["reason"]), END):
        completed[r["reason"]] += r["completed"]
    assert set(completed) == {"complaint_followup", "after_service", "periodic"}
    assert all(n > 0 for n in completed.values()), completed
    actions = improvement_actions(rt.pool, READ, END, None, None, 1000)
    verified = {a["effective"] for a in actions if a["status"] == "verified"}
    assert verified == {True, False}
    assert any(a["overdue"] for a in actions)


def test_a_second_load_changes_nothing(demo):
    rt, _ = demo
    head = head_position(rt.pool)
    again = load_demo(rt, seed=SEED, end=END)
    assert again["loaded"] is False and "already in the store" in again["reason"]
    assert head_position(rt.pool) == head


def test_the_same_seed_and_end_give_the_same_commands():
    first = list(demo_year(SEED, END))
    assert first == list(demo_year(SEED, END))
    assert first != list(demo_year(SEED + 1, END))
    times = [x.now for x in first]
    assert times == sorted(times)
    assert demo_start(END) <= times[0] and times[-1] < END


def test_a_store_whose_policy_is_newer_keeps_it_and_takes_the_demo(fresh_runtime):
    """The demo then publishes no policy and plans by the store's rules (others than its
    own: no follow-up revisit after a resolution, longer SLAs, no contact limit)."""
    rules = PolicyRules.model_validate({
        "high_value_factor": 0.8, "followups": {"revisit_after_resolution": False},
        "sla_hours": {s: {"acknowledge": 12, "resolve": 100}
                      for s in ("low", "medium", "high", "critical")}})
    fresh_runtime.app.handle(c.PublishPolicy(rules=rules, by="admin",
                                             now=demo_start(END) + timedelta(days=30)))
    summary = load_demo(fresh_runtime, seed=SEED, end=END)
    assert summary["loaded"] is True
    assert summary["policy"].startswith("not published: the store's policy version 1")
    policy = fresh_runtime.app.repository.get("$policy")
    assert (policy.version, policy.rules) == (1, rules)


def test_a_running_deadline_watcher_stops_the_load_before_anything_is_recorded(fresh_runtime):
    fresh_runtime.part("deadlines")  # as a watcher does: its heartbeat row
    deadline = time.monotonic() + 10
    while not _rows(fresh_runtime, "SELECT 1 FROM csm_part_status WHERE part = 'deadlines'"):
        assert time.monotonic() < deadline, "no heartbeat row"
        time.sleep(0.05)
    with pytest.raises(DemoRefused, match="a deadline watcher runs on this store"):
        load_demo(fresh_runtime, seed=SEED, end=END)
    assert head_position(fresh_runtime.pool) == 0


def test_an_id_of_the_demo_taken_already_stops_the_load_naming_why(fresh_runtime):
    fresh_runtime.app.handle(c.RegisterCustomer(
        customer_id="demo-c-00001", name="Someone Else", email=None, phone=None,
        tier="standard", segment=None, now=datetime.now(UTC)))
    with pytest.raises(DemoRefused, match="already taken"):
        load_demo(fresh_runtime, seed=SEED, end=END)
