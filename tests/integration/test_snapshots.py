"""As-of snapshots: every query with `snapshot=<id>` answers exactly as the live system
answered at `as_of`, however much was written since; their life from pending to deleted."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from csm.projections import snapshots
from csm.projections.snapshots import SnapshotBuilder, build_snapshot, request_snapshot
from tests.integration.test_rebuild_equals_live import (  # noqa: F401  (served: a fixture)
    Traffic,
    served,
)


def every_query(t: Traffic) -> list[tuple[str, tuple]]:
    """Each query with every group_by and filter the scenario's data has."""
    d, s = t.departments, t.surveys
    q: list[tuple[str, dict]] = []
    for period in ("day", "month"):
        for g in (None, "department", "channel", "dimension", "survey", "tier",
                  "department,dimension", "survey,tier,channel"):
            q.append(("/v1/satisfaction", {"period": period, "group_by": g}))
    q.append(("/v1/satisfaction", {"department_id": d[0], "dimension": "product_quality"}))
    q += [("/v1/complaints/backlog", {}), ("/v1/complaints/backlog", {"status": "acknowledged"}),
          ("/v1/complaints/backlog", {"overdue": "true"}),
          ("/v1/complaints/backlog", {"department_id": d[1]})]
    for g in (None, "department", "channel", "severity"):
        q.append(("/v1/complaints/stats", {"period": "day", "group_by": g}))
    for g in (None, "department", "channel", "kind", "channel,kind"):
        q.append(("/v1/feedback/stats", {"period": "week", "group_by": g}))
    q += [(f"/v1/surveys/{sid}/stats", {}) for sid in s]
    q += [("/v1/departments/scores", {"period": p}) for p in ("day", "month")]
    q.append(("/v1/departments/scores", {"department_id": d[2]}))
    q += [(f"/v1/departments/{dep}/ledger", {}) for dep in d]
    for g in (None, "department", "reason"):
        q.append(("/v1/revisits/stats", {"group_by": g}))
    q += [("/v1/improvement-actions", {}), ("/v1/improvement-actions", {"status": "raised"})]
    q += [(f"/v1/complaints/{c}", {}) for c in getattr(t, "complaints", [])]
    return [(path, tuple((k, v) for k, v in p.items() if v is not None)) for path, p in q]


def read(client, query, as_of: datetime | None = None, snapshot: str | None = None):
    path, params = query
    params = dict(params)
    if snapshot:
        params["snapshot"] = snapshot
    elif as_of and path == "/v1/complaints/backlog":
        params["as_of"] = as_of.isoformat()
    r = client.get(path, params=params)
    assert r.status_code == 200, (path, params, r.status_code, r.text)
    return r.json(), r.headers.get("x-csm-position")


def ready(client, snapshot_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (s := client.get(f"/v1/audit/snapshots/{snapshot_id}").json())["status"] != "ready":
        assert s["status"] in ("pending", "running"), s
        assert time.monotonic() < deadline, s
        time.sleep(0.1)
    return s


@pytest.fixture
def some_events(http):
    from tests.http_builders import complaint, department
    complaint(http, department(http))


def test_a_snapshot_goes_from_pending_to_ready_is_listed_and_is_gone_once_deleted(
        runtime, http, some_events):
    auditor = http("auditor")
    snap = request_snapshot(runtime.pool, datetime.now(UTC))  # not yet taken up by a builder
    sid = snap["snapshot_id"]

    pending = auditor.get("/v1/complaints/backlog", params={"snapshot": sid})
    built = build_snapshot(runtime.pool, sid, runtime.settings.zone)
    answered = auditor.get("/v1/complaints/backlog", params={"snapshot": sid})
    listed = [s["snapshot_id"] for s in auditor.get("/v1/audit/snapshots").json()["items"]]
    deleted = auditor.delete(f"/v1/audit/snapshots/{sid}")

    assert (pending.status_code, pending.json()["type"]) == (
        503, "https://csm.dev/problems/stale-read")
    assert pending.headers["retry-after"]
    assert (snap["status"], built["status"], built["progress"]) == ("pending", "ready", 1.0)
    assert answered.status_code == 200 and answered.headers["x-csm-position"] == str(
        built["position"])
    assert sid in listed
    assert deleted.status_code == 204
    assert auditor.get(f"/v1/audit/snapshots/{sid}").status_code == 404
    assert auditor.get("/v1/complaints/backlog", params={"snapshot": sid}).status_code == 404
    with runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM information_schema.schemata WHERE "
                            "schema_name = %s", (f"csm_{sid.replace('-', '_')}",)
                            ).fetchone()["n"] == 0


def test_a_build_left_running_by_a_process_that_died_is_taken_up_by_the_next(runtime,
                                                                             some_events):
    snap = request_snapshot(runtime.pool, datetime.now(UTC))
    with runtime.pool.connection() as conn:
        conn.execute("UPDATE csm_snapshots SET status = 'running', applied = 1 "
                     "WHERE snapshot_id = %s", (snap["snapshot_id"],))

    builder = SnapshotBuilder(runtime.pool, runtime.settings.zone).start()
    try:
        deadline = time.monotonic() + 60
        while snapshots.find(runtime.pool, snap["snapshot_id"])["status"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        builder.stop()
    assert snapshots.delete_snapshot(runtime.pool, snap["snapshot_id"])


def test_a_failed_snapshot_is_409_and_an_unknown_one_404_on_every_query(runtime, http):
    snap = request_snapshot(runtime.pool, datetime.now(UTC))
    with runtime.pool.connection() as conn:
        conn.execute("UPDATE csm_snapshots SET status = 'failed', error = 'DiskFull: no space' "
                     "WHERE snapshot_id = %s", (snap["snapshot_id"],))

    failed = http("manager").get("/v1/satisfaction", params={"snapshot": snap["snapshot_id"]})
    unknown = http("manager").get("/v1/feedback/stats", params={"snapshot": "snap-nope"})

    assert failed.status_code == 409 and "DiskFull" in failed.json()["detail"]
    assert unknown.status_code == 404


def test_a_snapshot_of_the_future_or_of_a_naive_time_is_refused_and_needs_an_auditor(http):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    future = http("auditor").post("/v1/audit/snapshots", json={"as_of": later})
    naive = http("auditor").post("/v1/audit/snapshots", json={"as_of": "2026-01-01T00:00:00"})
    manager = http("manager").post("/v1/audit/snapshots",
                                   json={"as_of": datetime.now(UTC).isoformat()})

    assert (future.status_code, naive.status_code, manager.status_code) == (422, 422, 403)


def test_the_same_idempotency_key_asks_for_one_snapshot(http):
    body, key = {"as_of": datetime.now(UTC).isoformat()}, {"Idempotency-Key": "snap-once-1"}

    first = http("auditor").post("/v1/audit/snapshots", json=body, headers=key)
    again = http("auditor").post("/v1/audit/snapshots", json=body, headers=key)

    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
