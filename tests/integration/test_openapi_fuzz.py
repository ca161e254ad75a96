"""Schema fuzzing of the whole OpenAPI by schemathesis, with every one of its checks.

Run once with an admin key and once with a channel key against a live server with a
database of its own (what the fuzzer records, a policy among it, must not change what
other tests see); afterwards every read model must have reached the store's head.
"""
from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import positive_data_acceptance

from csm.infra.checkpointer import Checkpointer
from csm.api.app import create_app
from csm.api.openapi import BEARER
from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, new_database, settings_for
from tests.http_builders import complaint, created, customer, department, survey

EXAMPLES_PER_OPERATION = 100
CATCH_UP_SECONDS = 30
# The document the live server serves (checked below); made here because
# schemathesis parametrizes the tests while the module is collected.
DOCUMENT = create_app(None).openapi()  # type: ignore[arg-type]
RULE_PROBLEMS = {"https://csm.dev/problems/invalid-input"}


def reachable(context, case):
    """What a fuzzer cannot know: which positions the read models reached, which keys it sent.

    A `min_position` beyond the store's head is answered 503 after `wait` by design, so an
    integer one becomes 0 (a repeated one is refused whatever its values); an Idempotency-Key
    first sent with another body is answered 422 by design, so each valid key is made
    distinct per request (an equal request keeps its key).
    """
    position = case.query.get("min_position") if case.query else None
    if type(position) is int:
        case.query["min_position"] = 0
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if isinstance(key, str) and len(key) <= 200:
        request = repr((key, case.method, case.formatted_path,
                        None if case.body is NOT_SET else case.body))
        case.headers["Idempotency-Key"] = hashlib.sha256(request.encode()).hexdigest()
    return case


def accepted_unless_a_rule_refused_it(ctx, response, case):
    """positive_data_acceptance, but a rule no JSON schema can carry may refuse valid data.

    Such a refusal is a 422 naming a domain rule (an occurred_at in the future, a value
    outside its question's scale), a validator's own rule (`Value error, …`), or two
    parameters that may not go together — `from` after `to`, a stream state asked with both
    `as_of` and `version`, a ledger `limit` over 100,000 with a JSON answer — which the
    contract refuses with 422 and which no schema can state, as JSON Schema cannot relate
    two parameters; a 422 for anything the schema itself describes still fails.
    """
    if response.status_code == 422:
        problem = response.json()
        if problem.get("type") in RULE_PROBLEMS or problem.get("errors") and all(
                e["msg"].startswith("Value error") or is_two_that_clash(e)
                for e in problem["errors"]):
            return None
    return positive_data_acceptance(ctx, response, case)


def is_two_that_clash(error: dict) -> bool:
    return (error["loc"] == ["query", "from"] and "lies after `to`" in error["msg"]
            or error["loc"] == ["query", "version"] and "not both" in error["msg"]
            or error["loc"] == ["query", "limit"] and "ask for CSV" in error["msg"])


def fuzzing_as(role: str) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({
        "auth": {"openapi": {BEARER: {"bearer": f"key-{role}"}}},
        "checks": {"enabled": True},
    })
    schema = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    schema.hook("map_case")(reachable)
    return schema


FUZZ = settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
                suppress_health_check=list(HealthCheck))
as_admin, as_channel = fuzzing_as("admin"), fuzzing_as("channel")


@pytest.fixture(scope="module")
def fuzzed_runtime(pg_server, tmp_path_factory):
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path_factory.mktemp("fuzz")))
    rt.start_projectors()
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def live(fuzzed_runtime):
    """The API over the fuzzed database, served as conftest's `live` serves the shared one."""
    server = LiveServer(fuzzed_runtime)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def records(live):
    """One record of each kind, so that queries answer rows and there is something to read."""
    clients = {role: live.client(role) for role in ("admin", "agent", "channel", "manager")}
    http = clients.__getitem__
    agent, manager = http("agent"), http("manager")
    dep, cus = department(http), customer(http)
    cmp = complaint(http, dep, customer_id=cus)["id"]
    for step, body in (("acknowledge", {}), ("assign", {"handler": "Li Wei"}),
                       ("escalate", {"reason": "no reply"}), ("resolve", {"resolution": "fixed"})):
        created(agent.post(f"/v1/complaints/{cmp}/{step}", json=body))
    for kind in ("praise", "complaint"):
        created(http("channel").post("/v1/feedback", json={
            "channel": "web", "kind": kind, "department_id": dep, "customer_id": cus,
            "rating": 2, "text": "The delivery was late"}))
    srv = survey(http)
    created(agent.post(f"/v1/surveys/{srv}/invitations", json={"customer_ids": [cus],
                                                              "channel": "email"}))
    created(http("channel").post(f"/v1/surveys/{srv}/responses", json={
        "customer_id": cus, "department_id": dep, "channel": "web", "answers": [
            {"question_id": "q1", "value": 4}, {"question_id": "q2", "value": 9},
            {"question_id": "q3", "value": 2}]}))
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    visit = created(agent.post("/v1/revisits", json={
        "customer_id": cus, "department_id": dep, "reason": "periodic", "due_at": due}))["id"]
    created(agent.post(f"/v1/revisits/{visit}/complete", json={"outcome": "reached",
                                                              "satisfaction": 4}))
    action = created(manager.post("/v1/improvement-actions", json={
        "department_id": dep, "title": "Call back within a day", "due_at": due}))["id"]
    created(manager.post(f"/v1/improvement-actions/{action}/complete"))
    last = created(manager.post(f"/v1/improvement-actions/{action}/verify",
                                json={"effective": True}))
    rt = live.server.config.app.state.runtime
    Checkpointer(rt.pool, rt.audit, 1, 1).make_once(force=True)
    snapshot = http("admin").post("/v1/audit/snapshots", json={
        "as_of": datetime.now(UTC).isoformat()})
    assert snapshot.status_code == 202, snapshot.text
    for client in clients.values():
        client.close()
    return {"department_id": dep, "customer_id": cus, "complaint_id": cmp, "survey_id": srv,
            "stream_id": cmp, "snapshot_id": snapshot.json()["snapshot_id"],
            "min_position": last["position"]}


def call_and_validate(case, live) -> None:
    case.call_and_validate(base_url=live.url, excluded_checks=[positive_data_acceptance],
                           additional_checks=[accepted_unless_a_rule_refused_it])


def test_the_live_server_serves_the_document_that_is_fuzzed(live):
    assert httpx.get(f"{live.url}/openapi.json").json() == DOCUMENT


READS = [path for path, operations in DOCUMENT["paths"].items()
         if "get" in operations and path.startswith("/v1/")]


@pytest.mark.parametrize("path", READS)
def test_reading_what_was_recorded_answers_as_the_schema_says(path, live, records):
    operation = as_admin[path]["GET"]
    names = {p["name"]: p["in"] for p in DOCUMENT["paths"][path]["get"].get("parameters", ())}
    query = {n: records[n] for n, where in names.items() if where == "query" and n in records}
    if path == "/v1/reports/monthly":  # its period is a month, not a bucket size
        query["period"] = datetime.now(UTC).strftime("%Y-%m")
    case = operation.Case(
        path_parameters={n: records[n] for n, where in names.items() if where == "path"},
        query=query, headers={"Authorization": "Bearer key-admin"})
    response = case.call_and_validate(base_url=live.url)
    assert response.status_code == 200, response.text
    if path == "/v1/reports/monthly":
        assert records["department_id"] in response.text
        return
    for listing in ("rows", "items"):
        assert response.json().get(listing, [None]), f"no {listing} about what was recorded"


@as_admin.parametrize()
@FUZZ
def test_with_an_admin_key_every_operation_answers_as_its_schema_says(case, live, records):
    call_and_validate(case, live)


@as_channel.parametrize()
@FUZZ
def test_with_a_channel_key_every_operation_answers_as_its_schema_says(case, live, records):
    call_and_validate(case, live)


def test_after_the_fuzzing_every_projection_has_caught_up_and_none_failed(fuzzed_runtime):
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        with fuzzed_runtime.pool.connection() as conn:
            head = conn.execute("SELECT position FROM csm_chain_head WHERE id = 1").fetchone()
            status = conn.execute("SELECT * FROM csm_read.projection_status").fetchall()
        head_position = head["position"] if head else 0
        behind = {s["name"]: s["position"] for s in status if s["position"] < head_position}
        if not behind or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status, "no projection reports its status"
    assert behind == {}, f"behind the store's head {head_position}: {behind}"
    # Whatever the columns that record a failure are called, none may hold one.
    failed = {s["name"]: {k: v for k, v in s.items() if ("error" in k or "fail" in k) and v}
              for s in status}
    assert {name: f for name, f in failed.items() if f} == {}
    assert fuzzed_runtime.projectors.running()
