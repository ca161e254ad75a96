"""A projection that cannot apply an event: which event, why, and when to try it again.

An event fails a projection either in memory (its code raises) or when PostgreSQL
refuses the rows it made (a value the table cannot hold). A batch's rows are written
together, so the second kind is narrowed down by writing ever shorter prefixes of the
batch in savepoints that are always rolled back. A lost connection is never a
projection's failure: it is the store's, and the whole batch is tried again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import psycopg_pool
import structlog

from csm.projections.events import Ev

log = structlog.get_logger()
# Not the projection's fault: the store went away or the transaction must be run again.
STORE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout)
MAX_BACKOFF = 30.0


class CannotApply(Exception):
    """Applying the events in memory raised at `index` (of the events given)."""

    def __init__(self, index: int, error: BaseException):
        super().__init__(index, error)
        self.index, self.error = index, error


class UndecodableEvent(ValueError):
    """The stored bytes of an event are not what the reader can decode."""


class ProjectionFailed(Exception):
    """Raised where a failure must not be isolated (a rebuild): the projection, event, error."""

    def __init__(self, projection: str, position: int, event_id: str, error: str):
        super().__init__(f"projection {projection} cannot apply event {event_id} at position "
                         f"{position}: {error}")
        self.projection, self.position, self.event_id, self.error = (
            projection, position, event_id, error)


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()[:2000]


def writable_prefix(attempt: Callable[[int], None], failing: int,
                    error: BaseException) -> tuple[int, BaseException]:
    """`attempt(k)` writes the first k events (and rolls them back), raising if refused.
    Writing `failing` events was refused with `error`; returns (k, why) such that k events
    can be written and k + 1 cannot, `why` being the refusal of k + 1."""
    good = 0
    while failing - good > 1:
        middle = (good + failing) // 2
        try:
            attempt(middle)
        except STORE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - any refusal narrows the search
            failing, error = middle, exc
        else:
            good = middle
    return good, error


def backoff(attempts: int) -> float:
    """Seconds before trying a failed projection again: 1, 2, 4, … up to 30."""
    return min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1))


@dataclass
class Stopped:
    """A projection that cannot go on, as this process knows it."""
    position: int
    event_id: str
    error: str
    retry_at: float
    since: float = 0.0       # when this process first saw it fail (monotonic)
    attempts: int = 1
    announced: bool = False  # projection_failed logged by this process

    def again(self, now: float) -> None:
        self.attempts += 1
        self.retry_at = now + backoff(self.attempts)


def halt(current: Stopped | None, projection: str, bad: Ev, error: str, now: float) -> Stopped:
    """After a failed attempt at `bad`: a new stop, or the same one tried again later.
    `projection_failed` is logged once per stop, not once per attempt."""
    if current is None or current.event_id != bad.event_id:
        current = Stopped(bad.position, bad.event_id, error, now + backoff(1), since=now)
    else:
        current.again(now)
        current.error = error
    if not current.announced:
        current.announced = True
        log.error("projection_failed", projection=projection, position=bad.position,
                  event_id=bad.event_id, error=error)
    return current


def recovered(projection: str, stopped: Stopped, now: float) -> None:
    log.info("projection_recovered", projection=projection, event_id=stopped.event_id,
             position=stopped.position, failed_seconds=round(now - stopped.since, 1))
