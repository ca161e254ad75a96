"""A snapshot as of T, asked over HTTP and built by `csm rebuild --as-of T` in a process of
its own, answers every query exactly as the live system answered at T."""
from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

from bench.stack import API_KEYS
from tests.csm_process import csm_env, run_csm
from tests.integration.test_rebuild_equals_live import (  # noqa: F401  (served: a fixture)
    Traffic,
    served,
    wait_for_head,
)
from tests.integration.test_snapshots import every_query, read, ready


def test_a_snapshot_as_of_t_answers_every_query_exactly_as_the_live_system_did_at_t(
        served, tmp_path):
    rt, live = served
    with live.client("admin") as client:
        traffic = Traffic(client, random.Random(7))
        traffic.setup()
        traffic.publish_policy(dimension_weights={"product_quality": 3.0,
                                                  "service_attitude": 0.5},
                               points={"praise": 3, "escalation": -5})
        for _ in range(150):
            traffic.step()
        head_at_t = wait_for_head(rt)
        t = datetime.now(UTC)
        time.sleep(0.05)
        traffic.complaints = [c["complaint_id"] for c in client.get(
            "/v1/complaints/backlog").json()["items"][:10]]
        queries = every_query(traffic)
        at_t = {q: read(client, q, as_of=t) for q in queries}

        # After T: a policy change, reassignments, and more of everything.
        traffic.publish_policy(dimension_weights={"product_quality": 1.0, "experience": 4.0},
                               points={"praise": 1, "escalation": -9})
        backlog = [c for c in client.get("/v1/complaints/backlog").json()["items"]
                   if c["status"] != "resolved"]
        for i, c in enumerate(backlog[:8]):
            traffic.post(f"/v1/complaints/{c['complaint_id']}/assign", {
                "department_id": traffic.departments[i % 3], "handler": f"handler-{i}"})
        for _ in range(80):
            traffic.step()
        assert wait_for_head(rt) > head_at_t
        changed = sum(read(client, q, as_of=t) != at_t[q] for q in queries)

        asked = client.post("/v1/audit/snapshots", json={"as_of": t.isoformat()})
        assert asked.status_code == 202, asked.text
        snapshot = ready(client, asked.json()["snapshot_id"])
        from_api = {q: read(client, q, snapshot=snapshot["snapshot_id"]) for q in queries}

        done = run_csm("rebuild", "--as-of", t.isoformat(),
                       env=csm_env(tmp_path, rt.url, CSM_API_KEYS=API_KEYS))
        assert done.returncode == 0, done.stderr
        by_cli = json.loads(done.stdout)
        from_cli = {q: read(client, q, snapshot=by_cli["snapshot_id"]) for q in queries}

    print(f"\n{len(queries)} queries at T (position {head_at_t}); {changed} answer otherwise "
          f"live now; snapshot {snapshot['snapshot_id']} at position {snapshot['position']}")
    assert changed >= len(queries) // 2, "too little changed after T for the test to tell"
    assert (snapshot["position"], snapshot["progress"]) == (head_at_t, 1.0)
    assert {q: a for q, a in from_api.items() if a != at_t[q]} == {}
    assert (by_cli["status"], by_cli["position"]) == ("ready", head_at_t)
    assert {q: a for q, a in from_cli.items() if a != at_t[q]} == {}
    assert "snapshot" in done.stderr  # the progress bar
