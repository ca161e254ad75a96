"""What the tests of a stuck projection share: an event recorded as a bug would (past every
check of the API and the domain), waiting for the read side, and reading /metrics."""
from __future__ import annotations

import dataclasses
import re
import time
from datetime import UTC, datetime
from typing import Any

from csm.domain.department import Department
from csm.projections.ledger.projection import Ledger
from csm.projections.registry import ALL
from csm.projections.store import head_position
from tests.conftest import uid

MARK = "NUL-GOES-HERE"


def record_as_a_bug_would(rt: Any, aggregate: Any, swap: tuple[bytes, bytes]) -> int:
    """Stores the aggregate's new events through the recorder, past every check, with
    `swap` applied to the stored bytes; returns the position of the last."""
    stored = [rt.app.mapper.to_stored_event(e) for e in aggregate.collect_events()]
    stored = [dataclasses.replace(s, state=s.state.replace(*swap)) for s in stored]
    return rt.app.recorder.insert_events(stored)[-1]


def status_rows(rt: Any) -> dict[str, dict]:
    with rt.pool.connection() as conn:
        return {r["name"]: r for r in conn.execute(
            "SELECT * FROM csm_read.projection_status").fetchall()}


def wait_for(condition, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(every)
    return found


def metric(text: str, name: str, projection: str) -> float:
    found = re.search(rf'^{name}{{projection="{projection}"}} (\S+)$', text, re.M)
    assert found, f"{name} for {projection} missing from /metrics"
    return float(found.group(1))


def traffic(c: Any, department: str, n: int) -> None:
    for i in range(n):
        assert c.post("/v1/feedback", json={"channel": "web", "kind": "praise", "rating": 5,
                                            "department_id": department}).status_code == 201
        assert c.post("/v1/complaints", json={
            "channel": "hotline", "department_id": department, "severity": "low",
            "description": f"complaint {i}"}).status_code == 201


def department_named_with_a_nul(rt: Any, c: Any) -> tuple[int, str, int]:
    """Commands over HTTP, a department whose name holds U+0000 recorded as a bug would (no
    text column can hold it), more commands; returns (its position, its id, the head)."""
    department = uid("d-")
    assert c.post("/v1/departments", json={"department_id": department,
                                           "name": "Sales"}).status_code == 201
    traffic(c, department, 3)
    bad_id = uid("p-")
    bad = record_as_a_bug_would(
        rt, Department.register(bad_id, f"a{MARK}b", 80.0, datetime.now(UTC)),
        (MARK.encode(), b"\\u0000"))
    traffic(c, department, 3)
    return bad, bad_id, head_position(rt.pool)


def ledger_stuck_the_others_at(rt: Any, head: int, timeout: float) -> dict:
    """Waits until every projection but the ledger is at `head` and the ledger has failed."""
    def stuck():
        rows = status_rows(rt)
        others = all(rows[n]["position"] == head for n in ALL if n != "ledger")
        return rows["ledger"] if others and rows["ledger"]["failed_position"] else None
    return wait_for(stuck, timeout, "the other projections at the head, the ledger failed")


def fix_the_ledger(monkeypatch: Any) -> None:
    """The fixed code: NUL taken out of department names."""
    original = Ledger.apply

    def fixed(self, ev, w):
        original(self, ev, w)
        for row in w.rows.get("departments", {}).values():
            row["name"] = row["name"].replace("\x00", "")
    monkeypatch.setattr(Ledger, "apply", fixed)
