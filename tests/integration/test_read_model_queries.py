"""The queries over HTTP: read-your-writes, figures, staleness, the BI role."""
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.http_builders import complaint, created, customer, department, survey, uid


def _get(http, role, path, position, **params):
    r = http(role).get(path, params={"min_position": position, **params})
    assert r.status_code == 200, r.text
    assert int(r.headers["X-CSM-Position"]) >= position
    return r.json()


def test_a_query_with_min_position_sees_the_command_just_made(http):
    dep, sid = department(http), survey(http)
    answered = created(http("channel").post(f"/v1/surveys/{sid}/responses", json={
        "department_id": dep, "channel": "web",
        "answers": [{"question_id": "q1", "value": 5}, {"question_id": "q2", "value": 10}]}))
    rows = _get(http, "manager", "/v1/satisfaction", answered["position"],
                group_by="survey", survey_id=sid, period="year")["rows"]
    assert len(rows) == 1
    row = rows[0]
    assert row["responses"] == 1 and row["answers"] == 2
    assert row["csi"] == 100.0 and row["csat"] == 100.0 and row["nps"] == 100.0
    assert row["dimensions"] == {"product_quality": {"mean": 100.0, "n": 1},
                                 "recommendation": {"mean": 100.0, "n": 1}}
    assert row["csi_ci95"] is None


def test_a_stale_read_answers_503_with_retry_after(http):
    r = http("manager").get("/v1/satisfaction", params={"min_position": 10**12, "wait": 0.2})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.headers["content-type"] == "application/problem+json"


def test_the_backlog_lists_open_complaints_oldest_first_with_overdue(http):
    dep = department(http)
    old = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    late = complaint(http, dep, severity="critical", occurred_at=old)
    fresh = complaint(http, dep, severity="low")
    done = complaint(http, dep)
    for step, body in (("acknowledge", {}), ("resolve", {"resolution": "x"}), ("close", {})):
        last = created(http("agent").post(f"/v1/complaints/{done['id']}/{step}", json=body))
    body = _get(http, "agent", "/v1/complaints/backlog", last["position"], department_id=dep)
    assert [i["complaint_id"] for i in body["items"]] == [late["id"], fresh["id"]]
    assert body["summary"]["open"] == 2 and body["summary"]["overdue"] == 1
    assert body["items"][0]["overdue"] is True and body["items"][0]["age_hours"] > 239
    assert body["summary"]["by_severity"] == {"critical": 1, "low": 1}
    only_overdue = _get(http, "manager", "/v1/complaints/backlog", last["position"],
                        department_id=dep, overdue="true")
    assert [i["complaint_id"] for i in only_overdue["items"]] == [late["id"]]


def test_complaint_stats_are_by_cohort_per_department(http):
    dep = department(http)
    day = datetime.now(UTC) - timedelta(days=2)
    a = complaint(http, dep, severity="high", occurred_at=day.isoformat())
    complaint(http, dep, severity="low", occurred_at=day.isoformat())
    agent = http("agent")
    created(agent.post(f"/v1/complaints/{a['id']}/acknowledge",
                       json={"occurred_at": (day + timedelta(hours=2)).isoformat()}))
    created(agent.post(f"/v1/complaints/{a['id']}/escalate", json={"reason": "slow"}))
    last = created(agent.post(f"/v1/complaints/{a['id']}/resolve", json={
        "resolution": "ok", "occurred_at": (day + timedelta(hours=6)).isoformat()}))
    rows = _get(http, "manager", "/v1/complaints/stats", last["position"], group_by="department",
                department_id=dep, period="year")["rows"]
    assert len(rows) == 1
    r = rows[0]
    assert (r["received"], r["resolved"], r["resolution_rate"]) == (2, 1, 0.5)
    assert r["within_sla_rate"] == 1.0 and r["escalations"] == 1 and r["reopened"] == 0
    assert r["mean_hours_to_acknowledge"] == pytest.approx(2.0)
    assert r["mean_hours_to_resolve"] == pytest.approx(6.0)


def test_department_scores_add_ledger_lines_and_the_index_bonus(http):
    dep = department(http, satisfaction_target=70)
    sid = survey(http)
    for _ in range(30):
        last = created(http("channel").post(f"/v1/surveys/{sid}/responses", json={
            "department_id": dep, "channel": "web", "answers": [{"question_id": "q1", "value": 5}]}))
    created(http("channel").post("/v1/feedback", json={
        "channel": "web", "kind": "praise", "department_id": dep}))
    last = complaint(http, dep, severity="critical")
    rows = _get(http, "manager", "/v1/departments/scores", last["position"],
                department_id=dep, period="year")["rows"]
    assert len(rows) == 1
    r = rows[0]
    assert (r["ledger_points"], r["rewards"], r["penalties"]) == (-6, 2, -8)
    assert r["index_bonus"] == 10 and r["points"] == 4
    ledger = _get(http, "auditor", f"/v1/departments/{dep}/ledger", last["position"])["items"]
    assert [(i["rule"], i["points"]) for i in ledger] == [
        ("praise", 2), ("complaint_received_critical", -8)]


def test_feedback_stats_give_the_problem_rate(http):
    dep = department(http)
    for kind in ("praise", "criticism", "complaint", "inquiry"):
        last = created(http("channel").post("/v1/feedback", json={
            "channel": "hotline", "kind": kind, "department_id": dep, "rating": 3}))
    rows = _get(http, "manager", "/v1/feedback/stats", last["position"], department_id=dep,
                group_by="department", period="year")["rows"]
    assert rows[0]["count"] == 4 and rows[0]["problem_rate"] == 0.5


def test_survey_stats_count_invited_responded_and_suppressed(http):
    sid = survey(http)
    a, b = customer(http), customer(http)
    created(http("agent").post(f"/v1/surveys/{sid}/invitations", json={
        "customer_ids": [a, b], "channel": "email"}))
    for who in (a, a, None):
        last = created(http("channel").post(f"/v1/surveys/{sid}/responses", json={
            "customer_id": who, "channel": "web", "answers": [{"question_id": "q1", "value": 4}]}))
    stats = _get(http, "manager", f"/v1/surveys/{sid}/stats", last["position"])
    assert (stats["invited"], stats["responded"], stats["responses"]) == (2, 1, 3)
    assert stats["response_rate"] == 0.5 and stats["suppressed"] == 0


def test_revisit_stats_and_improvement_actions_are_listed(http):
    dep, cus = department(http), customer(http)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    created(http("agent").post("/v1/revisits", json={
        "customer_id": cus, "department_id": dep, "reason": "periodic", "due_at": past}))
    aid = uid("act-")
    last = created(http("manager").post("/v1/improvement-actions", json={
        "action_id": aid, "department_id": dep, "title": "Retrain hotline", "due_at": past}))
    rows = _get(http, "manager", "/v1/revisits/stats", last["position"], department_id=dep,
                period="year")["rows"]
    assert rows[0]["scheduled"] == 1 and rows[0]["overdue"] == 1
    items = _get(http, "manager", "/v1/improvement-actions", last["position"],
                 department_id=dep)["items"]
    assert [(i["action_id"], i["overdue"]) for i in items] == [(aid, True)]


def test_an_unknown_group_by_or_snapshot_is_refused(http):
    assert http("manager").get("/v1/satisfaction", params={"group_by": "colour"}).status_code == 422
    assert http("manager").get("/v1/satisfaction", params={"snapshot": "nope"}).status_code == 404


def test_the_bi_role_reads_read_models_and_nothing_else(runtime, pg_server):
    from csm.infra.bi_role import grant_bi_role
    role = uid("bi_")
    grant_bi_role(runtime.pool, role, "secret-pw")
    with runtime.pool.connection() as conn:
        dbname = conn.info.dbname
    url = pg_server.server.get_uri(database=dbname).replace("postgres:@", f"{role}:secret-pw@")
    with psycopg.connect(url, autocommit=True) as bi:
        assert bi.execute("SELECT count(*) FROM csm_read.complaints").fetchone()[0] >= 0
        assert bi.execute("SELECT count(*) FROM csm_read.satisfaction_monthly").fetchone()[0] >= 0
        for forbidden in ("csm_events", "csm_personal_keys", "csm_idempotency"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(f"SELECT 1 FROM public.{forbidden} LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("CREATE TABLE csm_read.mine (x int)")
