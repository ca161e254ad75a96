"""Business calendars and waits on the customer over HTTP, on real PostgreSQL: due times in
the answers, the complaint's state and the read models; the backlog and the watcher leave a
waiting complaint alone; a rebuild equals the live read models; bad calendars are 422."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from csm.consumers.deadlines import DeadlineWatcher
from bench.stack import LiveServer
from tests.http_builders import created, uid
from tests.integration.test_deadlines_and_followups import caught_up, events_of
from tests.read_model_checks import compare_with_rebuild

WEEK = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
OFFICE = {"time_zone": "Asia/Shanghai", "hours": WEEK,
          "days": {**{f"2026-10-0{n}": [] for n in range(1, 8)},
                   "2026-10-10": [["09:00", "18:00"]]}}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


@pytest.fixture
def system(fresh_runtime):
    fresh_runtime.start_projectors()
    server = LiveServer(fresh_runtime)
    with server.client("admin") as admin:
        sla = admin.get("/v1/policy").json()["rules"]["sla_hours"]
        published = admin.put("/v1/policy", json={
            "sla_hours": {**sla, "low": {"acknowledge": 2, "resolve": 20}},
            "calendars": {"office": OFFICE}, "sla_calendar": "office"})
        assert published.status_code == 201, published.text
        dept = created(admin.post("/v1/departments", json={"name": "Service"}))["id"]
    yield fresh_runtime, server, dept
    server.stop()


def open_low(client, dept: str, at: datetime) -> dict:
    return created(client.post("/v1/complaints", json={
        "channel": "web", "department_id": dept, "severity": "low",
        "description": "late delivery", "occurred_at": at.isoformat()}))


def test_due_times_follow_the_calendar_and_a_reply_moves_the_resolve_due(system):
    rt, server, dept = system
    with server.client("agent") as agent:
        opened = open_low(agent, dept, local("2026-09-29T09:00"))
        cid = opened["id"]
        # 20 open hours: Tue 9 h, Wed 9 h, the holidays, Thu 8 October 2 h → 11:00
        assert datetime.fromisoformat(opened["resolve_due"]) == local("2026-10-08T11:00")
        created(agent.post(f"/v1/complaints/{cid}/acknowledge",
                           json={"occurred_at": local("2026-09-29T09:30").isoformat()}))
        created(agent.post(f"/v1/complaints/{cid}/await-customer", json={
            "reason": "photos of the damage",
            "occurred_at": local("2026-09-30T17:00").isoformat()}))
        waiting = agent.get(f"/v1/complaints/{cid}").json()
    with server.client("channel") as channel:
        replied = created(channel.post(f"/v1/complaints/{cid}/customer-replied", json={
            "occurred_at": local("2026-10-08T10:00").isoformat()}))
    with server.client("agent") as agent:
        after = agent.get(f"/v1/complaints/{cid}").json()

    assert waiting["status"] == "awaiting_customer"
    # waited 2 open hours (Wed 17–18, Thu 09–10): 11:00 → 13:00
    assert datetime.fromisoformat(replied["resolve_due"]) == local("2026-10-08T13:00")
    assert (after["status"], datetime.fromisoformat(after["resolve_due"])) == (
        "acknowledged", local("2026-10-08T13:00"))
    assert [e["type"] for e in after["timeline"]][-2:] == [
        "complaint.awaiting_customer", "complaint.customer_replied"]
    caught_up(rt)
    with rt.pool.connection() as conn:
        row = conn.execute("SELECT status, resolve_due, awaiting_since, waits, waited_hours "
                           "FROM csm_read.complaints WHERE complaint_id = %s", (cid,)).fetchone()
    assert (row["status"], row["resolve_due"], row["awaiting_since"], row["waits"]) == (
        "acknowledged", local("2026-10-08T13:00"), None, 1)
    assert row["waited_hours"] == pytest.approx(7 * 24 + 17)  # Sep 30 17:00 → Oct 8 10:00


def test_a_waiting_complaint_is_never_overdue_on_its_resolve_and_the_watcher_leaves_it(system):
    rt, server, dept = system
    start = datetime.now().astimezone() - timedelta(days=60)
    with server.client("agent") as agent:
        cid = open_low(agent, dept, start)["id"]
        created(agent.post(f"/v1/complaints/{cid}/acknowledge",
                           json={"occurred_at": (start + timedelta(minutes=5)).isoformat()}))
        created(agent.post(f"/v1/complaints/{cid}/await-customer", json={
            "reason": "photos", "occurred_at": (start + timedelta(minutes=10)).isoformat()}))
        position = caught_up(rt)
        backlog = agent.get("/v1/complaints/backlog",
                            params={"min_position": position}).json()
    watcher = DeadlineWatcher(rt.pool, rt.app, grace_seconds=0, scan_seconds=1)

    [item] = [i for i in backlog["items"] if i["complaint_id"] == cid]
    assert (item["status"], item["overdue"]) == ("awaiting_customer", False)
    assert datetime.fromisoformat(item["resolve_due"]) < datetime.now().astimezone()
    assert backlog["summary"]["by_status"] == {"awaiting_customer": 1}
    assert watcher.scan() == 0
    assert events_of(rt, {"complaint.sla_breached"}) == []

    with server.client("channel") as channel:  # a reply 10 minutes into the wait
        created(channel.post(f"/v1/complaints/{cid}/customer-replied", json={
            "occurred_at": (start + timedelta(minutes=20)).isoformat()}))
    caught_up(rt)
    assert watcher.scan() == 1  # the clock runs again, and the due (moved ≤ 10 min) passed
    assert events_of(rt, {"complaint.sla_breached"}) == [(cid, "complaint.sla_breached")]


def test_a_rebuild_equals_the_live_read_models_with_waits_and_calendars(system):
    rt, server, dept = system
    with server.client("agent") as agent:
        for i in range(6):
            at = local("2026-09-28T09:00") + timedelta(hours=5 * i)
            cid = open_low(agent, dept, at)["id"]
            created(agent.post(f"/v1/complaints/{cid}/acknowledge",
                               json={"occurred_at": (at + timedelta(hours=1)).isoformat()}))
            created(agent.post(f"/v1/complaints/{cid}/await-customer", json={
                "reason": "photos", "occurred_at": (at + timedelta(hours=2)).isoformat()}))
            if i % 3 == 0:
                created(agent.post(f"/v1/complaints/{cid}/resolve", json={
                    "resolution": "fixed", "occurred_at": (at + timedelta(days=3)).isoformat()}))
            elif i % 3 == 1:
                created(agent.post(f"/v1/complaints/{cid}/customer-replied", json={
                    "occurred_at": (at + timedelta(days=2)).isoformat()}))
    caught_up(rt)
    problems, counts, _ = compare_with_rebuild(rt)
    assert problems == [] and counts["complaints"] == 6


def calendar_policy(**change) -> dict:
    return {"calendars": {"office": OFFICE}, "sla_calendar": "office", **change}


@pytest.mark.parametrize(("policy", "says"), [
    (calendar_policy(calendars={"office": {**OFFICE, "time_zone": "Asia/Atlantis"}}),
     "unknown time zone 'Asia/Atlantis'"),
    (calendar_policy(calendars={"office": {**OFFICE, "hours": {
        "mon": [["09:00", "12:00"], ["11:30", "18:00"]]}}}),
     "mon: the intervals 09:00–12:00 and 11:30–18:00 overlap"),
    (calendar_policy(calendars={"office": {**OFFICE, "hours": {"mon": []}}}),
     "no open time in its week"),
    (calendar_policy(sla_calendar="night-shift"),
     "sla_calendar names the calendar 'night-shift', which calendars does not define"),
    (calendar_policy(department_calendars={"dept-9": "weekend"}),
     "department_calendars.dept-9 names the calendar 'weekend'"),
    (calendar_policy(around_the_clock=["critical", "critical"]),
     "around_the_clock names a severity twice"),
], ids=["unknown zone", "overlapping intervals", "no open time", "unknown sla_calendar",
        "unknown department calendar", "severity twice"])
def test_a_policy_with_a_calendar_that_cannot_work_is_422_saying_why(live, policy, says):
    with live.client("admin") as admin:
        answer = admin.put("/v1/policy", json=policy,
                           headers={"Idempotency-Key": uid("policy-")})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.text


def test_a_backfilled_history_with_calendars_and_waits_breaches_only_where_it_was_late(
        system):
    """Four complaints (low: 2 h to acknowledge, 20 to resolve, on the office calendar):

    A  opened Wed 30 Sep 17:00 → acknowledge due Thu 8 Oct 10:00 (1 h + 1 h across the
       holidays), acknowledged 8 Oct 09:30; resolve due Sat 10 Oct 10:00 (the make-up day);
       waits 8 Oct 10:00 → 9 Oct 10:00 (9 open hours) → due Mon 12 Oct 10:00; resolved
       12 Oct 09:30, on time. Points −1 + 1. Around the clock it would be 8 days late.
    B  opened Fri 9 Oct 17:55 → acknowledge due Sat 10 Oct 10:55 (make-up day), acknowledged
       Mon 12 Oct 09:00: late, breach by the command; resolve due Tue 13 Oct 10:55, resolved
       13 Oct 10:00, on time. Points −1 − 2 + 1.
    C  opened Mon 12 Oct 09:00, acknowledged 09:30, waiting since 10:00: no breach ever.
       Points −1.
    D  opened Mon 12 Oct 09:00, acknowledged 09:10, never resolved: resolve due Wed 14 Oct
       11:00; the watcher records the breach and escalates. Points −1 − 2 − 3.
    """
    rt, server, dept = system
    steps = {
        "A": [("acknowledge", "2026-10-08T09:30", {}),
              ("await-customer", "2026-10-08T10:00", {"reason": "photos"}),
              ("customer-replied", "2026-10-09T10:00", {}),
              ("resolve", "2026-10-12T09:30", {"resolution": "replaced"})],
        "B": [("acknowledge", "2026-10-12T09:00", {}),
              ("resolve", "2026-10-13T10:00", {"resolution": "refunded"})],
        "C": [("acknowledge", "2026-10-12T09:30", {}),
              ("await-customer", "2026-10-12T10:00", {"reason": "serial number"})],
        "D": [("acknowledge", "2026-10-12T09:10", {})],
    }
    opened_at = {"A": "2026-09-30T17:00", "B": "2026-10-09T17:55", "C": "2026-10-12T09:00",
                 "D": "2026-10-12T09:00"}
    ids = {}
    with server.client("agent") as agent:
        for name, at in opened_at.items():
            ids[name] = open_low(agent, dept, local(at))["id"]
            for step, when, body in steps[name]:
                created(agent.post(f"/v1/complaints/{ids[name]}/{step}",
                                   json={**body, "occurred_at": local(when).isoformat()}))
    caught_up(rt)
    later = datetime.now().astimezone() + timedelta(seconds=301)  # past the grace
    watcher = DeadlineWatcher(rt.pool, rt.app, grace_seconds=300, scan_seconds=1,
                              clock=lambda: later)
    assert watcher.scan() == 1
    position = caught_up(rt)

    breaches = sorted(events_of(rt, {"complaint.sla_breached"}))
    assert breaches == sorted([(ids["B"], "complaint.sla_breached"),
                               (ids["D"], "complaint.sla_breached")])
    with server.client("manager") as manager:
        query = {"period": "year", "min_position": position}
        [stats] = manager.get("/v1/complaints/stats", params=query).json()["rows"]
        [scores] = manager.get("/v1/departments/scores",
                               params={**query, "department_id": dept}).json()["rows"]
    assert (stats["received"], stats["resolved"], stats["within_sla_rate"],
            stats["escalations"]) == (4, 2, 1.0, 1)
    assert (scores["ledger_points"], scores["rewards"], scores["penalties"]) == (-9, 2, -11)
    problems, _, _ = compare_with_rebuild(rt)
    assert problems == []
