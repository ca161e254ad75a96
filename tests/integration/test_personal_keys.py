"""A new subject's data key is stored by the transaction that records its first events; a key
stored meanwhile by another process wins, and the command is decided again under it."""
from datetime import UTC, datetime

from csm.domain import commands as c
from csm.infra.personal_data import PersonalDataMapper, PersonalKeys
from csm.infra.secrets import cipher_key
from tests.conftest import uid


def _feedback(feedback_id: str, text: str) -> c.SubmitFeedback:
    """Anonymous feedback: its text is under the key of its own stream."""
    now = datetime.now(UTC)
    return c.SubmitFeedback(feedback_id=feedback_id, customer_id=None, channel="web",
                            kind="criticism", department_id=None, category=None, rating=None,
                            text=text, severity=None, complaint_id=None, occurred_at=now, now=now)


def _text_read_back(rt, feedback_id: str) -> str:
    """The feedback's text as a process with no cached key reads it from the store."""
    cold = PersonalDataMapper(rt.app.mapper.transcoder,
                              PersonalKeys(rt.pool, cipher_key(rt.settings)))
    [stored] = rt.app.recorder.select_events(feedback_id)
    return cold.to_domain_event(stored).text


def test_a_new_subjects_key_is_written_in_the_transaction_that_records_its_events(fresh_runtime):
    rt = fresh_runtime
    fid = rt.app.handle(_feedback(uid("fb-"), "the parcel came open")).id
    subject = f"stream:{fid}"
    with rt.pool.connection() as conn:
        key_tx = conn.execute("SELECT xmin::text AS tx FROM csm_personal_keys WHERE subject = %s",
                              (subject,)).fetchone()["tx"]
        event_tx = conn.execute("SELECT xmin::text AS tx FROM csm_events "
                                "WHERE originator_id = %s", (fid,)).fetchone()["tx"]
    assert key_tx == event_tx
    assert _text_read_back(rt, fid) == "the parcel came open"


def test_a_key_stored_meanwhile_by_another_process_is_the_one_the_events_use(fresh_runtime):
    rt = fresh_runtime
    fid = uid("fb-")
    subject = f"stream:{fid}"
    rt.app.keys.warm({subject})  # this process now holds a pending key for the subject
    other = PersonalKeys(rt.pool, cipher_key(rt.settings))  # another process, first to store
    assert other.cipher(subject, create=True) is not None
    with rt.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
        other.store_in(curs, {subject})
    assert rt.app.handle(_feedback(fid, "nobody called back")).id == fid
    assert _text_read_back(rt, fid) == "nobody called back"
    with rt.pool.connection() as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM csm_personal_keys WHERE subject = %s) AS keys, "
            "(SELECT count(*) FROM csm_events WHERE originator_id = %s) AS events",
            (subject, fid)).fetchone()
    assert counts == {"keys": 1, "events": 1}
