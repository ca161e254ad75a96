"""`csm verify --checkpoint FILE --public-key FILE`, run as an auditor with none of csm's keys:
it proves that the log today extends a checkpoint saved earlier, and finds a rewrite."""
from __future__ import annotations

import json
import os

import pytest

from csm.infra.checkpointer import Checkpointer
from tests.conftest import LiveServer
from tests.csm_process import run_csm
from tests.integration.test_tamper_evidence import record_history, rewrite_from, sql


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
