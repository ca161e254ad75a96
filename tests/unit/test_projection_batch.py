"""The one batch function the store runner, the Kafka projector and the harness share."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from csm.projections.batch import apply_batch
from csm.projections.events import Ev
from csm.projections.failure import CannotApply, UndecodableEvent
from tests.unit.domain_builders import T0
from tests.unit.test_projection_harness import Toy

UTC_ZONE = ZoneInfo("UTC")


def seen(position: int, stream: str, type_: str = "toy.seen", data: dict | None = None) -> Ev:
    return Ev(position, stream, position, type_, T0,
              {"kind": "a", "value": 1} if data is None else data)


def test_each_lane_counts_its_own_events_and_the_states_given_stay_as_they_were():
    states = {0: {"events": 10}, 1: {"events": 20}, 2: {"events": 30}}

    w, touched = apply_batch(Toy(), [seen(1, "x"), seen(2, "y"), seen(3, "z")], UTC_ZONE, {},
                             states, lanes=[0, 1, 0])

    assert touched == {0: {"events": 12}, 1: {"events": 21}}
    assert states == {0: {"events": 10}, 1: {"events": 20}, 2: {"events": 30}}
    assert sorted(w.rows["last"]) == [("x",), ("y",), ("z",)]


def test_without_lanes_every_event_shares_the_one_state():
    _, touched = apply_batch(Toy(), [seen(1, "x"), seen(2, "x")], UTC_ZONE, {},
                             {None: {"events": 0}})

    assert touched == {None: {"events": 2}}


def test_events_the_projection_does_not_handle_leave_the_state_untouched():
    w, touched = apply_batch(Toy(), [seen(1, "x", type_="other.thing")], UTC_ZONE, {},
                             {None: {"events": 0}})

    assert touched == {} and w.rows == {}


def test_rows_loaded_before_the_batch_are_read_through_the_writer():
    loaded = {"last": {("x",): {"id": "x", "seen": 4, "at": T0}}}

    w, _ = apply_batch(Toy(), [seen(7, "x")], UTC_ZONE, loaded, {None: {"events": 0}})

    assert w.rows["last"][("x",)]["seen"] == 5
    assert loaded["last"][("x",)]["seen"] == 4


def test_the_first_event_that_cannot_be_applied_is_named_by_its_index():
    events = [seen(1, "x"), seen(2, "y", data={}), seen(3, "z")]

    with pytest.raises(CannotApply) as failed:
        apply_batch(Toy(), events, UTC_ZONE, {}, {None: {"events": 0}})

    assert failed.value.index == 1 and isinstance(failed.value.error, KeyError)


def test_an_undecodable_event_cannot_be_applied():
    events = [seen(1, "x"), Ev(2, "y", 2, "toy.seen", T0, None)]

    with pytest.raises(CannotApply) as failed:
        apply_batch(Toy(), events, UTC_ZONE, {}, {None: {"events": 0}})

    assert failed.value.index == 1 and isinstance(failed.value.error, UndecodableEvent)
