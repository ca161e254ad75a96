"""The batch path: many commands decided together, recorded in one transaction."""
from datetime import UTC, datetime

import pytest

from csm.domain import commands as c
from csm.domain.errors import InvalidTransition, NotFound
from tests.http_builders import uid


def test_commands_in_a_batch_see_each_other_and_are_recorded_together(fresh_runtime):
    app, now = fresh_runtime.app, datetime.now(UTC)
    dep, cus, cid = uid("d-"), uid("c-"), uid("k-")
    app.handle(c.RegisterDepartment(department_id=dep, name="Service", satisfaction_target=80,
                                    now=now))
    with app.batch() as uow:
        app.handle(c.RegisterCustomer(customer_id=cus, name="Zhao Li", email=None, phone=None,
                                      tier="high_value", segment=None, now=now))
        app.handle(c.OpenComplaint(complaint_id=cid, customer_id=cus, channel="web",
                                   department_id=dep, category=None, severity="high",
                                   description="x", occurred_at=now, now=now))
        with pytest.raises(InvalidTransition):  # refused, changes nothing
            app.handle(c.ResolveComplaint(complaint_id=cid, resolution="too early",
                                          occurred_at=now, now=now))
        with pytest.raises(NotFound):
            app.handle(c.AcknowledgeComplaint(complaint_id=uid("missing-"), occurred_at=now,
                                              now=now))
        app.handle(c.AcknowledgeComplaint(complaint_id=cid, occurred_at=now, now=now))
        last = app.flush(uow)
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
    app.handle(c.RegisterDepartment(department_id=taken, name="Service",
                                    satisfaction_target=80, now=now))
    with pytest.raises(IntegrityError), app.batch() as uow:
        app.handle(c.RegisterDepartment(department_id=uid("d-"), name="New",
                                        satisfaction_target=80, now=now))
        # only the store knows it is taken
        app.handle(c.RegisterDepartment(department_id=taken, name="Again",
                                        satisfaction_target=80, now=now))
        app.flush(uow)
    with fresh_runtime.pool.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM csm_events").fetchone()["n"] == 1
