"""Every read-model query answers CSV with `format=csv` or `Accept: text/csv`: the same rows
and values as its JSON, one header line, streamed, with X-CSM-Position."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from csm.api.csv_answers import csv_chunks, csv_rows_answer
from csm.api.report_answers import ImprovementAction
from csm.api.errors import PROBLEM
from tests.http_builders import complaint, created, customer, department, survey


@pytest.fixture(scope="module")
def records(live):
    """One of each kind of record in a department of its own, so every query has rows."""
    clients = {role: live.client(role) for role in ("admin", "agent", "channel", "manager")}
    http = clients.__getitem__
    agent, manager, channel = http("agent"), http("manager"), http("channel")
    dep, cus = department(http), customer(http)
    cmp = complaint(http, dep, customer_id=cus, severity="high")["id"]
    complaint(http, dep, severity="low", occurred_at=(
        datetime.now(UTC) - timedelta(days=10)).isoformat())
    for step, body in (("acknowledge", {}), ("assign", {"handler": "Li Wei, \"senior\""}),
                       ("escalate", {"reason": "no reply"})):
        created(agent.post(f"/v1/complaints/{cmp}/{step}", json=body))
    for kind in ("praise", "complaint"):
        created(channel.post("/v1/feedback", json={
            "channel": "web", "kind": kind, "department_id": dep, "rating": 2}))
    srv = survey(http)
    created(agent.post(f"/v1/surveys/{srv}/invitations", json={"customer_ids": [cus],
                                                              "channel": "email"}))
    for q1, q2 in ((4, 9), (2, 3), (5, 10)):
        created(channel.post(f"/v1/surveys/{srv}/responses", json={
            "customer_id": cus, "department_id": dep, "channel": "web", "answers": [
                {"question_id": "q1", "value": q1}, {"question_id": "q2", "value": q2}]}))
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    created(agent.post("/v1/revisits", json={
        "customer_id": cus, "department_id": dep, "reason": "periodic", "due_at": past}))
    created(manager.post("/v1/improvement-actions", json={
        "department_id": dep, "title": "Call back, within a day\nalways", "due_at": past}))
    action = created(manager.post("/v1/improvement-actions", json={
        "department_id": dep, "title": "Retrain hotline", "due_at": past}))["id"]
    created(manager.post(f"/v1/improvement-actions/{action}/complete"))
    last = created(manager.post(f"/v1/improvement-actions/{action}/verify",
                                json={"effective": True}))
    for client in clients.values():
        client.close()
    return {"department_id": dep, "survey_id": srv, "min_position": last["position"]}


# The backlog's ages are judged at a fixed moment, so that both answers give the same.
AS_OF = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
# path, its parameters (besides those from `records`), the JSON list of the rows
QUERIES = {
    "satisfaction": ("/v1/satisfaction", {"group_by": "department,survey", "period": "year"},
                     "rows"),
    "backlog": ("/v1/complaints/backlog", {"as_of": AS_OF}, "items"),
    "complaint-stats": ("/v1/complaints/stats", {"group_by": "department,severity",
                                                 "period": "year"}, "rows"),
    "feedback-stats": ("/v1/feedback/stats", {"group_by": "kind", "period": "year"}, "rows"),
    "survey-stats": ("/v1/surveys/{survey_id}/stats", None, None),
    "scores": ("/v1/departments/scores", {"period": "year"}, "rows"),
    "ledger": ("/v1/departments/{department_id}/ledger", None, "items"),
    "ledger-limited": ("/v1/departments/{department_id}/ledger", {"limit": 2}, "items"),
    "revisit-stats": ("/v1/revisits/stats", {"period": "year"}, "rows"),
    "improvement-actions": ("/v1/improvement-actions", {}, "items"),
}


def request_of(name: str, records: dict) -> tuple[str, dict]:
    path, params, _ = QUERIES[name]
    params = dict(params) if params is not None else {}
    if "{" not in path:
        params["department_id"] = records["department_id"]
    params["min_position"] = records["min_position"]
    return path.format(**records), params


def as_cell(value) -> str:
    """A JSON value as the CSV answer writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def json_rows(body, listing: str | None) -> list[dict]:
    return [body] if listing is None else body[listing]


def parsed(response) -> tuple[list[str], list[dict]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["X-CSM-Position"].isdigit()
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    return list(reader.fieldnames or []), list(reader)


@pytest.mark.parametrize("name", QUERIES)
def test_the_csv_answer_has_the_rows_and_values_of_the_json_answer(name, http, records):
    path, params = request_of(name, records)
    as_json = http("manager").get(path, params=params)
    assert as_json.status_code == 200, as_json.text
    rows = json_rows(as_json.json(), QUERIES[name][2])
    assert rows, "nothing to compare"
    header, csv_rows = parsed(http("manager").get(path, params={**params, "format": "csv"}))
    assert header == list(rows[0])
    assert csv_rows == [{k: as_cell(v) for k, v in row.items()} for row in rows]


def test_the_nested_values_and_the_flags_are_written_as_json_text_and_true_false(http, records):
    path, params = request_of("satisfaction", records)
    _, rows = parsed(http("manager").get(path, params={**params, "format": "csv"}))
    assert json.loads(rows[0]["dimensions"])["product_quality"]["n"] == 3
    assert len(json.loads(rows[0]["csi_ci95"])) == 2 and "tier" not in rows[0]
    path, params = request_of("improvement-actions", records)
    _, rows = parsed(http("manager").get(path, params={**params, "format": "csv"}))
    assert {r["overdue"] for r in rows} <= {"true", "false"}
    assert {r["effective"] for r in rows} == {"true", ""}
    assert any("\n" in r["title"] for r in rows)


@pytest.mark.parametrize("name", ["satisfaction", "ledger", "survey-stats"])
def test_accept_text_csv_asks_for_csv_too(name, http, records):
    path, params = request_of(name, records)
    by_format = http("manager").get(path, params={**params, "format": "csv"})
    for accept in ("text/csv", "text/csv;q=0.9, application/json;q=0.1"):
        by_accept = http("manager").get(path, params=params, headers={"Accept": accept})
        assert parsed(by_accept) == parsed(by_format)


def test_format_json_wins_over_accept_and_a_refused_csv_stays_json(http, records):
    path, params = request_of("backlog", records)
    for asked in ({"params": {**params, "format": "json"}, "headers": {"Accept": "text/csv"}},
                  {"params": params, "headers": {"Accept": "text/csv;q=0, application/json"}},
                  {"params": params, "headers": {"Accept": "*/*"}}):
        r = http("manager").get(path, **asked)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json()["items"] and r.headers["X-CSM-Position"].isdigit()


def test_an_unknown_format_is_refused_as_a_problem(http):
    r = http("manager").get("/v1/satisfaction", params={"format": "xml"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["loc"] == ["query", "format"]
    r = http("manager").get("/v1/satisfaction", params={"format": ["csv", "json"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "format"]


def test_errors_stay_problems_when_csv_is_asked(http):
    r = http("manager").get("/v1/satisfaction", params={"format": "csv", "snapshot": "nope"})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    r = http("manager").get("/v1/departments/dep-unknown0/ledger",
                            headers={"Accept": "text/csv"})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_no_rows_still_give_the_header_of_the_row_model(http, records):
    r = http("manager").get("/v1/improvement-actions", params={
        "department_id": "dep-nothing0", "format": "csv",
        "min_position": records["min_position"]})
    header, rows = parsed(r)
    assert header == list(ImprovementAction.model_fields) and rows == []


def test_the_writer_streams_chunks_as_they_are_taken():
    pulled = [0]

    def many(n):
        for i in range(n):
            pulled[0] += 1
            yield {"n": i, "name": f"row, {i}", "nested": {"i": [i]}, "ok": i % 2 == 0,
                   "none": None}
    chunks = csv_chunks(many(100_000), chunk_chars=16 * 1024)
    first = next(chunks)
    assert first.startswith('n,name,nested,ok,none\r\n0,"row, 0","{""i"":[0]}",true,\r\n')
    assert pulled[0] < 1000, "the writer read ahead of what was taken"
    count, rows, largest = 1, first.count("\r\n") - 1, len(first)
    for chunk in chunks:
        count, rows, largest = count + 1, rows + chunk.count("\r\n"), max(largest, len(chunk))
    assert pulled[0] == 100_000 and rows == 100_000
    assert count > 100 and largest < 17 * 1024


def test_the_answer_reads_only_the_first_row_before_it_is_sent():
    pulled = [0]

    def rows():
        for i in range(10):
            pulled[0] += 1
            yield {"n": i}
    response = csv_rows_answer(rows(), 7)
    assert pulled[0] == 1 and response.headers["X-CSM-Position"] == "7"
    assert response.media_type.startswith("text/csv")
    assert "".join(csv_chunks(rows(), ["m"])) == "n\r\n" + "".join(f"{i}\r\n" for i in range(10))
    assert "".join(csv_chunks([], ["a", "b"])) == "a,b\r\n" and "".join(csv_chunks([])) == ""
