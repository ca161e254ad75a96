"""Demo data for new users: a year of history fed through the real application, once.

The commands come from `csm.domain.demo_year`; they are decided and recorded a thousand
at a time (`handle_together`, one transaction per batch), exactly as commands from the API
would be. No deadline watcher may run on the store meanwhile (`csm serve --demo` loads
before it starts its own): the story plans the watcher's breaches itself, and a watcher
would judge the demo's complaints before the rest of their history is in.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from csm.domain import commands as c
from csm.domain.application import NothingToRecord, UnitNotClean
from csm.domain.demo_cast import FIRST_DEPARTMENT_ID
from csm.domain.demo_year import demo_start, demo_year
from csm.domain.policy import POLICY_STREAM_ID, PolicyRules
from csm.projections.store import head_position

DEFAULT_SEED = 1
BATCH = 1000


class DemoRefused(RuntimeError):
    """A command of the demo was refused; the batches before its own are recorded."""


def load_demo(runtime: Any, *, end: datetime, seed: int = DEFAULT_SEED,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Loads the demo year ending at `end` into the runtime's store, unless it is there.

    `progress(done, total)` is called after each batch, in commands. Answers a summary:
    `loaded`, and either `reason` (not loaded) or the counts, the seconds taken and what
    became of the demo's policy versions. Raises `DemoRefused` naming a refused command.
    """
    app, start = runtime.app, demo_start(end)
    summary: dict[str, Any] = {"seed": seed, "start": start.isoformat(),
                               "end": end.isoformat()}
    if _exists(app, FIRST_DEPARTMENT_ID):
        return {**summary, "loaded": False, "reason": "the demo is already in the store "
                f"(department '{FIRST_DEPARTMENT_ID}' exists); nothing loaded"}
    if _deadline_watcher_seen(runtime):
        raise DemoRefused("a deadline watcher runs on this store (csm serve or csm "
                          "deadlines): it would judge the demo's complaints before their "
                          "history is in; stop it and load again, or start with "
                          "`csm serve --demo`")
    began, head = time.perf_counter(), head_position(runtime.pool)
    rules, policy_note = _policy_in_force(app, start)
    commands = list(demo_year(seed, end, rules_in_force=rules))
    _feed(app, commands, progress)
    return {**summary, "loaded": True, "commands": len(commands),
            "events": head_position(runtime.pool) - head,
            "seconds": round(time.perf_counter() - began, 1), "policy": policy_note}


def _exists(app: Any, stream_id: str) -> bool:
    try:
        app.repository.get(stream_id)
    except AggregateNotFoundError:
        return False
    return True


def _deadline_watcher_seen(runtime: Any) -> bool:
    """Whether a deadline watcher wrote its heartbeat lately (within three beats)."""
    seconds = 3 * runtime.settings.csm_heartbeat_seconds + 5
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM csm_part_status WHERE part = 'deadlines' "
                           "AND last_seen > now() - make_interval(secs => %s)",
                           (seconds,)).fetchone()
    return row["n"] > 0


def _policy_in_force(app: Any, start: datetime) -> tuple[PolicyRules | None, str]:
    """The store's rules, if a policy was published after the demo's start (the demo then
    publishes none), and what happens to the demo's policy versions."""
    try:
        policy = app.repository.get(POLICY_STREAM_ID)
    except AggregateNotFoundError:
        return None, "published versions 1 and 2"
    if policy.modified_on > start:
        return policy.rules, (f"not published: the store's policy version {policy.version} "
                              f"was published at {policy.modified_on.isoformat()}, after the "
                              "demo's start; the demo follows it")
    return None, f"published versions {policy.version + 1} and {policy.version + 2}"


def _feed(app: Any, commands: list[c.Command],
          progress: Callable[[int, int], None] | None) -> None:
    done = 0
    for batch in _batches(commands):
        _record(app, batch, done)
        done += len(batch)
        if progress is not None:
            progress(done, len(commands))


def _batches(commands: Sequence[c.Command]) -> Iterator[list[c.Command]]:
    """Batches of at most BATCH commands; a policy publish alone in its own, so that it is
    in force (and in the log) before every command after it."""
    batch: list[c.Command] = []
    for command in commands:
        alone = isinstance(command, c.PublishPolicy)
        if batch and (alone or len(batch) >= BATCH):
            yield batch
            batch = []
        batch.append(command)
        if alone:
            yield batch
            batch = []
    if batch:
        yield batch


def _record(app: Any, batch: list[c.Command], before: int) -> None:
    """Records the batch in one transaction, or nothing of it if any command is refused."""
    def refuse_any(outcomes: list[Any]) -> list:
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, Exception):
                raise _refused(batch[i], before + i, outcome) from outcome
        return []
    try:
        outcomes = app.handle_together([(command, ()) for command in batch], refuse_any)
    except UnitNotClean as exc:
        raise DemoRefused(f"a demo batch (commands {before + 1}–{before + len(batch)}) "
                          f"failed: {exc.__cause__!r}; nothing of it was recorded") from exc
    except IntegrityError as exc:
        raise DemoRefused(f"a demo batch (commands {before + 1}–{before + len(batch)}) was "
                          "not recorded: an id it creates is already taken in this store "
                          f"({exc})") from exc
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, NothingToRecord):
            raise _refused(batch[i], before + i, outcome)


def _refused(command: c.Command, index: int, why: Exception) -> DemoRefused:
    ids = [v for k, v in vars(command).items() if k.endswith("_id") and isinstance(v, str)]
    about = f" for '{ids[0]}'" if ids else ""
    return DemoRefused(f"demo command {index + 1} ({type(command).__name__}{about}, received "
                       f"{command.now.isoformat()}) was refused: {type(why).__name__}: {why}; "
                       "the batches before its own are recorded")
