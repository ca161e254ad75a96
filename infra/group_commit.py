"""Group commit: commands that arrive together are recorded in one transaction.

Each caller hands its command to `handle` and waits. One thread takes what has queued up
meanwhile, decides the commands one after another in one unit of work (each sees what the
ones before it changed, as if they had come one by one) and records all their events,
idempotency records and other steps in one transaction: one round of locks, one fsync. A
command a rule refuses is refused alone, and its neighbours go on. Each answer carries the
position of the command's own last event; each step sees only its command's positions.

When the shared transaction cannot commit — a stream changed by another process, an id
taken meanwhile, an idempotency key recorded by a racing request, the store away — nothing
of it is recorded and every command of the group is handled again on its own, by
`app.handle` (with its own retries and its own error), as is a command that arrives alone.

A thread calls `handle` and blocks; a coroutine awaits `submit`, which is woken from the
group's thread through its event loop, so the API needs no thread of its own per command.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence

import structlog

from csm.domain.application import AnswerStep, Recorded
from csm.domain.commands import Command
from csm.domain.csm import CsmApplication
from csm.infra.command_metrics import count_command

log = structlog.get_logger()
MAX_GROUP = 256


class _Waiting:
    __slots__ = ("command", "steps", "wake", "result", "error")

    def __init__(self, command: Command, steps: Sequence[AnswerStep], wake: Callable[[], None]):
        self.command, self.steps, self.wake = command, steps, wake
        self.result: Recorded | None = None
        self.error: BaseException | None = None

    def outcome(self) -> Recorded:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _waker(loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> Callable[[], None]:
    def settle() -> None:
        if not future.done():  # its request may have been cancelled meanwhile
            future.set_result(None)

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed (its server stopped): nobody waits any more
            pass
    return wake


class GroupCommit:
    def __init__(self, app: CsmApplication, max_group: int = MAX_GROUP):
        self.app, self.max_group = app, max_group
        self.waiting: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def handle(self, command: Command, in_transaction: Sequence[AnswerStep] = ()) -> Recorded:
        """Decides and records the command with whatever arrives with it; its own answer."""
        done = threading.Event()
        w = self._enqueue(command, in_transaction, done.set)
        done.wait()
        return w.outcome()

    async def submit(self, command: Command, in_transaction: Sequence[AnswerStep] = ()
                     ) -> Recorded:
        """`handle` for a coroutine: awaits the group's decision without holding a thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        w = self._enqueue(command, in_transaction, _waker(loop, future))
        await future
        return w.outcome()

    def _enqueue(self, command: Command, steps: Sequence[AnswerStep],
                 wake: Callable[[], None]) -> _Waiting:
        self._start()
        w = _Waiting(command, steps, wake)
        self.waiting.put(w)
        return w

    def stop(self) -> None:
        if self.thread is not None:
            self.waiting.put(None)
            self.thread.join(timeout=10)

    def _start(self) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="csm-group-commit",
                                                   daemon=True)
                    self.thread.start()

    def _run(self) -> None:
        while (first := self.waiting.get()) is not None:
            group = [first]
            while len(group) < self.max_group:
                try:
                    more = self.waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.waiting.put(None)  # stop once this group is done
                    break
                group.append(more)
            if len(group) == 1:  # nothing to share: the plain path, with its retries
                self._alone(first)
                continue
            try:
                outcomes = self.app.handle_together([(w.command, w.steps) for w in group])
            except Exception as exc:  # noqa: BLE001 - each command goes again on its own
                log.debug("group_commit_split", commands=len(group), error=type(exc).__name__)
                for w in group:
                    self._alone(w)
                continue
            for w, outcome in zip(group, outcomes):
                if isinstance(outcome, Recorded):
                    w.result = outcome
                else:
                    w.error = outcome
                count_command(w.command, w.error)
                w.wake()

    def _alone(self, w: _Waiting) -> None:
        """One command by `app.handle`, which retries it and counts it."""
        try:
            w.result = self.app.handle(w.command, in_transaction=w.steps)
        except Exception as exc:  # noqa: BLE001 - its caller's answer
            w.error = exc
        w.wake()
