"""Every command, end to end through HTTP on real PostgreSQL."""
from datetime import UTC, datetime, timedelta

from tests.http_builders import complaint, created, customer, department, survey, uid

PROBLEM = "application/problem+json"


def test_a_department_is_registered_with_its_target(http):
    answer = created(http("admin").post("/v1/departments", json={
        "department_id": uid("d-"), "name": "Quality management", "satisfaction_target": 85}))
    assert answer["position"] > 0


def test_a_customer_is_shown_in_full_to_agents_and_masked_to_managers(http):
    cid = customer(http, tier="high_value", segment="vip")
    full = http("agent").get(f"/v1/customers/{cid}").json()
    assert full["name"] == "Wang Fang" and full["email"] == "wang@example.com"
    masked = http("manager").get(f"/v1/customers/{cid}").json()
    assert masked["name"] == "***" and masked["email"] == "***" and masked["tier"] == "high_value"


def test_an_erased_customer_has_no_readable_personal_data(http):
    cid = customer(http)
    created(http("admin").post(f"/v1/customers/{cid}/erase", json={"reason": "GDPR request"}))
    after = http("admin").get(f"/v1/customers/{cid}").json()
    assert after["erased"] is True and after["name"] is None and after["email"] is None
    events = http("admin").get(f"/v1/audit/streams/{cid}/events").json()["items"]
    assert events[0]["data"]["name"] is None and events[1]["type"] == "customer.erased"
    refused = http("agent").post("/v1/feedback", json={
        "customer_id": cid, "channel": "email", "kind": "praise", "text": "hello"})
    assert refused.status_code == 409


def test_praise_feedback_is_recorded(http):
    dep = department(http)
    answer = created(http("channel").post("/v1/feedback", json={
        "channel": "online_form", "kind": "praise", "department_id": dep, "rating": 5,
        "text": "Very friendly staff", "customer_id": customer(http)}))
    assert "complaint_id" not in answer


def test_feedback_of_kind_complaint_also_opens_a_complaint(http):
    dep = department(http)
    answer = created(http("channel").post("/v1/feedback", json={
        "channel": "social_media", "kind": "complaint", "department_id": dep,
        "severity": "high", "text": "Delivery three weeks late"}))
    state = http("agent").get(f"/v1/complaints/{answer['complaint_id']}").json()
    assert state["status"] == "open" and state["severity"] == "high"
    assert state["timeline"][0]["data"]["feedback_id"] == answer["id"]


def test_a_complaint_goes_through_its_whole_lifecycle(http):
    dep, other = department(http), department(http)
    opened = complaint(http, dep, customer_id=customer(http, tier="high_value"), severity="high")
    cid = opened["id"]
    opened_at = datetime.fromisoformat(http("agent").get(f"/v1/complaints/{cid}").json()["opened_at"])
    assert datetime.fromisoformat(opened["acknowledge_due"]) - opened_at == timedelta(hours=4)
    assert datetime.fromisoformat(opened["resolve_due"]) - opened_at == timedelta(hours=36)
    agent = http("agent")
    steps = [
        ("acknowledge", {"by": "li.na"}), ("assign", {"department_id": other, "handler": "zhao"}),
        ("escalate", {"reason": "customer called twice"}), ("resolve", {"resolution": "Replaced"}),
        ("reopen", {"reason": "Still leaking"}), ("resolve", {"resolution": "Repaired on site"}),
        ("close", {"customer_satisfied": True, "satisfaction": 5}),
    ]
    positions = [opened["position"]]
    for step, body in steps:
        positions.append(created(agent.post(f"/v1/complaints/{cid}/{step}", json=body))["position"])
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    state = agent.get(f"/v1/complaints/{cid}").json()
    assert state["status"] == "closed" and state["department_id"] == other
    assert state["escalation_level"] == 1 and state["reopen_count"] == 1
    assert [e["type"] for e in state["timeline"]] == [
        "complaint.opened", "complaint.acknowledged", "complaint.assigned",
        "complaint.escalated", "complaint.resolved", "complaint.reopened",
        "complaint.resolved", "complaint.closed"]


def test_a_command_out_of_order_is_refused_with_a_sentence(http):
    cid = complaint(http, department(http))["id"]
    refused = http("agent").post(f"/v1/complaints/{cid}/close", json={})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert "only a resolved complaint can be closed" in refused.json()["detail"]


def test_a_late_acknowledge_records_its_breach_first(http):
    dep = department(http)
    long_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    cid = complaint(http, dep, severity="critical", occurred_at=long_ago)["id"]
    created(http("agent").post(f"/v1/complaints/{cid}/acknowledge", json={}))
    types = [e["type"] for e in http("auditor").get(f"/v1/audit/streams/{cid}/events").json()["items"]]
    assert types == ["complaint.opened", "complaint.sla_breached", "complaint.acknowledged"]


def test_a_survey_is_created_sent_and_answered(http):
    sid, cus, dep = survey(http), customer(http), department(http)
    invited = created(http("agent").post(f"/v1/surveys/{sid}/invitations", json={
        "customer_ids": [cus, cus], "channel": "email"}))
    assert invited["invited"] == 1
    answered = created(http("channel").post(f"/v1/surveys/{sid}/responses", json={
        "customer_id": cus, "department_id": dep, "channel": "online",
        "answers": [{"question_id": "q1", "value": 4}, {"question_id": "q2", "value": 9}],
        "comment": "Good overall"}))
    events = http("admin").get(f"/v1/audit/streams/{answered['id']}/events").json()["items"]
    assert events[0]["data"]["answers"][0] == {
        "question_id": "q1", "value": 4, "dimension": "product_quality", "scale": "likert5"}
    assert events[0]["data"]["comment"] == "Good overall"


def test_a_revisit_is_scheduled_and_completed(http):
    cus, dep = customer(http), department(http)
    cid = complaint(http, dep, customer_id=cus)["id"]
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    rid = created(http("agent").post("/v1/revisits", json={
        "customer_id": cus, "department_id": dep, "reason": "complaint_followup",
        "complaint_id": cid, "due_at": due}))["id"]
    created(http("agent").post(f"/v1/revisits/{rid}/complete", json={
        "outcome": "reached", "satisfaction": 4, "notes": "Happy now"}))
    again = http("agent").post(f"/v1/revisits/{rid}/complete", json={"outcome": "reached"})
    assert again.status_code == 409


def test_an_improvement_action_is_raised_completed_and_verified(http):
    dep = department(http)
    due = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    aid = created(http("manager").post("/v1/improvement-actions", json={
        "department_id": dep, "title": "Seal supplier audit", "source_ids": ["cmp-1"],
        "due_at": due}))["id"]
    premature = http("manager").post(f"/v1/improvement-actions/{aid}/verify",
                                     json={"effective": True})
    assert premature.status_code == 409
    created(http("manager").post(f"/v1/improvement-actions/{aid}/complete"))
    created(http("manager").post(f"/v1/improvement-actions/{aid}/verify", json={"effective": True}))


def test_a_published_policy_applies_to_complaints_opened_after_it(http):
    before = http("manager").get("/v1/policy").json()["version"]
    rules = {"sla_hours": {s: {"acknowledge": 1, "resolve": 10}
                           for s in ("low", "medium", "high", "critical")}}
    published = created(http("admin").put("/v1/policy", json=rules))
    assert published["version"] == before + 1
    try:
        opened = complaint(http, department(http), severity="low")
        opened_at = datetime.fromisoformat(
            http("agent").get(f"/v1/complaints/{opened['id']}").json()["opened_at"])
        assert datetime.fromisoformat(opened["acknowledge_due"]) - opened_at == timedelta(hours=1)
        history = http("auditor").get("/v1/policy").json()["history"]
        assert history[-1]["rules"]["sla_hours"]["low"]["resolve"] == 10
    finally:
        created(http("admin").put("/v1/policy", json={}))


def test_unknown_references_answer_404(http):
    missing = http("channel").post("/v1/complaints", json={
        "channel": "hotline", "department_id": "no-such-dep", "severity": "low",
        "description": "x"})
    assert missing.status_code == 404 and "department 'no-such-dep'" in missing.json()["detail"]
    assert http("agent").post("/v1/complaints/nope/acknowledge", json={}).status_code == 404


def test_an_id_already_taken_answers_409(http):
    dep = department(http)
    again = http("admin").post("/v1/departments", json={"department_id": dep, "name": "x"})
    assert again.status_code == 409


def test_roles_are_enforced(http, live):
    with live.client() as anonymous:
        assert anonymous.post("/v1/departments", json={"name": "x"}).status_code == 401
    with live.client("nobody") as unknown:
        assert unknown.get("/v1/policy").status_code == 401
    assert http("channel").post("/v1/departments", json={"name": "x"}).status_code == 403
    assert http("manager").post("/v1/surveys", json={}).status_code == 403
    assert http("auditor").post("/v1/complaints/x/acknowledge", json={}).status_code == 403
    denied = http("channel").get("/v1/audit/streams/x/events")
    assert denied.status_code == 403 and denied.headers["content-type"] == PROBLEM


def test_health_ready_metrics_and_docs_need_no_key(live):
    with live.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").json()["status"] == "ready"
        assert "csm_http_requests_total" in c.get("/metrics").text
        assert c.get("/openapi.json").json()["info"]["title"] == "csm"
        assert c.get("/docs").status_code == 200
