"""Prometheus counters of the command path: commands by type and outcome, events recorded
by type. Counted where a command's fate is known — the application's own `handle`, a
group commit's members, the inbound consumer's batch — and only there, so none is counted
twice."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter

from csm.domain.application import NothingToRecord
from csm.domain.errors import (
    AlreadyExists,
    ConcurrentChange,
    InvalidInput,
    InvalidTransition,
    NotFound,
)

COMMANDS = Counter("csm_commands_total", "Commands handled, by type and outcome",
                   ["command", "outcome"])
EVENTS = Counter("csm_events_recorded_total", "Events recorded, by type", ["type"])
OUTCOMES = {NotFound: "not_found", InvalidInput: "invalid", InvalidTransition: "refused",
            AlreadyExists: "already_exists", ConcurrentChange: "conflict",
            NothingToRecord: "nothing_to_record"}


def count_command(command: Any, error: BaseException | None = None) -> None:
    outcome = "recorded" if error is None else OUTCOMES.get(type(error), "error")
    COMMANDS.labels(type(command).__name__, outcome).inc()


def count_events(events: Iterable[Any]) -> None:
    for e in events:
        EVENTS.labels(type(e).TYPE).inc()
