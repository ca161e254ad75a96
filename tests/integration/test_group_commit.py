"""Group commit on real PostgreSQL: commands arriving together share one transaction, yet
each has its own answer, its own position, its own idempotency record and its own refusal."""
from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from csm.domain import commands as c
from csm.domain.errors import AlreadyExists, InvalidTransition, NotFound
from csm.infra.idempotency import run_once
from tests.http_builders import uid

N = 48


def at_once(n: int, act) -> list:
    """Runs act(i) for i < n in n threads released together; results (or errors) in order."""
    barrier, out = threading.Barrier(n), [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            out[i] = act(i)
        except Exception as exc:  # noqa: BLE001 - the error is the answer looked at
            out[i] = exc
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def now() -> datetime:
    return datetime.now(UTC)


def transactions_and_positions(rt, stream_ids: list[str]) -> tuple[int, dict[str, int]]:
    with rt.pool.connection() as conn:
        rows = conn.execute("SELECT originator_id, notification_id, xmin::text AS tx "
                            "FROM csm_events WHERE originator_id = ANY(%s)",
                            (stream_ids,)).fetchall()
    last: dict[str, int] = {}
    for r in rows:
        last[r["originator_id"]] = max(last.get(r["originator_id"], 0), r["notification_id"])
    return len({r["tx"] for r in rows}), last


def test_commands_arriving_together_share_transactions_and_each_answers_its_own_position(
        fresh_runtime):
    rt = fresh_runtime
    ids = [uid("dep-") for _ in range(N)]
    answers = at_once(N, lambda i: rt.commands.handle(c.RegisterDepartment(
        department_id=ids[i], name=f"d{i}", satisfaction_target=80, now=now())))

    transactions, last = transactions_and_positions(rt, ids)
    assert [(a.id, a.position) for a in answers] == [(i, last[i]) for i in ids]
    assert transactions < N  # grouped: fewer transactions (and fsyncs) than commands


def test_a_refused_command_is_refused_alone_and_its_neighbours_are_recorded(fresh_runtime):
    rt = fresh_runtime
    dept = uid("dep-")
    rt.app.handle(c.RegisterDepartment(department_id=dept, name="d", satisfaction_target=80,
                                       now=now()))
    opened = [uid("c-") for _ in range(N)]
    for cid in opened:
        rt.app.handle(c.OpenComplaint(complaint_id=cid, customer_id=None, channel="web",
                                      department_id=dept, category=None, severity="low",
                                      description="x", occurred_at=now(), now=now()))

    def act(i: int):
        if i % 3 == 1:  # resolving an open complaint is refused
            return rt.commands.handle(c.ResolveComplaint(
                complaint_id=opened[i], resolution="r", occurred_at=now(), now=now()))
        if i % 3 == 2:  # as is acknowledging one that does not exist
            return rt.commands.handle(c.AcknowledgeComplaint(
                complaint_id=uid("missing-"), occurred_at=now(), now=now()))
        return rt.commands.handle(c.AcknowledgeComplaint(
            complaint_id=opened[i], occurred_at=now(), now=now()))
    answers = at_once(N, act)

    kinds = [type(a).__name__ for a in answers]
    assert kinds == [["Recorded", "InvalidTransition", "NotFound"][i % 3] for i in range(N)]
    for i in range(0, N, 3):
        assert rt.app.repository.get(opened[i]).status == "acknowledged"
        assert rt.app.repository.get(opened[i + 1]).status == "open"


def test_two_commands_taking_one_id_together_leave_one_record_and_one_refusal(fresh_runtime):
    rt = fresh_runtime
    taken = uid("dep-")
    answers = at_once(N, lambda i: rt.commands.handle(c.RegisterDepartment(
        department_id=taken if i < 2 else uid("dep-"), name=f"d{i}", satisfaction_target=80,
        now=now())))
    assert sorted(type(a).__name__ for a in answers[:2]) == ["AlreadyExists", "Recorded"]
    assert all(type(a).__name__ == "Recorded" for a in answers[2:])
    assert isinstance(next(a for a in answers[:2] if isinstance(a, Exception)), AlreadyExists)


def test_one_idempotency_key_sent_many_times_at_once_records_once_and_answers_alike(
        fresh_runtime):
    rt = fresh_runtime
    key, dept = uid("key-"), uid("dep-")
    body = {"department_id": dept, "name": "d"}
    answers = at_once(N, lambda i: run_once(
        rt.pool, rt.commands, "admin", key if i % 2 else uid("other-"), "POST /v1/departments",
        body if i % 2 else {**body, "department_id": uid("dep-")},
        c.RegisterDepartment(department_id=dept if i % 2 else uid("dep-"), name="d",
                             satisfaction_target=80, now=now())))

    same_key = [a for i, a in enumerate(answers) if i % 2]
    assert all(isinstance(a, dict) for a in answers), answers
    assert all(a == same_key[0] for a in same_key)
    transactions, last = transactions_and_positions(rt, [dept])
    assert same_key[0] == {"id": dept, "position": last[dept]}


@pytest.mark.parametrize("refusal", [InvalidTransition, NotFound])
def test_refusals_keep_their_kind_through_the_group(fresh_runtime, refusal):
    rt = fresh_runtime
    dept = uid("dep-")
    rt.app.handle(c.RegisterDepartment(department_id=dept, name="d", satisfaction_target=80,
                                       now=now()))
    cid = uid("c-")
    rt.app.handle(c.OpenComplaint(complaint_id=cid, customer_id=None, channel="web",
                                  department_id=dept, category=None, severity="low",
                                  description="x", occurred_at=now(), now=now()))
    target = cid if refusal is InvalidTransition else uid("missing-")
    with pytest.raises(refusal):
        rt.commands.handle(c.ResolveComplaint(complaint_id=target, resolution="r",
                                              occurred_at=now(), now=now()))


def test_a_command_whose_event_loop_closed_meanwhile_is_recorded_and_the_next_ones_too(
        fresh_runtime):
    """A server that stops while its command is in the group: the answer has nobody to go
    to, and the group commit goes on for everyone else."""
    rt = fresh_runtime
    first, second = uid("dep-"), uid("dep-")
    loop = asyncio.new_event_loop()
    loop.create_task(rt.commands.submit(c.RegisterDepartment(
        department_id=first, name="gone", satisfaction_target=80, now=now())))
    loop.run_until_complete(asyncio.sleep(0))  # the command is handed over; nobody awaits it
    loop.close()
    answer = rt.commands.handle(c.RegisterDepartment(
        department_id=second, name="next", satisfaction_target=80, now=now()))
    assert answer.id == second
    assert set(transactions_and_positions(rt, [first, second])[1]) == {first, second}
