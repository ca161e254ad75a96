"""The `csm` command line as an operator runs it: --version, verify, the generated key."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import psycopg
import pytest

from csm.consumers.composition import start_runtime
from csm.domain.commands import RegisterDepartment
from bench.stack import API_KEYS, new_database, settings_for
from tests.csm_process import csm_env, run_csm
from tests.http_builders import uid


def test_csm_version_names_the_version(tmp_path):
    done = run_csm("--version", env=csm_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"csm, version \d+\.\d+\.\d+\S*\n", done.stdout)


@pytest.fixture
def three_events(pg_server, tmp_path) -> str:
    """The URL of a database of its own holding three recorded events."""
    url = new_database(pg_server)
    rt = start_runtime(settings_for(url, tmp_path / "writer"))
    try:
        for _ in range(3):
            rt.app.handle(RegisterDepartment(department_id=uid("dep-"), name="Hotline",
                                                satisfaction_target=80, now=datetime.now(UTC)))
    finally:
        rt.close()
    return url


def _verify(url: str, data_dir) -> tuple[int, dict, str]:
    done = run_csm("verify", env=csm_env(data_dir, url, CSM_API_KEYS=API_KEYS))
    return done.returncode, json.loads(done.stdout), done.stderr


def test_csm_verify_prints_its_report_as_json_and_counts_every_event(three_events, tmp_path):
    code, report, progress = _verify(three_events, tmp_path)
    assert code == 0
    assert report == {"ok": True, "events_checked": 3, "first_bad_position": None,
                      "reason": None, "sealed_from": 1, "gaps": 0, "checkpoints_checked": 0}
    assert "verify: 3 events" in progress


def test_csm_verify_exits_1_naming_the_first_edited_event(three_events, tmp_path):
    with psycopg.connect(three_events, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # bypass our triggers
        conn.execute("UPDATE csm_events SET state = convert_to(replace(convert_from(state, "
                     "'UTF8'), 'Hotline', 'Hotlime'), 'UTF8') WHERE notification_id = 2")
    code, report, progress = _verify(three_events, tmp_path)
    assert code == 1
    assert (report["ok"], report["events_checked"], report["first_bad_position"]) == (False, 2, 2)
    assert "edited" in report["reason"]
    assert "verify: 2 events" in progress


def test_a_restart_says_where_the_generated_admin_key_is_kept(pg_server, tmp_path):
    env = csm_env(tmp_path, new_database(pg_server))
    first, second = run_csm("verify", env=env), run_csm("verify", env=env)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    path = tmp_path / "admin.key"
    key = path.read_text().strip()
    assert key in first.stderr
    assert f"admin API key kept in {path}" in second.stderr
    assert key not in second.stderr
