"""SLA deadlines, policy versions and the closed loop, against real PostgreSQL."""
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from csm.consumers.deadlines import DeadlineWatcher
from csm.projections.store import head_position
from bench.stack import LiveServer
from tests.read_model_checks import compare_with_rebuild
from tests.http_builders import created, uid


@pytest.fixture
def system(fresh_runtime):
    fresh_runtime.start_projectors()
    server = LiveServer(fresh_runtime)
    yield fresh_runtime, server
    server.stop()


def caught_up(rt, timeout=30):
    head = head_position(rt.pool)
    deadline = time.time() + timeout
    while time.time() < deadline:
        with rt.pool.connection() as conn:
            low = conn.execute("SELECT min(position) AS p FROM csm_read.projection_status"
                               ).fetchone()["p"]
        if low >= head:
            return head
        time.sleep(0.05)
    raise AssertionError("projections did not catch up")


def events_of(rt, types):
    with rt.pool.connection() as conn:
        rows = conn.execute("SELECT originator_id, topic FROM csm_events").fetchall()
    from csm.projections.events import type_of_topic
    return [(r["originator_id"], type_of_topic(r["topic"])) for r in rows
            if type_of_topic(r["topic"]) in types]


def test_a_backfilled_history_records_no_false_breach_and_open_ones_breach_once(system):
    rt, server = system
    long_ago = datetime.now(UTC) - timedelta(days=90)
    watcher = DeadlineWatcher(rt.pool, rt.app, grace_seconds=300, scan_seconds=0.05)
    stop = threading.Event()
    scanning = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    scanning.start()  # scanning all the time while the history arrives
    handled, left_open = [], []
    with server.client("agent") as c:
        dep = created(c.post("/v1/departments", json={"name": "Service"},
                             headers={"Authorization": "Bearer key-admin"}))["id"]
        for i in range(200):
            opened_at = long_ago + timedelta(minutes=i)
            cid = created(c.post("/v1/complaints", json={
                "channel": "hotline", "department_id": dep, "severity": "high",
                "description": "x", "occurred_at": opened_at.isoformat()}))["id"]
            if i % 2:
                left_open.append(cid)
                continue
            handled.append(cid)
            for step, hours in (("acknowledge", 1), ("resolve", 5), ("close", 6)):
                body = {"occurred_at": (opened_at + timedelta(hours=hours)).isoformat()}
                if step == "resolve":
                    body["resolution"] = "fixed"
                created(c.post(f"/v1/complaints/{cid}/{step}", json=body))
    caught_up(rt)
    time.sleep(0.3)
    stop.set()
    scanning.join()
    assert events_of(rt, {"complaint.sla_breached"}) == [], "no breach inside the grace"

    later = datetime.now(UTC) + timedelta(seconds=301)
    watchers = [DeadlineWatcher(rt.pool, rt.app, 300, 1, clock=lambda: later) for _ in range(2)]
    threads = [threading.Thread(target=w.scan) for w in watchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    caught_up(rt)
    assert watchers[0].scan() + watchers[1].scan() == 0
    breaches = events_of(rt, {"complaint.sla_breached"})
    escalations = events_of(rt, {"complaint.escalated"})
    print(f"breaches={len(breaches)} escalations={len(escalations)} "
          f"by_watchers={[w.recorded for w in watchers]}")
    assert sorted(cid for cid, _ in breaches) == sorted(left_open * 2)  # acknowledge + resolve
    assert sorted(cid for cid, _ in escalations) == sorted(left_open)
    assert not set(handled) & {cid for cid, _ in breaches}


def test_a_policy_change_applies_only_to_later_events_live_and_in_a_rebuild(system):
    rt, server = system
    with server.client("admin") as c:
        dep = created(c.post("/v1/departments", json={"name": "Production"}))["id"]
        a = created(c.post("/v1/complaints", json={
            "channel": "web", "department_id": dep, "severity": "critical", "description": "x"}))
        points = {"complaint_received": {"low": -1, "medium": -2, "high": -4, "critical": -20},
                  "escalation": -5}
        created(c.put("/v1/policy", json={"points": points}))
        created(c.post("/v1/complaints", json={
            "channel": "web", "department_id": dep, "severity": "critical", "description": "x"}))
        created(c.post(f"/v1/complaints/{a['id']}/escalate", json={"reason": "slow"}))
        created(c.put("/v1/policy", json={}))
        last = created(c.post(f"/v1/complaints/{a['id']}/escalate", json={"reason": "slower"}))
        ledger = c.get(f"/v1/departments/{dep}/ledger",
                       params={"min_position": last["position"]}).json()["items"]
    assert [(i["rule"], i["points"], i["policy_version"]) for i in ledger] == [
        ("complaint_received_critical", -8, 0), ("complaint_received_critical", -20, 1),
        ("escalation", -5, 1), ("escalation", -3, 2)]
    caught_up(rt)
    problems, _, _ = compare_with_rebuild(rt)
    assert problems == []


def test_a_resolution_schedules_one_revisit_with_its_cause(system):
    rt, server = system
    with server.client("admin") as c:
        dep = created(c.post("/v1/departments", json={"name": "After-sales"}))["id"]
        cus = created(c.post("/v1/customers", json={"name": "Li Lei"}))["id"]
        cid = created(c.post("/v1/complaints", json={
            "customer_id": cus, "channel": "web", "department_id": dep, "severity": "low",
            "description": "x"}))["id"]
        created(c.post(f"/v1/complaints/{cid}/acknowledge", json={}))
        key = {"Idempotency-Key": uid("k-")}
        first = created(c.post(f"/v1/complaints/{cid}/resolve", json={"resolution": "ok"},
                               headers=key))
        again = created(c.post(f"/v1/complaints/{cid}/resolve", json={"resolution": "ok"},
                               headers=key))
        assert first == again
        events = c.get(f"/v1/audit/streams/{cid}/events").json()["items"]
        resolved = [e for e in events if e["type"] == "complaint.resolved"][0]
        revisit = c.get(f"/v1/audit/streams/revisit:{cid}:{resolved['version']}/events").json()
    [scheduled] = revisit["items"]
    assert scheduled["type"] == "revisit.scheduled"
    assert scheduled["data"]["cause_event_id"] == resolved["event_id"]
    assert scheduled["data"]["reason"] == "complaint_followup"
    due = datetime.fromisoformat(scheduled["data"]["due_at"])
    assert due - datetime.fromisoformat(resolved["occurred_at"]) == timedelta(days=3)
    assert len(events_of(rt, {"revisit.scheduled"})) == 1


def test_a_low_score_schedules_a_revisit_and_a_closed_complaint_invites_to_the_survey(system):
    rt, server = system
    with server.client("admin") as c:
        dep = created(c.post("/v1/departments", json={"name": "Sales"}))["id"]
        cus = created(c.post("/v1/customers", json={"name": "Han Mei"}))["id"]
        sid = created(c.post("/v1/surveys", json={"name": "After closure", "questions": [
            {"question_id": "q", "dimension": "problem_resolution", "scale": "likert5"}]}))["id"]
        created(c.put("/v1/policy", json={"followups": {
            "closure_survey_id": sid, "invitation_limit": 1, "invitation_limit_days": 30,
            "revisit_after_resolution": False}}))
        low = created(c.post(f"/v1/surveys/{sid}/responses", json={
            "customer_id": cus, "department_id": dep, "channel": "web",
            "answers": [{"question_id": "q", "value": 2}]}))
        revisits = c.get(f"/v1/audit/streams/revisit:{low['id']}:1/events").json()["items"]
        assert revisits[0]["data"]["cause_event_id"] == f"{low['id']}@1"
        for _ in range(2):
            cid = created(c.post("/v1/complaints", json={
                "customer_id": cus, "channel": "web", "department_id": dep, "severity": "low",
                "description": "x"}))["id"]
            for step in ("acknowledge", "resolve", "close"):
                last = created(c.post(f"/v1/complaints/{cid}/{step}",
                                      json={"resolution": "ok"} if step == "resolve" else {}))
        stats = c.get(f"/v1/surveys/{sid}/stats", params={"min_position": last["position"]}).json()
        created(c.put("/v1/policy", json={}))
    assert (stats["invited"], stats["suppressed"]) == (1, 1)
    sent = [e for e in c_events(rt, sid) if e == "survey.invitations_sent"]
    assert len(sent) == 2


def c_events(rt, stream_id):
    from csm.projections.events import type_of_topic
    with rt.pool.connection() as conn:
        rows = conn.execute("SELECT topic FROM csm_events WHERE originator_id = %s "
                            "ORDER BY originator_version", (stream_id,)).fetchall()
    return [type_of_topic(r["topic"]) for r in rows]
