"""Value rules at the edge, the same over HTTP and on `csm.inbound`.

No text may hold U+0000 or a surrogate; every timestamp has an offset within
±14:00 and lies in the years 1900–9999 in UTC; an id in a path follows the id
pattern. A request outside these rules is refused (422 naming the field, or 404
for a path id) and records nothing; one inside them is recorded and projected.
The first rows of each table are the requests that once stopped every projection.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

import jsonschema_rs
import orjson
import pytest
from kafka.consumer.fetcher import ConsumerRecord

from csm.consumers.inbound import REFUSED, Inbound
from csm.consumers.refusal_reasons import reason as _reason
from csm.domain.values import ID_PATTERN, derived_id
from bench.stack import ROLES
from tests.http_builders import complaint, created, customer, department, survey, uid

PROBLEM = "application/problem+json"
NUL = "a\u0000b"
LONE = "a\ud800b"


@pytest.fixture(scope="module")
def world(live) -> dict[str, Any]:
    """The records the requests below aim at, shared by the whole module."""
    clients = {role: live.client(role) for role in ROLES}
    http = clients.__getitem__
    dep = department(http)
    cus = customer(http)
    acknowledged = complaint(http, dep)["id"]
    created(http("agent").post(f"/v1/complaints/{acknowledged}/acknowledge", json={}))
    resolved = complaint(http, dep)["id"]
    created(http("agent").post(f"/v1/complaints/{resolved}/acknowledge", json={}))
    created(http("agent").post(f"/v1/complaints/{resolved}/resolve", json={"resolution": "ok"}))
    revisit = created(http("agent").post("/v1/revisits", json={
        "customer_id": cus, "department_id": dep, "reason": "periodic",
        "due_at": "2030-01-01T00:00:00Z"}))["id"]
    yield {"dep": dep, "cus": cus, "open": complaint(http, dep)["id"], "acked": acknowledged,
           "resolved": resolved, "survey": survey(http), "revisit": revisit}
    for c in clients.values():
        c.close()


def send(http, role: str, method: str, path: str, body: Any = None, raw: bytes | None = None):
    # json.dumps escapes a lone surrogate as \ud800, exactly as a hostile client would send it.
    content = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if content is not None else {}
    return http(role).request(method, path, content=content, headers=headers)


def head(runtime) -> int:
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT position FROM csm_chain_head WHERE id = 1").fetchone()
    return row["position"] if row else 0


def fb(**fields) -> dict[str, Any]:
    return {"channel": "web", "kind": "praise", **fields}


def cmp(w, **fields) -> dict[str, Any]:
    return {"channel": "web", "department_id": w["dep"], "severity": "low",
            "description": "The washing machine leaks", **fields}


# (case, role, method, path, body(world) or raw bytes, loc of the refused field, words of its msg)
REFUSALS = [
    ("feedback occurred in year 1 at +14:00", "channel", "POST", "/v1/feedback",
     lambda w: fb(department_id=w["dep"], occurred_at="0001-01-01T00:00:00+14:00"),
     ["body", "occurred_at"], "years 1900–9999 in UTC"),
    ("complaint occurred at +20:00", "channel", "POST", "/v1/complaints",
     lambda w: cmp(w, occurred_at="2026-11-30T10:00:00+20:00"),
     ["body", "occurred_at"], "offset +20:00 lies outside ±14:00"),
    ("department name with NUL", "admin", "POST", "/v1/departments",
     lambda w: {"department_id": uid("d-"), "name": NUL}, ["body", "name"], "U+0000"),
    ("handler with NUL", "agent", "POST", "/v1/complaints/{open}/assign",
     lambda w: {"handler": "h\u0000x"}, ["body", "handler"], "U+0000"),
    ("improvement title with NUL", "manager", "POST", "/v1/improvement-actions",
     lambda w: {"department_id": w["dep"], "title": NUL, "due_at": "2030-01-01T00:00:00Z"},
     ["body", "title"], "U+0000"),
    ("improvement due in year 1 at +23:59", "manager", "POST", "/v1/improvement-actions",
     lambda w: {"department_id": w["dep"], "title": "t", "due_at": "0001-01-01T00:00:00+23:59"},
     ["body", "due_at"], "offset +23:59 lies outside ±14:00"),
    ("revisit due at -20:16", "agent", "POST", "/v1/revisits",
     lambda w: {"customer_id": w["cus"], "department_id": w["dep"], "reason": "periodic",
                "due_at": "2030-01-01T00:00:00-20:16"},
     ["body", "due_at"], "offset -20:16 lies outside ±14:00"),
    ("revisit due at the end of 9999 at -23:59", "agent", "POST", "/v1/revisits",
     lambda w: {"customer_id": w["cus"], "department_id": w["dep"], "reason": "periodic",
                "due_at": "9999-12-31T23:59:59-23:59"},
     ["body", "due_at"], "outside ±14:00"),
    ("customer name with a lone surrogate", "channel", "POST", "/v1/customers",
     lambda w: {"name": LONE}, ["body", "name"], "unpaired surrogate"),
    ("customer e-mail with NUL", "channel", "POST", "/v1/customers",
     lambda w: {"name": "n", "email": "a\u0000@example.com"}, ["body", "email"], "U+0000"),
    ("customer e-mail with a lone surrogate", "channel", "POST", "/v1/customers",
     lambda w: {"name": "n", "email": "a\udc00@example.com"}, ["body", "email"], "surrogate"),
    ("erasure reason with NUL", "admin", "POST", "/v1/customers/{cus}/erase",
     lambda w: {"reason": NUL}, ["body", "reason"], "U+0000"),
    ("feedback text with NUL", "channel", "POST", "/v1/feedback",
     lambda w: fb(text=NUL), ["body", "text"], "U+0000"),
    ("feedback text with a lone surrogate", "channel", "POST", "/v1/feedback",
     lambda w: fb(text=LONE), ["body", "text"], "unpaired surrogate"),
    ("feedback occurred_at as a number", "channel", "POST", "/v1/feedback",
     lambda w: fb(occurred_at=0), ["body", "occurred_at"], "RFC 3339"),
    ("feedback occurred at the end of 1899", "channel", "POST", "/v1/feedback",
     lambda w: fb(occurred_at="1899-12-31T23:59:59Z"), ["body", "occurred_at"], "years"),
    ("complaint description with NUL", "channel", "POST", "/v1/complaints",
     lambda w: cmp(w, description=NUL), ["body", "description"], "U+0000"),
    ("acknowledged by NUL", "agent", "POST", "/v1/complaints/{open}/acknowledge",
     lambda w: {"by": NUL}, ["body", "by"], "U+0000"),
    ("acknowledged at +14:30", "agent", "POST", "/v1/complaints/{open}/acknowledge",
     lambda w: {"occurred_at": "2026-01-01T00:00:00+14:30"}, ["body", "occurred_at"], "±14:00"),
    ("escalation reason with NUL", "agent", "POST", "/v1/complaints/{open}/escalate",
     lambda w: {"reason": NUL}, ["body", "reason"], "U+0000"),
    ("resolution with NUL", "agent", "POST", "/v1/complaints/{acked}/resolve",
     lambda w: {"resolution": NUL}, ["body", "resolution"], "U+0000"),
    ("resolved by a lone surrogate", "agent", "POST", "/v1/complaints/{acked}/resolve",
     lambda w: {"resolution": "ok", "by": LONE}, ["body", "by"], "unpaired surrogate"),
    ("reopen reason with NUL", "channel", "POST", "/v1/complaints/{resolved}/reopen",
     lambda w: {"reason": NUL}, ["body", "reason"], "U+0000"),
    ("closed at -15:00", "agent", "POST", "/v1/complaints/{resolved}/close",
     lambda w: {"occurred_at": "2026-01-01T00:00:00-15:00"}, ["body", "occurred_at"], "±14:00"),
    ("survey name with NUL", "admin", "POST", "/v1/surveys",
     lambda w: {"name": NUL, "questions": [{"question_id": "q1", "dimension": "quality",
                                            "scale": "likert5"}]}, ["body", "name"], "U+0000"),
    ("question text with NUL", "admin", "POST", "/v1/surveys",
     lambda w: {"name": "s", "questions": [{"question_id": "q1", "text": NUL,
                                            "dimension": "quality", "scale": "likert5"}]},
     ["body", "questions", 0, "text"], "U+0000"),
    ("response comment with NUL", "channel", "POST", "/v1/surveys/{survey}/responses",
     lambda w: {"channel": "web", "answers": [{"question_id": "q1", "value": 4}], "comment": NUL},
     ["body", "comment"], "U+0000"),
    ("response in year 1", "channel", "POST", "/v1/surveys/{survey}/responses",
     lambda w: {"channel": "web", "answers": [{"question_id": "q1", "value": 4}],
                "occurred_at": "0001-01-01T00:00:00Z"}, ["body", "occurred_at"], "years"),
    ("revisit notes with NUL", "agent", "POST", "/v1/revisits/{revisit}/complete",
     lambda w: {"outcome": "reached", "notes": NUL}, ["body", "notes"], "U+0000"),
    ("closure survey id with NUL in the policy", "admin", "PUT", "/v1/policy",
     lambda w: {"followups": {"closure_survey_id": NUL}},
     ["body", "followups", "closure_survey_id"], "U+0000"),
    ("praise points beyond 64 bits in the policy", "admin", "PUT", "/v1/policy",
     lambda w: {"points": {"praise": 10**30}}, ["body", "points", "praise"], "less than"),
    ("infinite index penalty margin in the policy", "admin", "PUT", "/v1/policy",
     b'{"points": {"index_penalty_margin": Infinity}}',
     ["body", "points", "index_penalty_margin"], "finite"),
    ("department target NaN", "admin", "POST", "/v1/departments",
     b'{"name": "n", "satisfaction_target": NaN}', ["body", "satisfaction_target"], "finite"),
    ("praise points that once stopped the ledger", "admin", "PUT", "/v1/policy",
     lambda w: {"points": {"praise": 7353443439}}, ["body", "points", "praise"], "less than"),
    ("praise points as a string", "admin", "PUT", "/v1/policy",
     lambda w: {"points": {"praise": "2"}}, ["body", "points", "praise"], "valid integer"),
    ("a follow-up flag as a string", "admin", "PUT", "/v1/policy",
     lambda w: {"followups": {"revisit_on_low_score": "true"}},
     ["body", "followups", "revisit_on_low_score"], "valid boolean"),
    ("SLA hours for one severity only", "admin", "PUT", "/v1/policy",
     lambda w: {"sla_hours": {"low": {"acknowledge": 1, "resolve": 2}}}, ["body", "sla_hours"],
     "severities"),
    ("complaint points for a severity that does not exist", "admin", "PUT", "/v1/policy",
     lambda w: {"points": {"complaint_received": {
         "low": -1, "medium": -2, "high": -4, "critical": -8, "urgent": -9}}},
     ["body", "points", "complaint_received", "urgent", "[key]"], "'critical'"),
    ("a dimension weight over 1000", "admin", "PUT", "/v1/policy",
     lambda w: {"dimension_weights": {"experience": 1001}},
     ["body", "dimension_weights", "experience"], "less than"),
    ("a dimension weight named outside the slug pattern", "admin", "PUT", "/v1/policy",
     lambda w: {"dimension_weights": {"Not a slug": 1}},
     ["body", "dimension_weights", "Not a slug", "[key]"], "pattern"),
    ("an index penalty margin beyond the index's 100", "admin", "PUT", "/v1/policy",
     lambda w: {"points": {"index_penalty_margin": 101}},
     ["body", "points", "index_penalty_margin"], "less than"),
    ("a rating with a fraction", "channel", "POST", "/v1/feedback",
     lambda w: fb(rating=2.5), ["body", "rating"], "valid integer"),
    ("a rating as a string", "channel", "POST", "/v1/feedback",
     lambda w: fb(rating="2"), ["body", "rating"], "valid integer"),
    ("an answer beyond 64 bits", "channel", "POST", "/v1/surveys/{survey}/responses",
     lambda w: {"channel": "web", "answers": [{"question_id": "q1", "value": 2**64}]},
     ["body", "answers", 0, "value"], "less than"),
    ("an answer one past the integers JSON holds exactly", "channel", "POST",
     "/v1/surveys/{survey}/responses",
     lambda w: {"channel": "web", "answers": [{"question_id": "q1", "value": -2**53}]},
     ["body", "answers", 0, "value"], "greater than"),
]


@pytest.mark.parametrize("case, role, method, path, body, loc, says", REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_a_value_no_projection_could_store_is_refused_with_422_naming_the_field(
        http, runtime, world, case, role, method, path, body, loc, says):
    before = head(runtime)
    raw = body if isinstance(body, bytes) else None
    r = send(http, role, method, path.format(**world), None if raw else body(world), raw)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["status"] == 422 and problem["title"]
    refused = [e for e in problem["errors"] if e["loc"] == loc]
    assert refused, problem["errors"]
    assert says in refused[0]["msg"], refused[0]
    assert head(runtime) == before


# (case, role, method, path, body)
BAD_PATH_IDS = [
    ("complaint id with NUL", "agent", "GET", "/v1/complaints/a%00b", None),
    ("complaint id of 65 characters", "agent", "GET", "/v1/complaints/" + "c" * 65, None),
    ("customer id with a space", "agent", "GET", "/v1/customers/a%20b", None),
    ("customer id with NUL to erase", "admin", "POST", "/v1/customers/a%00b/erase", {}),
    ("assign to a complaint id with NUL", "agent", "POST", "/v1/complaints/a%00b/assign",
     {"handler": "h"}),
    ("NUL id with an invalid body as well", "agent", "POST", "/v1/complaints/a%00b/assign",
     {"handler": NUL}),
    ("acknowledge an id with a slash", "agent", "POST", "/v1/complaints/a%2Fb/acknowledge", {}),
    ("survey id of a lone surrogate in UTF-8 bytes", "channel", "POST",
     "/v1/surveys/%ED%A0%80/responses", {"channel": "web", "answers": []}),
    ("survey stats with NUL", "manager", "GET", "/v1/surveys/s%00/stats", None),
    ("invitations to a survey id with non-ASCII", "agent", "POST",
     "/v1/surveys/%C3%BC/invitations", {"customer_ids": ["c"], "channel": "web"}),
    ("ledger of a department id with NUL", "manager", "GET", "/v1/departments/d%00/ledger", None),
    ("improvement id with NUL", "manager", "POST", "/v1/improvement-actions/a%00/complete", {}),
    ("improvement id with a quote", "manager", "POST", "/v1/improvement-actions/a'b/verify",
     {"effective": True}),
    ("revisit id with NUL", "agent", "POST", "/v1/revisits/r%00/complete", {"outcome": "reached"}),
    ("audited stream id with NUL", "auditor", "GET", "/v1/audit/streams/a%00b/events", None),
    ("audited stream id of 65 characters", "auditor", "GET",
     "/v1/audit/streams/" + "s" * 65 + "/events", None),
]


@pytest.mark.parametrize("case, role, method, path, body", BAD_PATH_IDS,
                         ids=[r[0] for r in BAD_PATH_IDS])
def test_an_id_in_a_path_outside_the_id_pattern_is_404_and_never_500(
        http, runtime, case, role, method, path, body):
    before = head(runtime)
    r = send(http, role, method, path, body)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["status"] == 404 and r.json()["detail"]
    assert head(runtime) == before


@pytest.mark.parametrize("path, raw", [
    ("/v1/feedback", b'{"channel": "web", "kind": "praise", "\\ud800": 1}'),
    ("/v1/policy", b'{"points": {"complaint_received": {"\\udc00x": "many"}}}'),
    ("/v1/policy", b'{"dimension_weights": {"\\ud800": "heavy"}}'),
])
def test_a_lone_surrogate_in_a_field_name_is_refused_with_422_not_500(http, runtime, path, raw):
    before = head(runtime)
    r = send(http, "admin", "PUT" if path == "/v1/policy" else "POST", path, raw=raw)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["errors"] and {e["loc"][0] for e in r.json()["errors"]} == {"body"}
    assert head(runtime) == before


def test_a_bad_path_id_is_answered_only_after_the_key_and_the_role_are_checked(live):
    with live.client() as anonymous:
        assert anonymous.get("/v1/complaints/a%00b").status_code == 401
    with live.client("channel") as channel:
        assert channel.get("/v1/complaints/a%00b").status_code == 403


def test_the_policy_stream_is_still_readable_by_the_audit(http):
    created(http("admin").put("/v1/policy", json={}))
    r = http("auditor").get("/v1/audit/streams/$policy/events")
    assert r.status_code == 200, r.text
    assert r.json()["items"][-1]["type"] == "policy.published"


@pytest.mark.parametrize("as_of, says", [
    ("0001-01-01T00:00:00+14:00", "years"), ("2026-01-01T00:00:00+20:00", "±14:00"),
    ("2026-01-01T00:00:00", "with an offset"), ("0.5", "RFC 3339"),
])
def test_a_backlog_as_of_outside_the_timestamp_rules_is_422(http, as_of, says):
    r = http("agent").get("/v1/complaints/backlog", params={"as_of": as_of})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", "as_of"]
    assert says in r.json()["errors"][0]["msg"]


def test_a_backlog_as_of_at_the_widest_offset_is_answered(http, world):
    r = http("agent").get("/v1/complaints/backlog", params={
        "as_of": "2026-01-01T00:00:00+14:00", "department_id": world["dep"]})
    assert r.status_code == 200, r.text


def test_values_at_the_edges_of_the_rules_are_recorded_and_projected(http, world):
    dep = department(http)
    praise = created(http("channel").post("/v1/feedback", json=fb(
        department_id=dep, rating=5, text="洗衣机很好 😀",
        occurred_at="1900-01-01T00:00:00Z")))
    late = created(http("channel").post("/v1/feedback", json=fb(
        department_id=dep, rating=1, kind="criticism", occurred_at="2026-01-01T09:59:59+14:00")))
    stats = http("manager").get("/v1/feedback/stats", params={
        "department_id": dep, "period": "year", "min_position": late["position"], "wait": 20})
    assert stats.status_code == 200, stats.text
    assert [(r["period_start"][:4], r["count"]) for r in stats.json()["rows"]] == [
        ("1900", 1), ("2025", 1)]
    assert praise["position"] < late["position"]

    far = created(http("manager").post("/v1/improvement-actions", json={
        "department_id": dep, "title": "Überarbeiten 😀", "due_at": "9999-12-31T23:59:59Z"}))
    early = created(http("manager").post("/v1/improvement-actions", json={
        "department_id": dep, "title": "Redo", "due_at": "1900-01-01T14:00:00+14:00"}))
    actions = http("manager").get("/v1/improvement-actions", params={
        "department_id": dep, "min_position": max(far["position"], early["position"]),
        "wait": 20})
    assert actions.status_code == 200, actions.text
    assert [(a["title"], a["overdue"]) for a in actions.json()["items"]] == [
        ("Redo", True), ("Überarbeiten 😀", False)]

    revisit = created(http("agent").post("/v1/revisits", json={
        "customer_id": world["cus"], "department_id": dep, "reason": "periodic",
        "due_at": "9999-12-31T23:59:59Z", "occurred_at": "1900-01-01T00:00:00Z"}))
    revisits = http("manager").get("/v1/revisits/stats", params={
        "department_id": dep, "period": "year", "min_position": revisit["position"], "wait": 20})
    assert revisits.status_code == 200, revisits.text
    assert [(r["period_start"][:4], r["scheduled"], r["overdue"])
            for r in revisits.json()["rows"]] == [("1900", 1, 0)]


@pytest.mark.parametrize("value", [2**64, 10**40, -2**70])
def test_an_answer_beyond_64_bits_with_an_idempotency_key_is_422_every_time(
        http, runtime, world, value):
    before = head(runtime)
    body = {"channel": "web", "answers": [{"question_id": "q1", "value": value}]}
    for _ in range(2):
        r = http("channel").post(f"/v1/surveys/{world['survey']}/responses", json=body,
                                 headers={"Idempotency-Key": uid("k-")})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["body", "answers", 0, "value"]
    assert head(runtime) == before


def test_whole_numbers_written_with_a_fraction_are_the_integers_they_name(http, world):
    dep = department(http)
    rated = created(http("channel").post("/v1/feedback", json=fb(department_id=dep,
                                                                   rating=2.0)))
    created(http("channel").post(f"/v1/surveys/{world['survey']}/responses", json={
        "channel": "web", "department_id": dep, "answers": [{"question_id": "q1", "value": 4.0}]}))
    stats = http("manager").get("/v1/feedback/stats", params={
        "department_id": dep, "min_position": rated["position"], "wait": 20})
    assert stats.status_code == 200, stats.text
    assert [r["mean_rating"] for r in stats.json()["rows"]] == [2]
    # The defaults, spelled with fractions: nothing other tests rely on changes.
    created(http("admin").put("/v1/policy", json={"points": {
        "praise": 2.0, "index_min_responses": 30.0}}))
    policy = http("admin").get("/v1/policy")
    assert policy.status_code == 200, policy.text
    assert '"praise":2,' in policy.text.replace(" ", "")
    assert type(policy.json()["rules"]["points"]["index_min_responses"]) is int


def _policy_schemas(document: dict) -> dict[str, dict]:
    schemas = document["components"]["schemas"]
    return {name: schemas[name] for name in ("PolicyRules", "SlaHours", "Points", "Followups")}


def _numbers(schema: dict, where: str = ""):
    """Every number or integer a schema admits, with where it is."""
    if schema.get("type") in ("number", "integer"):
        yield where, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _numbers(sub, f"{where}.{name}")
    for sub in schema.get("anyOf", ()):
        yield from _numbers(sub, where)
    for sub in [schema.get("additionalProperties"), *schema.get("patternProperties", {}).values()]:
        if isinstance(sub, dict):
            yield from _numbers(sub, f"{where}.*")


def test_every_number_of_the_published_policy_has_both_bounds(live):
    with live.client() as anonymous:
        document = anonymous.get("/openapi.json").json()
    found = [(f"{name}{where}", number) for name, schema in _policy_schemas(document).items()
             for where, number in _numbers(schema)]
    assert len(found) > 20, found
    unbounded = [where for where, n in found
                 if "maximum" not in n or not {"minimum", "exclusiveMinimum"} & set(n)]
    assert unbounded == []


def test_the_published_policy_names_every_severity_and_only_slugs_for_weights(live):
    with live.client() as anonymous:
        document = anonymous.get("/openapi.json").json()
    rules, points = document["components"]["schemas"]["PolicyRules"], \
        document["components"]["schemas"]["Points"]
    for by_severity in (rules["properties"]["sla_hours"],
                        points["properties"]["complaint_received"]):
        assert by_severity["required"] == ["low", "medium", "high", "critical"]
        assert by_severity["propertyNames"] == {"enum": ["low", "medium", "high", "critical"]}
    weights = rules["properties"]["dimension_weights"]
    assert list(weights["patternProperties"]) == [r"^[a-z0-9][a-z0-9_.-]{0,63}$"]
    assert weights["additionalProperties"] is False


@pytest.mark.parametrize("email", [
    "wang@example.com", "王芳@例子.中国", "a\u0085b@example.com", "a\u00a0b@example.com",
    "a\u3000b@example.com", "a\ufeffb@example.com", "a\u001fb@example.com",
    "a\u2028b@example.com", "a b@example.com", "a@b@example.com"])
def test_the_server_and_the_published_pattern_agree_on_every_e_mail(live, http, email):
    with live.client() as anonymous:
        document = anonymous.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/CustomerIn", "components": document["components"]}
    published = jsonschema_rs.validator_for(schema).is_valid({"name": "n", "email": email})
    r = http("channel").post("/v1/customers", json={"name": "n", "email": email})
    assert r.status_code == (201 if published else 422), (email, r.text)


def test_a_complaint_opened_by_a_64_character_feedback_id_gets_an_id_in_the_pattern(http, world):
    feedback_id = uid("f") + "x" * 53
    assert len(feedback_id) == 64
    answer = created(http("channel").post("/v1/feedback", json=fb(
        feedback_id=feedback_id, kind="complaint", department_id=world["dep"], text="leaks")))
    assert re.match(ID_PATTERN, answer["complaint_id"])
    assert answer["complaint_id"] == derived_id(feedback_id, "complaint")
    opened = http("agent").get(f"/v1/complaints/{answer['complaint_id']}")
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open"


def test_the_revisit_a_low_score_schedules_can_be_completed_by_its_derived_id(http, world):
    response_id = uid("r") + "y" * 53
    created(http("channel").post(f"/v1/surveys/{world['survey']}/responses", json={
        "response_id": response_id, "customer_id": world["cus"], "department_id": world["dep"],
        "channel": "web", "answers": [{"question_id": "q1", "value": 1}]}))
    revisit_id = derived_id("revisit", response_id, 1)
    assert re.match(ID_PATTERN, revisit_id)
    done = created(http("agent").post(f"/v1/revisits/{revisit_id}/complete",
                                      json={"outcome": "reached", "satisfaction": 4}))
    assert done["id"] == revisit_id


def test_after_all_of_this_every_projection_reaches_the_head(live):
    deadline = time.monotonic() + 30
    with live.client() as anonymous:
        while True:
            ready = anonymous.get("/ready")
            lagging = [p for p in ready.json().get("projections", []) if p["lag"]]
            if ready.status_code == 200 and not lagging:
                break
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)


# Inbound: the consumer's own decision on a raw message, without a broker in between.

def envelope(type_: str, payload: dict[str, Any], **extra: Any) -> bytes:
    body = {"message_id": uid("m-"), "type": type_, "source": "test-adapter", "payload": payload,
            **extra}
    return json.dumps(body).encode()


def record(value: bytes) -> ConsumerRecord:
    return ConsumerRecord("csm.inbound", 0, -1, 0, 0, 0, None, value, [], None, -1, len(value), -1)


@pytest.fixture(scope="module")
def inbound(runtime) -> Inbound:
    return Inbound(runtime.pool, runtime.app, "unused:9092", "csm.inbound", "csm.inbound.dlq", 1)


# (case, message(world), words the DLQ `error` header must contain)
INBOUND_REFUSALS = [
    ("feedback occurred in year 1 at +14:00", lambda w: envelope("feedback.submitted", fb(
        department_id=w["dep"], occurred_at="0001-01-01T00:00:00+14:00")),
     ["occurred_at", "years 1900–9999 in UTC"]),
    ("complaint occurred at +20:00", lambda w: envelope("complaint.opened", cmp(
        w, occurred_at="2026-11-30T10:00:00+20:00")), ["occurred_at", "offset +20:00"]),
    ("envelope occurred at +20:00", lambda w: envelope(
        "complaint.opened", cmp(w), occurred_at="2026-11-30T10:00:00+20:00"),
     ["occurred_at", "offset +20:00"]),
    ("envelope occurred in 10000 in UTC", lambda w: envelope(
        "feedback.submitted", fb(), occurred_at="9999-12-31T23:59:59-00:01"),
     ["occurred_at", "years"]),
    ("envelope occurred_at as a number", lambda w: envelope(
        "feedback.submitted", fb(), occurred_at=1_780_000_000), ["occurred_at", "RFC 3339"]),
    ("complaint description with NUL", lambda w: envelope("complaint.opened", cmp(
        w, description=NUL)), ["description", "U+0000"]),
    ("feedback text with NUL", lambda w: envelope("feedback.submitted", fb(text=NUL)),
     ["text", "U+0000"]),
    ("customer name with NUL", lambda w: envelope("customer.registered", {"name": NUL}),
     ["name", "U+0000"]),
    ("customer e-mail with a lone surrogate", lambda w: envelope("customer.registered", {
        "name": "n", "email": "a\ud800@example.com"}), ["surrogate"]),
    ("reopen reason with NUL", lambda w: envelope("complaint.reopened", {
        "complaint_id": w["resolved"], "reason": NUL}), ["reason", "U+0000"]),
    ("response comment with NUL", lambda w: envelope("survey.answered", {
        "survey_id": w["survey"], "channel": "web", "comment": NUL,
        "answers": [{"question_id": "q1", "value": 4}]}), ["comment", "U+0000"]),
    ("revisit notes with NUL", lambda w: envelope("revisit.completed", {
        "revisit_id": w["revisit"], "outcome": "reached", "notes": NUL}), ["notes", "U+0000"]),
    ("revisit completed in 1899", lambda w: envelope("revisit.completed", {
        "revisit_id": w["revisit"], "outcome": "reached",
        "occurred_at": "1899-12-31T23:59:59Z"}), ["occurred_at", "years"]),
    ("message_id with NUL", lambda w: orjson.dumps({
        "message_id": "m\u0000", "type": "feedback.submitted", "source": "s", "payload": fb()}),
     ["message_id"]),
    ("source with a lone surrogate", lambda w: envelope("feedback.submitted", fb(),
                                                        source="s\udfff"), ["surrogate"]),
    ("complaint id of 65 characters", lambda w: envelope("complaint.reopened", {
        "complaint_id": "c" * 65, "reason": "r"}), ["complaint_id"]),
]


@pytest.mark.parametrize("case, message, says", INBOUND_REFUSALS,
                         ids=[r[0] for r in INBOUND_REFUSALS])
def test_an_inbound_message_with_such_a_value_is_dead_lettered_with_a_readable_reason(
        inbound, runtime, world, case, message, says):
    before = head(runtime)
    with pytest.raises(REFUSED) as caught:
        inbound._parse(record(message(world)))
    reason = _reason(caught.value)
    for word in says:
        assert word in reason, reason
    assert head(runtime) == before


@pytest.mark.parametrize("occurred_at", ["1900-01-01T00:00:00Z", "2026-01-01T00:00:00+14:00",
                                         "2026-01-01T00:00:00-14:00"])
def test_an_inbound_message_at_the_edges_of_the_rules_is_accepted(inbound, world, occurred_at):
    value = envelope("feedback.submitted", fb(department_id=world["dep"], text="好 😀"),
                     occurred_at=occurred_at)
    parsed = inbound._parse(record(value))
    assert parsed.body["occurred_at"].startswith(occurred_at[:19])
    assert parsed.body["text"] == "好 😀"
