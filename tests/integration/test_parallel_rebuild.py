"""A rebuild shared among processes equals one made in a single process, row for row, and a
projection failing in another process fails the rebuild as it would here."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.synthetic import generate
from csm.projections import parallel_build
from csm.projections.rebuild import rebuild
from csm.projections.registry import ALL
from csm.projections.store import head_position
from tests.integration.test_runner_isolation import (  # noqa: F401  (store: a fixture)
    assert_rebuild_fails_at_feedback,
    store,
)
from tests.read_model_checks import differences


@pytest.fixture
def shared_out(monkeypatch):
    """Every replay split among two processes, however few its events."""
    monkeypatch.setattr(parallel_build, "PARALLEL_FROM", 0)
    monkeypatch.setattr(parallel_build, "PROCESSES", 2)


def test_the_groups_share_the_cost_and_keep_a_patched_projection_here(monkeypatch):
    groups = parallel_build.groups(list(ALL.values()), 2)
    assert [sorted(p.name for p in g) for g in groups] == [
        ["followups", "satisfaction"], ["complaints", "feedback", "ledger"]]
    monkeypatch.setattr(ALL["ledger"], "apply", ALL["ledger"].apply)
    assert "ledger" in [p.name for p in parallel_build.groups(list(ALL.values()), 2)[0]]
    assert len(parallel_build.groups(list(ALL.values()), 1)) == 1


def test_a_rebuild_shared_among_processes_equals_one_in_a_single_process(
        fresh_runtime, monkeypatch):
    rt = fresh_runtime
    generate(rt.app, 3000, seed=7, now=datetime(2026, 1, 1, tzinfo=UTC), progress=False)
    head = head_position(rt.pool)
    assert rebuild(rt.pool, list(ALL.values()), rt.settings.zone, schema="single") == head
    monkeypatch.setattr(parallel_build, "PARALLEL_FROM", 0)
    monkeypatch.setattr(parallel_build, "PROCESSES", 2)
    seen = []
    assert rebuild(rt.pool, list(ALL.values()), rt.settings.zone, schema="shared",
                   progress=lambda names, position: seen.append(position)) == head
    problems, counts = differences(rt.pool, "single", "shared")
    assert not problems, "\n".join(problems)
    assert counts["satisfaction_facts"] > 0 and counts["complaints"] > 0
    assert seen and seen == sorted(seen) and seen[-1] == head


def test_a_projection_failing_in_another_process_fails_the_rebuild_naming_it(
        store, shared_out):  # noqa: F811
    rt, bad, head = store
    assert_rebuild_fails_at_feedback(rt, [ALL["satisfaction"], ALL["feedback"]], bad)
