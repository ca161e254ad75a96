"""Tampering done with plain SQL, by someone who can write the database but holds no csm key,
is found at the right position; a gap the database left after a rolled-back transaction is
no fault; a checkpoint saved earlier exposes a re-chained rewrite with the public key alone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from csm.domain import commands as c
from csm.domain.errors import AlreadyExists
from csm.infra.chain import verify_against, verify_chain
from csm.infra.checkpointer import Checkpointer
from tests.http_builders import uid

# The trigger's formula, as an insider with SQL would recompute it.
CHAINED = """sha256(prev || int8send(r.notification_id) || int8send(r.originator_version)
    || int4send(octet_length(r.originator_id::text)) || convert_to(r.originator_id::text, 'UTF8')
    || int4send(octet_length(r.topic)) || convert_to(r.topic, 'UTF8')
    || int8send((extract(epoch FROM r.recorded_at) * 1000000)::bigint) || r.state)"""


@dataclass
class History:
    rt: object
    positions: list[int]  # of the stored events, in order
    gap: int  # a position a rolled-back transaction consumed
    opened: int  # the position of complaint.opened


def record_history(rt) -> History:
    """Departments, a customer and a complaint's story, with a rolled-back command midway."""
    now, app = datetime.now(UTC), rt.app
    deps = [uid("dep-") for _ in range(3)]
    for d in deps:
        app.handle(c.RegisterDepartment(now=now, department_id=d, name="After-sales",
                                        satisfaction_target=80))
    customer = uid("cus-")
    app.handle(c.RegisterCustomer(now=now, customer_id=customer, name="Li Lei",
                                  email="li@example.com", phone=None, tier="standard",
                                  segment=None))
    with pytest.raises(AlreadyExists):  # its insert takes a position, then rolls back
        app.handle(c.RegisterDepartment(now=now, department_id=deps[0], name="Taken",
                                        satisfaction_target=80))
    complaint = uid("cmp-")
    app.handle(c.OpenComplaint(now=now, occurred_at=now, complaint_id=complaint,
                               customer_id=customer, channel="web", department_id=deps[0],
                               category=None, severity="medium",
                               description="Broken on arrival"))
    app.handle(c.AcknowledgeComplaint(now=now, occurred_at=now, complaint_id=complaint,
                                      by="li.na"))
    app.handle(c.AssignComplaint(now=now, occurred_at=now, complaint_id=complaint,
                                 department_id=deps[1], handler="zhao"))
    app.handle(c.ResolveComplaint(now=now, occurred_at=now, complaint_id=complaint,
                                  resolution="Replaced"))
    with rt.pool.connection() as conn:
        rows = conn.execute("SELECT notification_id, topic FROM csm_events ORDER BY 1").fetchall()
    positions = [r["notification_id"] for r in rows]
    gap = next(p + 1 for p, q in zip(positions, positions[1:], strict=False) if q != p + 1)
    opened = next(r["notification_id"] for r in rows if r["topic"] == "complaint.opened")
    return History(rt, positions, gap, opened)


@pytest.fixture
def history(fresh_runtime) -> History:
    return record_history(fresh_runtime)


def sql(rt, *statements: str, bypass_triggers: bool = False) -> None:
    with rt.pool.connection() as conn, conn.transaction():
        if bypass_triggers:
            conn.execute("SET LOCAL session_replication_role = replica")
        for s in statements:
            conn.execute(s)


def verified(rt):
    return verify_chain(rt.pool, rt.audit)


def rewrite_from(k: int) -> str:
    """Edit event k, then recompute every hash from k on, and the head, as the trigger would."""
    return f"""DO $$ DECLARE r record; prev bytea; BEGIN
        UPDATE csm_events SET state = convert_to(replace(convert_from(state, 'UTF8'),
            'After-sales', 'Aftersales'), 'UTF8') WHERE notification_id = {k};
        SELECT coalesce((SELECT hash FROM csm_events WHERE notification_id < {k}
                         ORDER BY notification_id DESC LIMIT 1), ''::bytea) INTO prev;
        FOR r IN SELECT * FROM csm_events WHERE notification_id >= {k}
                 ORDER BY notification_id LOOP
            prev := {CHAINED};
            UPDATE csm_events SET hash = prev WHERE notification_id = r.notification_id;
        END LOOP;
        UPDATE csm_chain_head SET hash = prev;
    END $$"""


def insert_forged_at(position: int) -> str:
    """A whole row at a free position, chained to the event before it with the formula."""
    return f"""DO $$ DECLARE r record; prev bytea; BEGIN
        SELECT hash INTO prev FROM csm_events WHERE notification_id < {position}
            ORDER BY notification_id DESC LIMIT 1;
        FOR r IN SELECT {position} AS notification_id, 'dep-forged'::text AS originator_id,
                        1::bigint AS originator_version, topic, state, now() AS recorded_at
                 FROM csm_events WHERE notification_id = 1 LOOP
            INSERT INTO csm_events (notification_id, originator_id, originator_version, topic,
                                    state, recorded_at, hash)
            VALUES (r.notification_id, r.originator_id, r.originator_version, r.topic, r.state,
                    r.recorded_at, {CHAINED});
        END LOOP;
    END $$"""


def swap(a: int, b: int) -> list[str]:
    return [f"UPDATE csm_events SET notification_id = -1 WHERE notification_id = {a}",
            f"UPDATE csm_events SET notification_id = {a} WHERE notification_id = {b}",
            f"UPDATE csm_events SET notification_id = {b} WHERE notification_id = -1",
            f"UPDATE csm_event_seals SET position = -1 WHERE position = {a}",
            f"UPDATE csm_event_seals SET position = {a} WHERE position = {b}",
            f"UPDATE csm_event_seals SET position = {b} WHERE position = -1"]


def edit_state(k: int) -> str:
    return (f"UPDATE csm_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
            f"'medium', 'low'), 'UTF8') WHERE notification_id = {k}")


def delete(k: int, seal_too: bool) -> list[str]:
    return [f"DELETE FROM csm_events WHERE notification_id = {k}",
            *([f"DELETE FROM csm_event_seals WHERE position = {k}"] if seal_too else [])]


def through_the_trigger(h: History) -> list[str]:
    return [f"INSERT INTO csm_events (originator_id, originator_version, topic, state) "
            f"SELECT originator_id, 99, topic, state FROM csm_events "
            f"WHERE notification_id = {h.positions[2]}"]


def with_a_made_up_seal(h: History) -> list[str]:
    nxt = h.positions[-1] + 1
    return [*through_the_trigger(h),
            f"INSERT INTO csm_event_seals VALUES ({nxt}, {nxt - 1}, {len(h.positions) + 1}, "
            f"sha256('guess'::bytea))"]


# case → (what the insider runs, whether it bypasses the triggers, the position verify names,
#         a word of the reason)
CASES = {
    "edited payload": (lambda h: [edit_state(h.opened)], False, lambda h: h.opened, "edited"),
    "edited recorded_at": (lambda h: [f"UPDATE csm_events SET recorded_at = recorded_at - "
                                      f"interval '1 hour' WHERE notification_id = "
                                      f"{h.positions[4]}"], False, lambda h: h.positions[4],
                           "edited"),
    "deleted first row": (lambda h: delete(1, seal_too=True), False, lambda h: 1, "removed"),
    "deleted middle row": (lambda h: delete(h.positions[4], seal_too=False), False,
                           lambda h: h.positions[4], "removed"),
    "deleted middle row and its seal": (lambda h: delete(h.positions[4], seal_too=True), False,
                                        lambda h: h.positions[4], "removed"),
    "deleted the row after a crash gap and its seal": (
        lambda h: delete(h.gap + 1, seal_too=True), False, lambda h: h.gap + 1, "removed"),
    "deleted two rows in a row and their seals": (
        lambda h: [*delete(h.positions[6], seal_too=True), *delete(h.positions[7], seal_too=True)],
        False, lambda h: h.positions[6], "2 events were removed"),
    "deleted last row": (lambda h: delete(h.positions[-1], seal_too=False), False,
                         lambda h: h.positions[-1], "removed"),
    "deleted last row, its seal, and the head set back": (
        lambda h: [*delete(h.positions[-1], seal_too=True),
                   f"UPDATE csm_chain_head SET position = {h.positions[-2]}, hash = (SELECT hash "
                   f"FROM csm_events WHERE notification_id = {h.positions[-2]})"],
        False, None, None),
    "inserted row through the trigger": (through_the_trigger, False,
                                         lambda h: h.positions[-1] + 1, "no seal"),
    "inserted row through the trigger with a made-up seal": (
        with_a_made_up_seal, False, lambda h: h.positions[-1] + 1, "seal does not match"),
    "inserted row with a forged hash in a crash gap": (
        lambda h: [insert_forged_at(h.gap)], True, lambda h: h.gap, "no seal"),
    "inserted row with a forged hash at the end": (
        lambda h: [insert_forged_at(h.positions[-1] + 1)], True,
        lambda h: h.positions[-1] + 1, "no seal"),
    "swapped order": (lambda h: swap(h.positions[3], h.positions[4]), False,
                      lambda h: h.positions[3], "moved"),
    "consistent rewrite from position k onward": (
        lambda h: [rewrite_from(h.positions[1])], False, lambda h: h.positions[1],
        "seal does not match"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_with_plain_sql_is_found_at_the_right_position(history, case):
    statements, bypass, position, word = CASES[case]
    assert verified(history.rt).ok

    sql(history.rt, *statements(history), bypass_triggers=bypass)
    report = verified(history.rt)

    if position is None:  # undetectable from inside: only a checkpoint kept outside shows it
        assert report.ok
        return
    assert (report.ok, report.first_bad_position) == (False, position(history)), report
    assert word in report.reason


def test_a_clean_log_with_a_crash_gap_passes(history):
    report = verified(history.rt)

    assert report.ok, report
    assert (report.events_checked, report.gaps) == (len(history.positions), 1)
    assert history.gap not in history.positions


def checkpoint_now(rt):
    return Checkpointer(rt.pool, rt.audit, 1, 1).make_once(force=True)


def test_a_rewritten_log_fails_against_a_checkpoint_taken_before_with_the_public_key_alone(
        history):
    rt = history.rt
    saved = checkpoint_now(rt)
    assert verify_against(rt.pool, [saved], rt.audit.signer.public).ok

    sql(rt, rewrite_from(history.positions[1]))
    report = verify_against(rt.pool, [saved], rt.audit.signer.public)

    assert (report.ok, report.first_bad_position) == (False, saved.position)
    assert "checkpoint" in report.reason


def test_removing_the_tail_after_a_checkpoint_is_found_with_the_public_key_alone(history):
    rt = history.rt
    saved = checkpoint_now(rt)
    rows, bypass, _, _ = CASES["deleted last row, its seal, and the head set back"]

    sql(rt, *rows(history), bypass_triggers=bypass)
    report = verify_against(rt.pool, [saved], rt.audit.signer.public)

    assert (report.ok, report.first_bad_position) == (False, saved.position)


def test_a_checkpoint_signed_by_another_key_is_refused(history):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from csm.infra.checkpoints import Signer
    rt = history.rt
    saved = checkpoint_now(rt)
    forged = Signer(Ed25519PrivateKey.generate()).sign("periodic", saved.position, saved.hash)

    report = verify_against(rt.pool, [forged], rt.audit.signer.public)

    assert (report.ok, report.first_bad_position) == (False, saved.position)
    assert "not signed" in report.reason
