"""Contract details over HTTP: where a 422 points, query parameters in their sets, the key
checked before the body, one 413, 405 with Allow, a slow body dropped."""
from __future__ import annotations

import json
import re
import select
import socket
import time

import pytest

from csm.api.deps import is_public
from bench.stack import LiveServer, new_database, settings_for
from tests.http_builders import created, department, survey, uid

PROBLEM = "application/problem+json"


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://csm.dev/problems/")
    return body


def _locs(response, status: int = 422) -> list[list]:
    return [e["loc"] for e in _problem(response, status)["errors"]]


# -- a domain-level 422 says where -------------------------------------------------------

@pytest.mark.parametrize(("answers", "loc"), [
    ([{"question_id": "q1", "value": 6}], ["body", "answers", 0, "value"]),
    ([{"question_id": "q1", "value": 3}, {"question_id": "q2", "value": 11}],
     ["body", "answers", 1, "value"]),
    ([{"question_id": "q1", "value": 3}, {"question_id": "q9", "value": 3}],
     ["body", "answers", 1, "question_id"]),
    ([{"question_id": "q1", "value": 3}, {"question_id": "q1", "value": 4}],
     ["body", "answers", 1, "question_id"]),
])
def test_a_survey_answer_the_domain_refuses_names_the_value_in_errors(http, answers, loc):
    sid = survey(http)
    response = http("channel").post(f"/v1/surveys/{sid}/responses",
                                    json={"channel": "web", "answers": answers})
    body = _problem(response, 422)
    assert body["errors"] == [{"loc": loc, "msg": body["detail"]}]


def test_a_survey_with_a_question_twice_names_the_second_one(http):
    question = {"question_id": "q1", "dimension": "experience", "scale": "likert5"}
    response = http("admin").post("/v1/surveys", json={
        "name": "Twice", "questions": [question, question]})
    assert _locs(response) == [["body", "questions", 1, "question_id"]]


def test_an_occurred_at_too_far_ahead_names_occurred_at(http):
    response = http("channel").post("/v1/feedback", json={
        "channel": "web", "kind": "praise", "occurred_at": "2999-01-01T00:00:00Z"})
    assert _locs(response) == [["body", "occurred_at"]]


def test_complaint_feedback_without_a_department_names_department_id(http):
    response = http("channel").post("/v1/feedback", json={"channel": "web", "kind": "complaint"})
    assert _locs(response) == [["body", "department_id"]]


# -- query parameters stay within their sets ---------------------------------------------

@pytest.mark.parametrize(("path", "params", "param"), [
    ("/v1/satisfaction", {"group_by": "colour"}, "group_by"),
    ("/v1/satisfaction", {"group_by": "department,department"}, "group_by"),
    ("/v1/satisfaction", {"group_by": ""}, "group_by"),
    ("/v1/satisfaction", {"group_by": "department,,channel"}, "group_by"),
    ("/v1/feedback/stats", {"group_by": "tier"}, "group_by"),
    ("/v1/complaints/stats", {"group_by": "dimension"}, "group_by"),
    ("/v1/satisfaction", {"tier": "gold"}, "tier"),
    ("/v1/satisfaction", {"period": "decade"}, "period"),
    ("/v1/satisfaction", {"channel": "Not a slug"}, "channel"),
    ("/v1/satisfaction", {"dimension": "a b"}, "dimension"),
    ("/v1/satisfaction", {"department_id": "bad id!"}, "department_id"),
    ("/v1/satisfaction", {"survey_id": "s" * 65}, "survey_id"),
    ("/v1/feedback/stats", {"kind": "nonsense"}, "kind"),
    ("/v1/complaints/stats", {"severity": "urgent"}, "severity"),
    ("/v1/revisits/stats", {"reason": "boredom"}, "reason"),
    ("/v1/complaints/backlog", {"status": "nonsense"}, "status"),
    ("/v1/complaints/backlog", {"department_id": "a/b"}, "department_id"),
    ("/v1/improvement-actions", {"status": "nonsense"}, "status"),
    ("/v1/departments/scores", {"department_id": "é"}, "department_id"),
    ("/v1/satisfaction", {"from": "2026-02-01", "to": "2026-01-31"}, "from"),
    # Dates are YYYY-MM-DD and nothing else: "0" is not the first day of 1970.
    ("/v1/satisfaction", {"to": "0"}, "to"),
    ("/v1/complaints/stats", {"to": "0"}, "to"),
    ("/v1/feedback/stats", {"from": "1780000000"}, "from"),
    ("/v1/departments/scores", {"to": "2026-1-31"}, "to"),
    ("/v1/revisits/stats", {"from": "2026-01-31T00:00:00Z"}, "from"),
    ("/v1/departments/d1/ledger", {"to": "0"}, "to"),
    ("/v1/complaints/backlog", {"as_of": "0.5"}, "as_of"),
    ("/v1/complaints/backlog", {"as_of": "1780000000"}, "as_of"),
    ("/v1/complaints/backlog", {"as_of": "2026-01-31 10:00:00+08:00"}, "as_of"),
    # A repeated parameter is refused, not read as its last value.
    ("/v1/satisfaction", {"min_position": ["1", "2"]}, "min_position"),
    ("/v1/satisfaction", {"tier": ["standard", "high_value"]}, "tier"),
    ("/v1/complaints/backlog", {"limit": ["1", "2"]}, "limit"),
    ("/v1/improvement-actions", {"status": ["raised", "raised"]}, "status"),
    ("/v1/feedback/stats", {"from": ["2026-01-01", "2026-01-02"]}, "from"),
])
def test_a_query_parameter_outside_its_set_is_422_naming_it(http, path, params, param):
    assert ["query", param] in _locs(http("manager").get(path, params=params))


@pytest.mark.parametrize("params", [
    {"from": "2026-01-01", "to": "2026-12-31"}, {"group_by": "department,channel"},
    {"as_of": "2026-01-31T10:00:00.5+08:00"}, {"as_of": "2026-01-31t02:00:00z"}])
def test_well_formed_dates_timestamps_and_group_by_names_are_answered(http, params):
    path = "/v1/complaints/backlog" if "as_of" in params else "/v1/feedback/stats"
    response = http("manager").get(path, params=params)
    assert response.status_code == 200, response.text


def test_a_role_that_may_not_read_is_403_before_its_repeated_parameter_is_looked_at(http):
    response = http("channel").get("/v1/satisfaction", params={"min_position": ["1", "2"]})
    _problem(response, 403)


def test_a_backlog_as_of_without_an_offset_is_422(http):
    response = http("agent").get("/v1/complaints/backlog", params={"as_of": "2026-01-01T10:00"})
    assert ["query", "as_of"] in _locs(response)


@pytest.mark.parametrize(("path", "param", "schema"), [
    ("/v1/satisfaction", "tier", {"enum": ["standard", "high_value"], "type": "string"}),
    ("/v1/feedback/stats", "kind", {"enum": ["praise", "suggestion", "criticism", "inquiry",
                                             "complaint"], "type": "string"}),
    ("/v1/complaints/backlog", "status", {"enum": ["open", "acknowledged", "awaiting_customer",
                                                   "resolved", "reopened", "closed"],
                                          "type": "string"}),
])
def test_the_openapi_declares_the_set_of_each_query_parameter(live, path, param, schema):
    declared = _parameter(live, path, param)["schema"]
    assert {k: v for k, v in declared["anyOf"][0].items() if k != "title"} == schema


def test_the_openapi_declares_group_by_as_one_comma_separated_list_of_distinct_names(live):
    declared = _parameter(live, "/v1/feedback/stats", "group_by")
    assert (declared["style"], declared["explode"]) == ("form", False)
    assert {k: v for k, v in declared["schema"].items() if k != "description"} == {
        "type": "array", "items": {"type": "string", "enum": ["department", "channel", "kind"]},
        "minItems": 1, "uniqueItems": True}


def _parameter(live, path: str, name: str) -> dict:
    with live.client() as anonymous:
        operation = anonymous.get("/openapi.json").json()["paths"][path]["get"]
    return next(p for p in operation["parameters"] if p["name"] == name)


@pytest.mark.parametrize("group_by", ["department", "department,channel,dimension,survey,tier"])
def test_group_by_names_of_the_query_are_accepted(http, group_by):
    response = http("manager").get("/v1/satisfaction", params={"group_by": group_by})
    assert response.status_code == 200, response.text


def test_a_min_position_beyond_64_bits_is_422_at_once(http):
    started = time.monotonic()
    response = http("manager").get("/v1/satisfaction", params={"min_position": 2**63})
    assert ["query", "min_position"] in _locs(response)
    assert time.monotonic() - started < 2


def test_the_ledger_of_an_unknown_department_is_404(http):
    _problem(http("manager").get(f"/v1/departments/{uid('nobody-')}/ledger"), 404)


def test_the_ledger_of_a_known_department_without_lines_is_empty(http):
    response = http("manager").get(f"/v1/departments/{department(http)}/ledger")
    assert response.status_code == 200 and response.json() == {"items": []}


# -- the key is checked before the body is read ------------------------------------------

@pytest.mark.parametrize("content", [b'{"channel": "hot', b"[" * 5000, b"x" * (2 * 1024 * 1024)])
def test_a_post_without_a_key_is_401_whatever_its_body(live, content):
    with live.client() as anonymous:
        response = anonymous.post("/v1/feedback", content=content,
                                  headers={"content-type": "application/json"})
    _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_unknown_key_is_401_with_a_bearer_challenge(live):
    with live.client() as anonymous:
        response = anonymous.get("/v1/satisfaction", headers={"Authorization": "Bearer nope"})
    _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_route_outside_the_public_paths_needs_a_key(live):
    with live.client() as anonymous:
        paths = anonymous.get("/openapi.json").json()["paths"]
        for path, operations in paths.items():
            url = re.sub(r"\{[^}]+\}", "x", path)
            for method in operations:
                status = anonymous.request(method, url, json={}).status_code
                assert (status == 401) is not is_public(path), (method, path, status)


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/openapi.json", "/docs",
                                  "/redoc"])
def test_health_metrics_and_docs_need_no_key(live, path):
    with live.client() as anonymous:
        assert anonymous.get(path).status_code == 200


@pytest.mark.parametrize(("role", "status"), [
    ("agent", 200), ("manager", 200), ("auditor", 200), ("admin", 200), ("channel", 403)])
def test_the_policy_is_read_by_every_role_but_channel(http, role, status):
    assert http(role).get("/v1/policy").status_code == status


# -- one 413, 405 with Allow, a slow body dropped ----------------------------------------

def test_a_body_over_the_limit_is_one_problem_type_whether_declared_or_streamed(http):
    big = b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    def streamed():
        yield big
    declared = http("channel").post("/v1/feedback", content=big,
                                    headers={"content-type": "application/json"})
    chunked = http("channel").post("/v1/feedback", content=streamed(),
                                   headers={"content-type": "application/json"})
    assert _problem(declared, 413)["type"] == _problem(chunked, 413)["type"] \
        == "https://csm.dev/problems/too-large"


def test_a_method_the_route_does_not_have_is_405_with_allow(http):
    response = http("admin").delete("/v1/departments")
    _problem(response, 405)
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/v1/policy", "GET, PUT"),
    ("DELETE", "/v1/policy", "GET, PUT"),
    ("OPTIONS", "/v1/improvement-actions", "GET, POST"),
    ("PATCH", "/v1/complaints", "POST"),
])
def test_the_allow_of_a_405_lists_every_method_the_path_has(http, method, path, allow):
    response = http("admin").request(method, path)
    _problem(response, 405)
    assert response.headers["allow"] == allow


@pytest.fixture(scope="module")
def impatient(pg_server, tmp_path_factory):
    """The API with a body timeout of one second."""
    from csm.consumers.composition import start_runtime
    rt = start_runtime(settings_for(new_database(pg_server), tmp_path_factory.mktemp("slow"),
                                    csm_body_timeout_seconds=1))
    server = LiveServer(rt)
    yield server
    server.stop()
    rt.close()


def _trickle(sock: socket.socket, body: bytes, pause: float, started: float,
             quiet_after: float) -> float:
    """Sends `body` a byte per `pause` until the server answers; how long since `started`.

    After `quiet_after` seconds it only waits: a byte arriving as the server hangs up would
    make its kernel reset the connection and drop the answer on the way."""
    for byte in body:
        if select.select([sock], [], [], pause)[0]:
            return time.monotonic() - started
        if time.monotonic() - started < quiet_after:
            sock.sendall(bytes([byte]))
    raise AssertionError("the server waited for the whole body")


def _read_all(sock: socket.socket, limit: float) -> bytes:
    sock.settimeout(limit)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_body_that_trickles_in_is_dropped_with_408(impatient):
    body = b'{"channel": "web", "kind": "praise", "text": "' + b"s" * 60 + b'"}'
    with socket.create_connection(("127.0.0.1", impatient.port)) as sock:
        # Before the head is sent: the server's clock cannot start earlier than that.
        started = time.monotonic()
        sock.sendall(b"POST /v1/feedback HTTP/1.1\r\nHost: csm\r\n"
                     b"Authorization: Bearer key-channel\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        waited = _trickle(sock, body, pause=0.25, started=started, quiet_after=0.75)
        answer = _read_all(sock, limit=5)  # then the server hangs up
    assert 1 <= waited < 5
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in head
    assert json.loads(body)["type"] == "https://csm.dev/problems/body-too-slow"


def test_a_body_that_arrives_in_time_is_recorded(impatient):
    with impatient.client("channel") as c:
        created(c.post("/v1/feedback", json={"channel": "web", "kind": "praise"}))
