"""The batch path: many commands decided together, recorded in one transaction."""
from datetime import UTC, datetime

import pytest

from csm.domain.errors import InvalidTransition, NotFound
from tests.http_builders import uid


def test_commands_in_a_batch_see_each_other_and_are_recorded_together(fresh_runtime):
    app, now = fresh_runtime.app, datetime.now(UTC)
    dep, cus, cid = uid("d-"), uid("c-"), uid("k-")
    app.register_department(dep, "Service", 80, now)
    with app.batch() as uow:
        app.register_customer(cus, "Zhao Li", None, None, "high_value", None, now)
        app.open_complaint(cid, customer_id=cus, channel="web", department_id=dep, category=None,
                           severity="high", description="x", occurred_at=now, now=now)
        with pytest.raises(InvalidTransition):
            app.resolve_complaint(cid, "too early", None, now, now)  # refused, changes nothing
        with pytest.raises(NotFound):
            app.acknowledge_complaint(uid("missing-"), None, now, now)
        app.acknowledge_complaint(cid, None, now, now)
        last = app.flush_batch(uow)
    with fresh_runtime.pool.connection() as conn:
        rows = conn.execute("SELECT notification_id, originator_id FROM csm_events "
                            "WHERE notification_id > 1 ORDER BY notification_id").fetchall()
    assert [r["originator_id"] for r in rows] == [cus, cid, cid]
    assert [r["notification_id"] for r in rows] == [2, 3, 4] and last == 4
    complaint = app.repository.get(cid)
    assert (complaint.status, complaint.high_value) == ("acknowledged", True)


def test_a_batch_that_conflicts_records_nothing(fresh_runtime):
    from eventsourcing.persistence import IntegrityError
    app, now = fresh_runtime.app, datetime.now(UTC)
    taken = uid("d-")
    app.register_department(taken, "Service", 80, now)
    with pytest.raises(IntegrityError), app.batch() as uow:
        app.register_department(uid("d-"), "New", 80, now)
        app.register_department(taken, "Again", 80, now)  # only the store knows it is taken
        app.flush_batch(uow)
    with fresh_runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM csm_events").fetchone()["n"] == 1
