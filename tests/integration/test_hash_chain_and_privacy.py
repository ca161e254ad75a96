"""A whole story leaves the chain intact; personal data never lies in clear in the event store
(tampering: test_tamper_evidence.py)."""
import pytest

from csm.infra.chain import verify_chain
from bench.stack import LiveServer
from tests.http_builders import created

SECRETS = ["Zhou Xiaoming", "zhou.xm@example.org", "+86 21 5555 0101",
           "The courier shouted at my mother", "Still broken after repair",
           "Call me after 6pm please", "He sounded upset about the refund"]


@pytest.fixture
def loaded(fresh_runtime):
    """A database with one customer's whole story, through HTTP."""
    server = LiveServer(fresh_runtime)
    with server.client("admin") as c:
        dep = created(c.post("/v1/departments", json={"name": "Logistics"}))["id"]
        cus = created(c.post("/v1/customers", json={
            "name": SECRETS[0], "email": SECRETS[1], "phone": SECRETS[2]}))["id"]
        cid = created(c.post("/v1/complaints", json={
            "customer_id": cus, "channel": "hotline", "department_id": dep,
            "severity": "medium", "description": SECRETS[3]}))["id"]
        created(c.post(f"/v1/complaints/{cid}/acknowledge", json={}))
        created(c.post(f"/v1/complaints/{cid}/resolve", json={"resolution": "Apologised"}))
        created(c.post(f"/v1/complaints/{cid}/reopen", json={"reason": SECRETS[4]}))
        sid = created(c.post("/v1/surveys", json={"name": "s", "questions": [
            {"question_id": "q", "dimension": "service_attitude", "scale": "likert5"}]}))["id"]
        created(c.post(f"/v1/surveys/{sid}/responses", json={
            "customer_id": cus, "channel": "web", "answers": [{"question_id": "q", "value": 2}],
            "comment": SECRETS[5]}))
        created(c.post("/v1/feedback", json={"customer_id": cus, "channel": "web",
                                              "kind": "criticism", "text": SECRETS[6]}))
    server.stop()
    return fresh_runtime, cus


def _raw_store(rt) -> bytes:
    with rt.pool.connection() as conn:
        rows = conn.execute("SELECT originator_id, topic, state FROM csm_events").fetchall()
    return b"\n".join(r["originator_id"].encode() + r["topic"].encode() + bytes(r["state"])
                      for r in rows)


def test_no_personal_data_appears_in_clear_in_the_events_table(loaded):
    rt, _ = loaded
    raw = _raw_store(rt)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    assert b'"_pii"' in raw


def test_the_chain_is_intact_after_a_whole_story(loaded):
    rt, _ = loaded
    report = verify_chain(rt.pool, rt.audit)
    assert report.ok and report.events_checked == 10  # with the revisit the resolution scheduled


def test_erasure_makes_every_personal_field_unreadable(loaded):
    rt, cus = loaded
    server = LiveServer(rt)
    try:
        with server.client("admin") as c:
            created(c.post(f"/v1/customers/{cus}/erase", json={"reason": "request"}))
            rt.app.repository.cache.cache.clear() if rt.app.repository.cache else None
            rt.app.keys._cache.clear()
            everything = [c.get(f"/v1/audit/streams/{s}/events").json() for s in _streams(rt)]
    finally:
        server.stop()
    text = str(everything)
    for secret in SECRETS:
        assert secret not in text, secret
    assert verify_chain(rt.pool, rt.audit).ok


def _streams(rt) -> list[str]:
    with rt.pool.connection() as conn:
        return [r["originator_id"] for r in conn.execute(
            "SELECT DISTINCT originator_id FROM csm_events").fetchall()]
