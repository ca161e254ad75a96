"""Reading the store one batch ahead, in a thread, while the batch before is written.

Writing a batch is mostly PostgreSQL's work; reading the next is mostly decoding,
Python's. Done side by side, the server's part no longer adds to the time a
catch-up takes. Only a full batch is followed by a read ahead (a runner at the
head reads as before); a read ahead is used only if the next read starts where it
did, and any other read is made afresh, so what is read is the same either way.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from psycopg_pool import ConnectionPool

from csm.projections.events import Ev
from csm.projections.store import read_events


class ReadAhead:
    """`read(after)` is `read_events(pool, after, batch, upto, types)`; `follow(events)`, once
    a full batch is applied in memory, starts reading the next while it is written. Close it
    (or use `with`) when done."""

    def __init__(self, pool: ConnectionPool, batch: int, upto: int | None = None,
                 types: frozenset[str] | None = None):
        self.pool, self.batch, self.upto, self.types = pool, batch, upto, types
        self._executor: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, Future[list[Ev]]] | None = None

    def read(self, after: int) -> list[Ev]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after:
            return ahead[1].result()
        if ahead is not None:
            _discard(ahead[1])
        return read_events(self.pool, after, self.batch, self.upto, self.types)

    def follow(self, events: list[Ev]) -> None:
        if len(events) < self.batch or self._ahead is not None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="csm-read-ahead")
        start = events[-1].position
        self._ahead = (start, self._executor.submit(
            read_events, self.pool, start, self.batch, self.upto, self.types))

    def close(self) -> None:
        if self._ahead is not None:
            _discard(self._ahead[1])
            self._ahead = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _discard(future: Future) -> None:
    """Waits for a read no one will use; its failure, if any, is not the caller's."""
    if not future.cancel():
        future.exception()
