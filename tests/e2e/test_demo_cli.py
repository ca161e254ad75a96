"""`csm demo` as an operator runs it: a year loaded once, its summary as one JSON line."""
from __future__ import annotations

import json

from bench.stack import API_KEYS, new_database
from tests.csm_process import csm_env, run_csm

END = "2026-01-31T12:00:00Z"


def test_csm_demo_loads_a_year_once_and_prints_its_summary(pg_server, tmp_path):
    env = csm_env(tmp_path, new_database(pg_server), CSM_API_KEYS=API_KEYS)
    first = run_csm("demo", "--seed", "3", "--end", END, env=env)
    assert first.returncode == 0, first.stderr
    [line] = first.stdout.splitlines()
    summary = json.loads(line)
    assert (summary["loaded"], summary["seed"], summary["end"]) == (
        True, 3, "2026-01-31T12:00:00+00:00")
    assert summary["events"] > 15_000
    assert "demo: 100%" in first.stderr  # the progress bar
    second = run_csm("demo", "--seed", "3", "--end", END, env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["loaded"] is False


def test_csm_demo_refuses_an_end_in_the_future(tmp_path):
    done = run_csm("demo", "--end", "2999-01-01T00:00:00Z", env=csm_env(tmp_path))
    assert done.returncode == 2
    assert "lies in the future" in done.stderr
