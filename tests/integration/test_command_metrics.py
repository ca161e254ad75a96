"""`/metrics` counts commands by type and outcome, events recorded by type, the deadline
watcher's breaches and snapshot builds — each exactly once."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from csm.consumers.deadlines import DeadlineWatcher
from tests.http_builders import created, uid


def sample(live, name: str, **labels: str) -> float:
    text = live.client().get("/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_commands_by_type_and_outcome_and_events_by_type_are_counted_once(live, http):
    counted = {
        "opened": ("csm_commands_total", {"command": "OpenComplaint", "outcome": "recorded"}),
        "refused": ("csm_commands_total", {"command": "ResolveComplaint", "outcome": "refused"}),
        "missing": ("csm_commands_total", {"command": "AcknowledgeComplaint",
                                           "outcome": "not_found"}),
        "events": ("csm_events_recorded_total", {"type": "complaint.opened"}),
    }
    before = {k: sample(live, name, **labels) for k, (name, labels) in counted.items()}

    agent = http("agent")
    dept = created(http("admin").post("/v1/departments", json={"name": "Service"}))["id"]
    complaints = [created(agent.post("/v1/complaints", json={
        "channel": "web", "department_id": dept, "severity": "low",
        "description": "x"}))["id"] for _ in range(3)]
    assert agent.post(f"/v1/complaints/{complaints[0]}/resolve",
                      json={"resolution": "r"}).status_code == 409
    assert agent.post(f"/v1/complaints/{uid('none-')}/acknowledge", json={}).status_code == 404

    after = {k: sample(live, name, **labels) for k, (name, labels) in counted.items()}
    assert {k: after[k] - before[k] for k in counted} == {
        "opened": 3, "refused": 1, "missing": 1, "events": 3}


def test_the_store_the_projectors_and_http_are_seen_moving(live, http):
    moving = {"store": ("csm_store_position", {}),
              "projected": ("csm_projection_position", {"projection": "complaints"}),
              "created": ("csm_http_requests_total", {"method": "POST", "status": "201"}),
              "timed": ("csm_http_request_seconds_count", {"method": "POST"})}
    before = {k: sample(live, name, **labels) for k, (name, labels) in moving.items()}
    dept = created(http("admin").post("/v1/departments", json={"name": "Service"}))
    last = created(http("agent").post("/v1/complaints", json={
        "channel": "web", "department_id": dept["id"], "severity": "low", "description": "x"}))
    assert http("manager").get("/v1/complaints/stats", params={
        "min_position": last["position"], "wait": 10}).status_code == 200
    after = {k: sample(live, name, **labels) for k, (name, labels) in moving.items()}
    assert after["store"] >= before["store"] + 2
    assert after["projected"] >= last["position"] > before["projected"]
    assert after["created"] >= before["created"] + 2
    assert after["timed"] >= before["timed"] + 2


def test_the_watchers_breaches_and_snapshot_builds_are_counted(runtime, live, http):
    breaches_before = sample(live, "csm_deadline_breaches_total")
    builds_before = sample(live, "csm_snapshot_builds_total", outcome="ready")
    agent = http("agent")
    dept = created(http("admin").post("/v1/departments", json={"name": "Service"}))["id"]
    long_ago = datetime.now(UTC) - timedelta(days=30)
    created(agent.post("/v1/complaints", json={
        "channel": "web", "department_id": dept, "severity": "low", "description": "x",
        "occurred_at": long_ago.isoformat()}))
    later = datetime.now(UTC) + timedelta(seconds=301)
    watcher = DeadlineWatcher(runtime.pool, runtime.app, 300, 1, clock=lambda: later)
    deadline = time.monotonic() + 30
    while watcher.scan() == 0:  # once the read model shows the complaint
        assert time.monotonic() < deadline
        time.sleep(0.1)
    auditor = http("auditor")
    asked = auditor.post("/v1/audit/snapshots", json={"as_of": datetime.now(UTC).isoformat()})
    assert asked.status_code == 202, asked.text
    snapshot_id = asked.json()["snapshot_id"]
    while auditor.get(f"/v1/audit/snapshots/{snapshot_id}").json()["status"] != "ready":
        assert time.monotonic() < deadline + 60
        time.sleep(0.1)

    assert sample(live, "csm_deadline_breaches_total") - breaches_before >= 1
    assert sample(live, "csm_snapshot_builds_total", outcome="ready") - builds_before == 1
