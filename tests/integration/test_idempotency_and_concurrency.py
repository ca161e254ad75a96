"""Nothing recorded twice, no update lost: Idempotency-Key and concurrent commands."""
from concurrent.futures import ThreadPoolExecutor

from tests.http_builders import complaint, created, department, uid


def _events(runtime, stream_id: str) -> int:
    with runtime.pool.connection() as conn:
        return conn.execute("SELECT count(*) AS n FROM csm_events WHERE originator_id = %s",
                            (stream_id,)).fetchone()["n"]


def test_the_same_idempotency_key_twice_records_nothing_new(http, runtime):
    dep = department(http)
    key = {"Idempotency-Key": uid("idem-")}
    body = {"channel": "hotline", "department_id": dep, "severity": "low", "description": "x"}
    first = created(http("channel").post("/v1/complaints", json=body, headers=key))
    second = created(http("channel").post("/v1/complaints", json=body, headers=key))
    assert first == second
    assert _events(runtime, first["id"]) == 1


def test_the_same_key_with_another_body_is_refused(http):
    dep = department(http)
    key = {"Idempotency-Key": uid("idem-")}
    created(http("channel").post("/v1/feedback", json={"channel": "web", "kind": "praise",
                                                        "department_id": dep}, headers=key))
    other = http("channel").post("/v1/feedback", json={"channel": "web", "kind": "inquiry",
                                                        "department_id": dep}, headers=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]


def test_idempotency_keys_are_scoped_to_the_api_key(http):
    dep = department(http)
    key = {"Idempotency-Key": uid("idem-")}
    body = {"channel": "web", "kind": "praise", "department_id": dep}
    by_channel = created(http("channel").post("/v1/feedback", json=body, headers=key))
    by_agent = created(http("agent").post("/v1/feedback", json=body, headers=key))
    assert by_channel["id"] != by_agent["id"]


def test_racing_requests_with_one_key_record_once(live, runtime, http):
    dep = department(http)
    key = uid("idem-")
    body = {"complaint_id": uid("cmp-"), "channel": "hotline", "department_id": dep,
            "severity": "low", "description": "x"}

    def send(_):
        with live.client("channel") as c:
            return c.post("/v1/complaints", json=body, headers={"Idempotency-Key": key})
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["position"] for a in answers}) == 1
    assert _events(runtime, body["complaint_id"]) == 1


def test_twenty_threads_acting_on_one_complaint_lose_no_update(live, runtime, http):
    dep = department(http)
    cid = complaint(http, dep)["id"]
    created(http("agent").post(f"/v1/complaints/{cid}/acknowledge", json={}))

    def act(i):
        with live.client("agent") as c:
            if i % 2:
                return "assign", c.post(f"/v1/complaints/{cid}/assign", json={"handler": f"h{i}"})
            return "escalate", c.post(f"/v1/complaints/{cid}/escalate", json={"reason": f"r{i}"})
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(act, range(20)))
    assert all(r.status_code in (201, 409) for _, r in results), [r.text for _, r in results]
    assigned = sum(1 for kind, r in results if kind == "assign" and r.status_code == 201)
    escalated = sum(1 for kind, r in results if kind == "escalate" and r.status_code == 201)
    assert escalated == 3
    events = http("auditor").get(f"/v1/audit/streams/{cid}/events").json()["items"]
    types = [e["type"] for e in events]
    assert types.count("complaint.assigned") == assigned
    assert types.count("complaint.escalated") == 3
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert len({r.json()["position"] for _, r in results if r.status_code == 201}) == assigned + 3
    levels = [e["data"]["level"] for e in events if e["type"] == "complaint.escalated"]
    assert levels == [1, 2, 3]
