"""A restart keeps everything; with PostgreSQL stopped the API answers 503 and writes nothing."""
import time

import psycopg
import pytest

from csm.infra.chain import verify_chain
from csm.infra.database import EmbeddedPostgres
from csm.consumers.composition import start_runtime
from bench.stack import LiveServer, settings_for
from tests.http_builders import created, uid


@pytest.fixture
def own_server(tmp_path):
    server = EmbeddedPostgres(tmp_path / "data")
    yield server
    server.stop()


def _count(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT count(*) FROM csm_events").fetchone()[0]
        keys = conn.execute("SELECT count(*) FROM csm_idempotency").fetchone()[0]
    return {"events": events, "idempotency": keys}


def test_a_restart_keeps_every_event_and_the_chain(own_server, tmp_path):
    rt = start_runtime(settings_for(own_server.url, tmp_path))
    server = LiveServer(rt)
    with server.client("admin") as c:
        dep = created(c.post("/v1/departments", json={"name": "R&D"}))["id"]
        cid = created(c.post("/v1/complaints", json={
            "channel": "web", "department_id": dep, "severity": "low", "description": "x"}))["id"]
    server.stop()
    rt.close()
    own_server.stop()

    restarted = EmbeddedPostgres(tmp_path / "data")
    rt = start_runtime(settings_for(restarted.url, tmp_path))
    server = LiveServer(rt)
    try:
        with server.client("admin") as c:
            created(c.post(f"/v1/complaints/{cid}/acknowledge", json={}))
            assert c.get(f"/v1/complaints/{cid}").json()["status"] == "acknowledged"
        assert verify_chain(rt.pool, rt.audit).as_dict() == {
            "ok": True, "events_checked": 3, "first_bad_position": None, "reason": None,
            "sealed_from": 1, "gaps": 0, "checkpoints_checked": 0}
    finally:
        server.stop()
        rt.close()


def test_with_postgres_stopped_the_api_answers_503_and_writes_nothing(own_server, tmp_path):
    rt = start_runtime(settings_for(own_server.url, tmp_path))
    server = LiveServer(rt)
    try:
        with server.client("admin") as c:
            dep = created(c.post("/v1/departments", json={"name": "Production"}))["id"]
            before = _count(own_server.url)
            own_server.server.stop()
            key = {"Idempotency-Key": uid("k-")}
            body = {"channel": "web", "department_id": dep, "severity": "high", "description": "x"}
            for _ in range(3):
                down = c.post("/v1/complaints", json=body, headers=key)
                assert down.status_code == 503, down.text
                assert down.headers["content-type"] == "application/problem+json"
                assert down.headers["retry-after"]
            assert c.get("/ready").status_code == 503
            assert c.get("/health").status_code == 200

            own_server.server.start()
            assert _count(own_server.url) == before
            deadline = time.time() + 30
            while (up := c.post("/v1/complaints", json=body, headers=key)).status_code == 503:
                assert time.time() < deadline, "the API did not recover on its own"
                time.sleep(0.5)
            assert up.status_code == 201
            again = c.post("/v1/complaints", json=body, headers=key)
            assert again.json() == up.json()
            assert _count(own_server.url) == {"events": before["events"] + 1,
                                              "idempotency": before["idempotency"] + 1}
            assert c.get("/ready").status_code == 200
        assert verify_chain(rt.pool, rt.audit).ok
    finally:
        server.stop()
        rt.close()
