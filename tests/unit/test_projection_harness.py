"""The in-memory runner the projection tests rely on: batches, merges, state, values as stored."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table
from tests.unit.domain_builders import T0, a_customer, a_survey
from tests.unit.projection_harness import History, positioned, replay, sorted_rows

COUNTS = Table("counts", (("day", "date"), ("kind", "text"), ("n", "bigint"), ("s", "bigint")),
               key=("day", "kind"), kind="counter")
LAST = Table("last", (("id", "text"), ("seen", "int"), ("at", "timestamptz")), key=("id",),
             kind="row")
FIRST = Table("first", (("id", "text"), ("position", "bigint")), key=("id",), kind="append")


class Toy(Projection):
    """Counts per kind, the latest row per stream (reading the previous one), first positions."""
    name = "toy"
    tables = (COUNTS, LAST, FIRST)
    handles = frozenset({"toy.seen", "toy.bad"})

    def initial_state(self):
        return {"events": 0}

    def needs(self, ev):
        yield "last", (ev.stream_id,)

    def apply(self, ev: Ev, w: Writer) -> None:
        if ev.type == "toy.bad":
            w.put("last", (ev.stream_id,), {"id": ev.stream_id, "oops": 1})
            return
        w.add("counts", (w.day(ev.occurred_at), ev.data["kind"]), (1, ev.data["value"]))
        previous = w.get("last", (ev.stream_id,))
        w.put("last", (ev.stream_id,), {"id": ev.stream_id,
                                        "seen": (previous["seen"] if previous else 0) + 1,
                                        "at": ev.occurred_at.isoformat()})
        w.append("first", (ev.stream_id,), {"id": ev.stream_id, "position": ev.position})
        w.state = {"events": w.state["events"] + 1}


def seen(position, stream, kind="a", value=1, at=T0, type_="toy.seen"):
    return Ev(position, stream, position, type_, at, {"kind": kind, "value": value})


EVENTS = [seen(1, "x", "a", 2), seen(2, "y", "b", 3), seen(3, "x", "a", 5), seen(4, "x", "b", 7),
          seen(5, "y", "a", 11), seen(6, "z", "ignored-type", 0, type_="toy.other")]


@pytest.mark.parametrize("batches", [None, 1, 2, [1, 3], [4, 1, 1], 100])
def test_any_split_into_batches_gives_the_same_tables_and_state(batches):
    result = replay(Toy(), EVENTS, batches=batches)

    assert result["counts"] == [{"day": date(2024, 3, 4), "kind": "a", "n": 3, "s": 18},
                                {"day": date(2024, 3, 4), "kind": "b", "n": 2, "s": 10}]
    assert result["last"] == [{"id": "x", "seen": 3, "at": T0}, {"id": "y", "seen": 2, "at": T0}]
    assert result["first"] == [{"id": "x", "position": 1}, {"id": "y", "position": 2}]
    assert result.state == {"events": 5}
    assert result.position == 6


def test_iso_strings_in_timestamp_columns_come_back_as_aware_datetimes():
    [row] = replay(Toy(), [seen(1, "x", at=datetime(2026, 3, 31, 20, tzinfo=UTC))])["last"]

    assert row["at"] == datetime(2026, 3, 31, 20, tzinfo=UTC)
    assert isinstance(row["at"], datetime)


def test_a_row_with_a_column_its_table_lacks_is_refused():
    with pytest.raises(AssertionError, match="oops"):
        replay(Toy(), [seen(1, "x", type_="toy.bad")])


def test_events_out_of_position_order_are_refused():
    with pytest.raises(ValueError):
        replay(Toy(), [EVENTS[1], EVENTS[0]])


def test_sorted_rows_normalises_expected_rows_like_replayed_ones():
    assert sorted_rows(LAST, [{"id": "b", "seen": 1, "at": "2024-03-04T17:00:00+08:00"},
                              {"id": "a", "seen": 2}]) == [
        {"id": "a", "seen": 2, "at": None},
        {"id": "b", "seen": 1, "at": datetime(2024, 3, 4, 9, tzinfo=UTC)}]


def test_history_numbers_events_in_the_order_the_aggregates_are_recorded():
    h = History()
    h.record(a_customer("cust-1"), a_survey("s-1"))
    h.record(a_customer("cust-2"))

    assert [(e.position, e.stream_id, e.version, e.type) for e in h.events] == [
        (1, "cust-1", 1, "customer.registered"), (2, "s-1", 1, "survey.created"),
        (3, "cust-2", 1, "customer.registered")]
    assert h.last_position == 3 and len(h) == 3
    assert "occurred_at" not in h.events[0].data and h.events[0].occurred_at == T0


def test_positioned_numbers_domain_events_from_a_start():
    events = list(a_customer("cust-1").collect_events()) + list(a_survey().collect_events())

    assert [(e.position, e.type) for e in positioned(events, start=10)] == [
        (10, "customer.registered"), (11, "survey.created")]
