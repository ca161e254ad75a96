"""GET /v1/audit/streams/{id}/state: the aggregate as it was at a moment or a version, equal
to the one rebuilt by hand from its first events; personal fields masked as elsewhere."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.encoders import jsonable_encoder

from tests.http_builders import complaint, created, customer, department


@pytest.fixture
def story(http, runtime):
    """A complaint through six events, and the stored events of its stream."""
    dep, other = department(http), department(http)
    cus = customer(http)
    cid = complaint(http, dep, customer_id=cus)["id"]
    agent = http("agent")
    for path, body in [("acknowledge", {}), ("assign", {"department_id": other, "handler": "zhao"}),
                       ("escalate", {"reason": "called twice"}), ("resolve", {"resolution": "Fixed"}),
                       ("reopen", {"reason": "Leaks again"})]:
        created(agent.post(f"/v1/complaints/{cid}/{path}", json=body))
    recorded = http("auditor").get(f"/v1/audit/streams/{cid}/events").json()["items"]
    return cid, recorded, list(runtime.app.events.get(cid))


def by_hand(events) -> dict:
    """The aggregate from its first events, each applied in turn."""
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return jsonable_encoder({k: v for k, v in vars(aggregate).items() if not k.startswith("_")})


def state(http, stream_id: str, role: str = "auditor", **params):
    return http(role).get(f"/v1/audit/streams/{stream_id}/state", params=params)


def test_the_state_at_each_version_and_each_recorded_moment_equals_the_aggregate_rebuilt_by_hand(
        http, story):
    cid, recorded, events = story
    assert [e["version"] for e in recorded] == list(range(1, 7))

    for item in recorded:
        v = item["version"]
        expected = {"stream_id": cid, "kind": "complaint", "version": v,
                    "recorded_at": item["recorded_at"], "state": by_hand(events[:v])}
        assert state(http, cid, version=v).json() == expected
        assert state(http, cid, as_of=item["recorded_at"]).json() == expected
        between = datetime.fromisoformat(item["recorded_at"]) + timedelta(microseconds=1)
        assert state(http, cid, as_of=between.isoformat()).json() == expected
    assert state(http, cid).json()["version"] == 6


def test_a_moment_before_the_first_event_or_a_version_beyond_the_last_is_404(http, story):
    cid, recorded, _ = story
    before = datetime.fromisoformat(recorded[0]["recorded_at"]) - timedelta(microseconds=1)

    assert state(http, cid, as_of=before.isoformat()).status_code == 404
    assert state(http, cid, version=7).status_code == 404
    assert state(http, "no-such-stream").status_code == 404


def test_as_of_and_version_together_or_a_naive_as_of_are_refused_with_422(http, story):
    cid, recorded, _ = story

    both = state(http, cid, version=1, as_of=recorded[0]["recorded_at"])
    naive = state(http, cid, as_of="2026-01-01T00:00:00")

    assert (both.status_code, naive.status_code) == (422, 422)
    assert both.json()["errors"][0]["loc"] == ["query", "version"]


def test_personal_fields_are_masked_for_auditors_and_shown_to_agents(http):
    cus = customer(http, name="Zhang Wei", email="zw@example.com", phone="+86 10 5555 0000")

    audited = state(http, cus).json()["state"]
    seen = state(http, cus, role="admin").json()["state"]

    assert {k: audited[k] for k in ("name", "email", "phone")} == {
        "name": "***", "email": "***", "phone": "***"}
    assert {k: seen[k] for k in ("name", "email", "phone", "tier")} == {
        "name": "Zhang Wei", "email": "zw@example.com", "phone": "+86 10 5555 0000",
        "tier": "standard"}
    assert state(http, cus, role="agent").status_code == 403


def test_after_erasure_no_past_state_shows_the_customers_personal_data(http, runtime):
    cus = customer(http, name="Liu Yang", email="ly@example.com")
    registered = state(http, cus, role="admin").json()
    created(http("admin").post(f"/v1/customers/{cus}/erase", json={"reason": "request"}))

    past = state(http, cus, role="admin", version=1).json()

    assert past["recorded_at"] == registered["recorded_at"]
    assert (past["state"]["name"], past["state"]["email"]) == (None, None)
