"""Events decoded from the store look exactly like events made from the domain."""
from datetime import UTC, datetime

import orjson

from csm.domain.complaint import Complaint
from csm.domain.policy import DEFAULT_RULES
from csm.projections.events import decode_stored, from_domain


def _stored_state(event) -> bytes:
    from eventsourcing.application import Application
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return app.mapper.to_stored_event(event).state


def test_a_stored_event_decodes_to_the_same_data_as_the_domain_event():
    now = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    c = Complaint.open("c-1", customer_id=None, high_value=False, channel="web",
                       department_id="d-1", category=None, severity="high", description=None,
                       feedback_id=None, rules=DEFAULT_RULES, policy_version=0,
                       occurred_at=now, now=now)
    [opened] = c.collect_events()
    decoded = decode_stored(7, "c-1", 1, "domain.complaint:Complaint.Opened", _stored_state(opened))
    assert decoded == from_domain(opened, 7)
    assert decoded.data["acknowledge_due"] == "2026-03-01T16:30:00+00:00"


def test_typed_values_nested_deeper_are_unwrapped_too():
    state = orjson.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-03-01T08:30:00+00:00"},
        "occurred_at": {"_type_": "datetime_iso", "_data_": "2026-03-01T08:30:00+00:00"},
        "windows": [{"until": {"_type_": "datetime_iso", "_data_": "2026-03-02T00:00:00+00:00"}}]})
    ev = decode_stored(1, "s", 1, "domain.complaint:Complaint.Acknowledged", state)
    assert ev.data == {"windows": [{"until": "2026-03-02T00:00:00+00:00"}]}
