"""Signed checkpoints: made every N events or S seconds, never over a broken log, served with
the public key, published to csm.audit, and checked by `csm verify --checkpoint` with the
public key alone."""
from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import REGISTRY

from csm.domain import commands as c
from csm.consumers.audit_topic import AuditTopic
from csm.infra.checkpointer import Checkpointer
from tests.conftest import LiveServer
from tests.http_builders import uid
from tests.integration.test_tamper_evidence import sql
from tests.events_topic import consume_all
from tests.kafka_fixtures import kafka_broker  # noqa: F401  (the session fixture)


def departments(rt, n: int) -> None:
    for _ in range(n):
        rt.app.handle(c.RegisterDepartment(now=datetime.now(UTC), department_id=uid("dep-"),
                                           name="Hotline", satisfaction_target=80))


def test_a_checkpoint_is_signed_every_n_events_or_s_seconds_and_only_when_events_arrived(
        fresh_runtime):
    rt = fresh_runtime
    checkpointer = Checkpointer(rt.pool, rt.audit, every_events=3, every_seconds=600)
    assert checkpointer.make_once() is None  # nothing recorded yet
    departments(rt, 1)
    first = checkpointer.make_once()  # the first comes at once

    departments(rt, 2)
    too_soon = checkpointer.make_once()
    departments(rt, 1)
    by_count = checkpointer.make_once()
    unchanged = checkpointer.make_once(force=True)
    departments(rt, 1)
    later = datetime.fromisoformat(by_count.at) + timedelta(seconds=601)
    by_time = checkpointer.make_once(now=later)

    assert (first.position, too_soon, by_count.position, unchanged, by_time.position) == (
        1, None, 4, None, 5)
    assert {first.kind, by_count.kind, by_time.kind} == {"periodic"}


def test_checkpoints_and_the_public_key_served_check_with_any_ed25519_library(fresh_runtime):
    rt = fresh_runtime
    departments(rt, 2)
    made = Checkpointer(rt.pool, rt.audit, 1, 1).make_once()
    server = LiveServer(rt)
    try:
        with server.client("auditor") as auditor:
            items = auditor.get("/v1/audit/checkpoints").json()["items"]
            key = auditor.get("/v1/audit/public-key").json()
    finally:
        server.stop()

    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    [cp] = items
    public.verify(base64.b64decode(cp["signature"]),
                  f"csm-checkpoint/1 {cp['kind']} {cp['position']} {cp['hash']} {cp['at']}"
                  .encode())
    assert cp == made.as_dict() and cp["key_id"] == key["key_id"]
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_the_checkpointer_refuses_to_sign_a_log_written_without_csm_and_stops(fresh_runtime):
    rt = fresh_runtime
    departments(rt, 2)
    checkpointer = Checkpointer(rt.pool, rt.audit, 1, 1, status=rt.part("checkpoints"))
    checkpointer.make_once()
    departments(rt, 1)
    sql(rt, "INSERT INTO csm_events (originator_id, originator_version, topic, state) "
            "SELECT 'dep-planted', 1, topic, state FROM csm_events WHERE notification_id = 1")

    runner = threading.Thread(target=checkpointer.run, args=(threading.Event(),))
    runner.start()
    runner.join(timeout=30)

    assert not runner.is_alive()
    assert (checkpointer.failure.first_bad_position, checkpointer.failure.reason[:19]) == (
        4, "the event has no se")
    assert REGISTRY.get_sample_value("csm_audit_chain_intact") == 0
    with rt.pool.connection() as conn:
        assert conn.execute("SELECT max(position) AS p FROM csm_checkpoints").fetchone()["p"] == 2
    status, body = _ready_once_the_heartbeat_is_written(rt)
    assert status == 503
    assert any(p.startswith("checkpoints failed since ") and
               "stopped: the chain breaks at position 4: the event has no seal" in p
               for p in body["problems"]), body["problems"]


def _ready_once_the_heartbeat_is_written(rt) -> tuple[int, dict]:
    deadline = time.monotonic() + 15
    while True:
        status, body = rt.readiness()
        if any(p["part"] == "checkpoints" and p["state"] == "failed" for p in body["parts"]) \
                or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


def test_with_kafka_each_checkpoint_is_published_to_the_audit_topic_once(fresh_runtime,
                                                                         kafka_broker):
    rt, topic = fresh_runtime, f"csm.audit.{uid()}"
    publisher = AuditTopic(kafka_broker.bootstrap_servers, topic)
    checkpointer = Checkpointer(rt.pool, rt.audit, 1, 1, publisher.publish)
    try:
        made = []
        for n in (2, 1):
            departments(rt, n)
            made.append(checkpointer.make_once())
            publisher.publish(rt.pool)
        assert publisher.publish(rt.pool) == 0
    finally:
        publisher.close()

    records = consume_all(kafka_broker.bootstrap_servers, topic)
    assert [(r.key, orjson.loads(r.value)) for r in records] == [
        (b"checkpoint", cp.as_dict()) for cp in made]
