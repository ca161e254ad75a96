"""When a message whose target is not known yet is tried again, and when it goes to the DLQ."""
from __future__ import annotations

from dataclasses import dataclass, field

from csm.consumers.inbound_retry import RetryPolicy, adapter_headers, not_before, origin

POLICY = RetryPolicy(for_seconds=10, backoff=1, backoff_max=4)


@dataclass
class Record:
    """What a Kafka record carries that the retry schedule reads."""
    topic: str = "csm.inbound"
    partition: int = 2
    offset: int = 40
    headers: list[tuple[str, bytes]] = field(default_factory=lambda: [("trace", b"t-1")])


def copy_of(rec: Record, now: int, topic: str = "csm.inbound.retry") -> Record:
    headers = POLICY.next_copy(rec, rec.topic == topic, "customer 'c' not found", now)
    assert headers is not None
    return Record(topic, 0, rec.offset + 100, headers)


def test_a_first_retry_waits_the_first_backoff_and_remembers_where_and_when_it_was_seen():
    first = copy_of(Record(), now=1_000)
    h = dict(first.headers)
    assert (h["retry_attempt"], h["retry_first_seen"], not_before(first)) == (b"1", b"1000", 2_000)
    assert origin(first, copy=True) == ("csm.inbound", 2, 40)
    assert adapter_headers(first, copy=True) == [("trace", b"t-1")]


def test_each_retry_waits_twice_as_long_up_to_the_longest_wait_and_never_past_the_retry_time():
    rec, now, waits = Record(), 0, []
    while True:
        copy = copy_of(rec, now)
        waits.append(not_before(copy) - now)
        assert dict(copy.headers)["retry_first_seen"] == b"0"
        assert origin(copy, copy=True) == ("csm.inbound", 2, 40)
        rec, now = copy, not_before(copy)
        if now >= 10_000:
            break
    assert waits == [1_000, 2_000, 4_000, 3_000]
    assert POLICY.next_copy(rec, True, "still", now) is None   # the time is up: the DLQ


def test_headers_an_adapter_sent_on_the_inbound_topic_are_not_taken_for_csms_own():
    forged = Record(headers=[("retry_first_seen", b"0"), ("retry_attempt", b"7"),
                             ("original_offset", b"1")])
    h = dict(POLICY.next_copy(forged, False, "not found", now=50_000))
    assert (h["retry_attempt"], h["retry_first_seen"], h["original_offset"]) == (
        b"1", b"50000", b"40")
