"""The one batch function: a projection's events in, its row changes and new state out.

The store runner, the Kafka projector and the unit-test harness all apply
events through `apply_batch`; they differ only in where the rows come from
and where the changes go. A Kafka projection keeps one state per partition
(a lane); the store runner has a single lane, `None`.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.failure import CannotApply, UndecodableEvent

Rows = dict[str, dict[tuple, dict[str, Any]]]


def apply_batch(p: Projection, events: Sequence[Ev], zone: ZoneInfo, loaded: Rows,
                states: Mapping[Hashable, dict[str, Any]],
                lanes: Sequence[Hashable] | None = None
                ) -> tuple[Writer, dict[Hashable, dict[str, Any]]]:
    """Applies, in order, the events `p` handles to a fresh writer over the `loaded` rows.

    `lanes[i]` names the state event i is applied with (all `None` without
    `lanes`); the states given are never changed: a lane's state is copied the
    first time one of its events is applied, and only those lanes are returned.
    Raises `CannotApply` with the index of the first event the projection cannot apply.
    """
    w = Writer(zone, {})
    w.loaded = loaded
    touched: dict[Hashable, dict[str, Any]] = {}
    for i, ev in enumerate(events):
        if ev.type not in p.handles:
            continue
        lane = None if lanes is None else lanes[i]
        state = touched.get(lane)
        w.state = orjson.loads(orjson.dumps(states[lane])) if state is None else state
        try:
            if ev.data is None:
                raise UndecodableEvent("the stored event cannot be decoded")
            p.apply(ev, w)
        except Exception as exc:  # noqa: BLE001 - a projection's bug stops it alone
            raise CannotApply(i, exc) from exc
        touched[lane] = w.state
    return w, touched
