"""Replaying the store into a build schema with the projections shared among processes.

Applying events is Python work, on one core per process. With more cores and
enough events to replay, the projections are split into one group per core, by
their `cost`: this process replays the first group, and each other group is
replayed by a spawned process with connections of its own, into the same
schema. A projection's tables and status row are its own, so the processes
never write the same rows, and each writes a projection's rows with its position
in one transaction, as any runner does. Each process reads the store itself.

A projection goes to another process as its class, made afresh there; one with
attributes set on it in this process (a patch) is replayed here. The first
failure in any process ends the replay: a projection that cannot apply an event
raises `ProjectionFailed` here as it did there, and the other processes are
stopped; the caller drops the schema. As with any use of multiprocessing, a script
that rebuilds runs its code under `if __name__ == "__main__":`.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import ConnectionPool

from csm.projections.base import Projection
from csm.projections.failure import ProjectionFailed, describe_error
from csm.projections.runner import Runner

PROCESSES = os.cpu_count() or 1
PARALLEL_FROM = 100_000  # events; fewer are replayed in this process (a spawn takes ~1 s)
REBUILD_BATCH = 40_000   # events per batch: fewer, larger writes into the empty tables


def replay(pool: ConnectionPool, projections: Sequence[Projection], zone: ZoneInfo,
           schema: str, upto: int, progress: Callable[[int], None] | None = None) -> None:
    """Applies the store up to `upto` to the projections, whose tables and status rows are in
    `schema`; `progress` gets the lowest position reached, after each batch anywhere."""
    processes = PROCESSES if upto >= PARALLEL_FROM else 1
    here, *elsewhere = groups(projections, processes)
    with _Helpers(pool, elsewhere, zone, schema, upto) as helpers:
        def advanced(position: int) -> None:
            helpers.at[0] = position
            helpers.poll(block=False)
            if progress:
                progress(min(helpers.at))
        runner = Runner(pool, here, zone, schema=schema)
        runner.catch_up(upto, advanced, batch=REBUILD_BATCH)
        helpers.at[0] = runner.position if here else upto
        while helpers.busy():
            if helpers.poll(block=True) and progress:
                progress(min(helpers.at))


def groups(projections: Sequence[Projection], n: int) -> list[list[Projection]]:
    """At most n non-empty groups of about equal cost, largest first; the first holds every
    projection that cannot go to another process."""
    out: list[list[Projection]] = [[p for p in projections if not _sendable(p)]]
    out += [[] for _ in range(max(1, n) - 1)]
    for p in sorted((p for p in projections if _sendable(p)), key=lambda p: -p.cost):
        min(out, key=lambda g: sum(q.cost for q in g)).append(p)
    out = [g for g in out if g]
    return out if out else [[]]


def _sendable(p: Projection) -> bool:
    """Made afresh from its class in another process, it is the same projection."""
    return not vars(p) and "<locals>" not in type(p).__qualname__


class _Helpers:
    """The spawned processes replaying the other groups, and where each has got to;
    `at[0]` is this process's own group."""

    def __init__(self, pool: ConnectionPool, groups_: list[list[Projection]], zone: ZoneInfo,
                 schema: str, upto: int):
        self.at = [0] * (len(groups_) + 1)
        self.done: set[int] = set()
        self.processes: list[Any] = []
        if not groups_:
            return
        context = multiprocessing.get_context("spawn")
        self.messages = context.Queue()
        for i, g in enumerate(groups_, start=1):
            proc = context.Process(
                target=_replay_group, name=f"csm-build-{i}", daemon=True,
                args=(i, pool.conninfo, pool.kwargs, [type(p) for p in g], zone, schema, upto,
                      self.messages))
            proc.start()
            self.processes.append(proc)

    def busy(self) -> bool:
        return len(self.done) < len(self.processes)

    def poll(self, block: bool) -> bool:
        """Takes in what the helpers said (waiting a little for a word, if `block`); raises
        if one of them failed. True if any said anything."""
        heard = False
        while self.busy():
            try:
                i, what, detail = self.messages.get(timeout=0.5 if block and not heard else 0)
            except queue.Empty:
                self._check_alive()
                return heard
            heard = True
            if what == "at":
                self.at[i] = detail
            elif what == "done":
                self.at[i] = detail
                self.done.add(i)
            elif what == "failed":
                raise ProjectionFailed(*detail)
            else:
                raise RuntimeError(f"the build process csm-build-{i} failed: {detail}")
        return heard

    def _check_alive(self) -> None:
        """A helper that returned has said so (its word may still be on its way); one that
        ended otherwise was killed."""
        for i, proc in enumerate(self.processes, start=1):
            if i not in self.done and proc.exitcode not in (None, 0):
                raise RuntimeError(f"the build process csm-build-{i} ended "
                                   f"(exit code {proc.exitcode}) before its group was built")

    def __enter__(self) -> _Helpers:
        return self

    def __exit__(self, *_exc) -> None:
        for proc in self.processes:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def _replay_group(index: int, conninfo: str, kwargs: dict[str, Any], classes: list[type],
                  zone: ZoneInfo, schema: str, upto: int, messages: Any) -> None:
    """A spawned process: replays the group's projections and says how it went."""
    pool = ConnectionPool(conninfo, kwargs=kwargs, min_size=1, max_size=3, open=True)
    try:
        runner = Runner(pool, [cls() for cls in classes], zone, schema=schema)
        runner.catch_up(upto, lambda position: messages.put((index, "at", position)),
                        batch=REBUILD_BATCH)
        messages.put((index, "done", runner.position))
    except ProjectionFailed as failed:
        messages.put((index, "failed", (failed.projection, failed.position, failed.event_id,
                                        failed.error)))
    except BaseException as exc:  # noqa: BLE001 - said to the parent, which raises it
        messages.put((index, "error", describe_error(exc)))
    finally:
        pool.close()
