"""Messages whose target is not known yet: a copy on the retry topic, tried again later.

A customer's registration and the complaint that names it may travel on two
partitions (an adapter that keys by `message_id`, or not at all), so the
complaint can come first. Instead of holding up its partition, the consumer
puts a copy on the retry topic (same key and bytes) with headers:

- `retry_first_seen`, `retry_not_before`: epoch milliseconds;
- `retry_attempt`: 1, 2, …; the wait doubles from `backoff` up to `backoff_max`;
- `original_topic/partition/offset`: where the message was first read;
- `retry_error`: why the last attempt failed.

It is tried again from the retry topic once due, until `for_seconds` after it was
first seen; then it goes to the DLQ. A retry partition waits (paused) at its
first copy that is not due: the copies behind it are due at most `backoff_max`
later.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from csm.consumers.kafka_io import header

FIRST_SEEN, NOT_BEFORE, ATTEMPT = "retry_first_seen", "retry_not_before", "retry_attempt"
RETRY_ERROR = "retry_error"
ORIGIN = ("original_topic", "original_partition", "original_offset")
# What csm adds to a copy (retry or DLQ); only trusted on records csm wrote itself.
OURS = frozenset({FIRST_SEEN, NOT_BEFORE, ATTEMPT, RETRY_ERROR, *ORIGIN, "error", "error_detail"})


def now_ms() -> int:
    return int(time.time() * 1000)


def origin(rec: Any, copy: bool) -> tuple[str, int, int]:
    """Where a message was first read: its own place, or the one a retry `copy` carries."""
    topic, partition, offset = (header(rec.headers, name) if copy else None for name in ORIGIN)
    if topic is None or partition is None or offset is None:
        return rec.topic, rec.partition, rec.offset
    return topic, int(partition), int(offset)


def adapter_headers(rec: Any, copy: bool) -> list[tuple[str, bytes]]:
    """The headers the adapter sent (a `copy` without the ones csm added on the way)."""
    return [(k, v) for k, v in rec.headers or () if not copy or k not in OURS]


def origin_headers(place: tuple[str, int, int]) -> list[tuple[str, bytes]]:
    return [(name, str(value).encode()) for name, value in zip(ORIGIN, place, strict=True)]


def not_before(rec: Any) -> int:
    return int(header(rec.headers, NOT_BEFORE) or 0)


@dataclass(frozen=True)
class RetryPolicy:
    for_seconds: float = 600.0
    backoff: float = 1.0
    backoff_max: float = 60.0

    def first_seen(self, rec: Any, copy: bool, now: int) -> int:
        value = header(rec.headers, FIRST_SEEN) if copy else None
        return int(value) if value is not None else now

    def next_copy(self, rec: Any, copy: bool, error: str, now: int
                  ) -> list[tuple[str, bytes]] | None:
        """The headers of the next retry copy, or None when its time is up."""
        first = self.first_seen(rec, copy, now)
        deadline = first + int(self.for_seconds * 1000)
        if now >= deadline:
            return None
        attempt = int((header(rec.headers, ATTEMPT) if copy else None) or 0) + 1
        wait = min(self.backoff * 2 ** (attempt - 1), self.backoff_max)
        due = min(now + int(wait * 1000), deadline)
        return [*adapter_headers(rec, copy), *origin_headers(origin(rec, copy)),
                (FIRST_SEEN, str(first).encode()), (NOT_BEFORE, str(due).encode()),
                (ATTEMPT, str(attempt).encode()), (RETRY_ERROR, error.encode()[:4000])]


def retry_policy(settings: Any) -> RetryPolicy:
    return RetryPolicy(settings.csm_inbound_retry_seconds,
                       settings.csm_inbound_retry_backoff_seconds,
                       settings.csm_inbound_retry_backoff_max_seconds)


class Holds:
    """Retry partitions paused at a copy that is not due yet, and when each is due."""

    def __init__(self) -> None:
        self.until: dict[TopicPartition, int] = {}

    def hold(self, cons: Any, tp: TopicPartition, offset: int, due: int) -> None:
        cons.pause(tp)
        cons.seek(tp, offset)
        self.until[tp] = due

    def release_due(self, cons: Any, now: int) -> None:
        due = [tp for tp, at in self.until.items() if at <= now]
        if not due:
            return
        assigned = cons.assignment()
        # A partition that moved to another consumer lost its pause with it.
        cons.resume(*[tp for tp in due if tp in assigned])
        for tp in due:
            del self.until[tp]

    def forget(self, cons: Any, tps: list[TopicPartition]) -> None:
        """Read these again from where they are now (after a rewind): nothing held."""
        held = [tp for tp in tps if self.until.pop(tp, None) is not None]
        if held:
            assigned = cons.assignment()
            cons.resume(*[tp for tp in held if tp in assigned])

    def next_in(self, now: int) -> float | None:
        """Seconds until the next held partition is due (None: none is held)."""
        return max(0.0, (min(self.until.values()) - now) / 1000) if self.until else None
