"""Signed checkpoints: made every N events or S seconds, never over a broken log, served with
the public key, published to csm.audit, and checked by `csm verify --checkpoint` with the
public key alone."""
from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import REGISTRY

from csm.domain import commands as c
from csm.infra.checkpointer import AuditTopic, Checkpointer
from tests.conftest import LiveServer
from tests.csm_process import run_csm
from tests.http_builders import uid
from tests.integration.test_tamper_evidence import record_history, rewrite_from, sql
from tests.kafka_fixtures import consume_all, kafka_broker  # noqa: F401  (session fixture)


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
    checkpointer = Checkpointer(rt.pool, rt.audit, 1, 1)
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


def test_with_kafka_each_checkpoint_is_published_to_the_audit_topic_once(fresh_runtime,
                                                                         kafka_broker):
    rt, topic = fresh_runtime, f"csm.audit.{uid()}"
    publisher = AuditTopic(kafka_broker.bootstrap_servers, topic)
    checkpointer = Checkpointer(rt.pool, rt.audit, 1, 1, publisher)
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


def outsider_env(url: str, data_dir) -> dict[str, str]:
    """An auditor's environment: the database and nothing of csm's keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSM_")}
    return {**env, "DATABASE_URL": url, "CSM_DATA_DIR": str(data_dir)}


@pytest.fixture
def saved_checkpoint(fresh_runtime, tmp_path):
    """A store with a history, a checkpoint and the public key saved to files from the API."""
    rt = fresh_runtime
    history = record_history(rt)
    Checkpointer(rt.pool, rt.audit, 1, 1).make_once()
    server = LiveServer(rt)
    try:
        with server.client("auditor") as auditor:
            (tmp_path / "checkpoints.json").write_text(
                auditor.get("/v1/audit/checkpoints").text)
            (tmp_path / "key.json").write_text(auditor.get("/v1/audit/public-key").text)
    finally:
        server.stop()
    return rt, history


def verify_as_outsider(rt, tmp_path) -> tuple[int, dict, str]:
    done = run_csm("verify", "--checkpoint", str(tmp_path / "checkpoints.json"),
                   "--public-key", str(tmp_path / "key.json"),
                   env=outsider_env(rt.url, tmp_path / "outsider"))
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_csm_verify_with_a_saved_checkpoint_and_the_public_key_alone_proves_the_log_extends_it(
        saved_checkpoint, tmp_path):
    rt, history = saved_checkpoint

    code, report, progress = verify_as_outsider(rt, tmp_path)

    assert (code, report["ok"], report["checkpoints_checked"]) == (0, True, 1)
    assert report["events_checked"] == len(history.positions)
    assert f"verify: {len(history.positions)} events" in progress


def test_csm_verify_with_a_saved_checkpoint_finds_a_rewrite_that_recomputed_every_hash(
        saved_checkpoint, tmp_path):
    rt, history = saved_checkpoint
    sql(rt, rewrite_from(history.positions[2]))

    code, report, _ = verify_as_outsider(rt, tmp_path)

    assert (code, report["ok"], report["first_bad_position"]) == (1, False,
                                                                 history.positions[-1])
    assert "checkpoint" in report["reason"]


def test_csm_verify_refuses_a_file_that_holds_no_checkpoint(saved_checkpoint, tmp_path):
    rt, _ = saved_checkpoint
    (tmp_path / "checkpoints.json").write_text('{"items": []}')

    done = run_csm("verify", "--checkpoint", str(tmp_path / "checkpoints.json"),
                   "--public-key", str(tmp_path / "key.json"),
                   env=outsider_env(rt.url, tmp_path / "outsider"))

    assert done.returncode == 2 and "holds no checkpoint" in done.stderr


def test_without_the_chain_key_csm_does_not_start_on_an_external_database(fresh_runtime,
                                                                          tmp_path):
    done = run_csm("verify", env=outsider_env(fresh_runtime.url, tmp_path))

    assert done.returncode == 1
    assert "CSM_CHAIN_KEY is required when DATABASE_URL is set" in done.stderr
    assert not (tmp_path / "chain.key").exists()
