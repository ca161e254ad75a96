"""Department points: one ledger line per rule an event meets.

Each line carries the points of the policy version in force when the event
was recorded (this projection follows policy.published in log order) and goes
to the department that owned the item at that moment (events carry it).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from csm.domain.policy import DEFAULT_RULES
from csm.domain.thresholds import likert_satisfied
from csm.projections.base import PolicyState, Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table

LEDGER = Table("department_score_ledger", (
    ("event_id", "text"), ("rule", "text"), ("position", "bigint"), ("department_id", "text"),
    ("occurred_at", "timestamptz"), ("day", "date"), ("points", "int"),
    ("policy_version", "int")),
    key=("event_id", "rule"), kind="append", indexes=(("department_id", "day"), ("day",)))
DEPARTMENTS = Table("departments", (
    ("department_id", "text"), ("name", "text"), ("satisfaction_target", "float8")),
    key=("department_id",), kind="row")


def _default_points() -> dict[str, Any]:
    return DEFAULT_RULES.points.model_dump()


@dataclass(frozen=True, slots=True)
class LedgerState(PolicyState):
    """The points of the policy in force."""
    projection: ClassVar[str] = "ledger"
    points: dict[str, Any]


def _policy_published(ev: Ev, w: Writer) -> None:
    w.state = LedgerState(points=ev.data["rules"].get("points") or _default_points(),
                          policy_version=ev.version).as_json()


def _department_registered(ev: Ev, w: Writer) -> None:
    w.put("departments", (ev.stream_id,), {
        "department_id": ev.stream_id, "name": ev.data["name"],
        "satisfaction_target": ev.data["satisfaction_target"]})


Points = dict[str, Any]
Rules = list[tuple[str, int]]


def _praise(d: dict, p: Points) -> Rules:
    return [("praise", p["praise"])] if d["kind"] == "praise" else []


def _received(d: dict, p: Points) -> Rules:
    return [(f"complaint_received_{d['severity']}", p["complaint_received"][d["severity"]])]


def _breach(d: dict, p: Points) -> Rules:
    return [(f"sla_breach_{d['which']}", p["sla_breach"])]


def _resolved(d: dict, p: Points) -> Rules:
    return [("resolved_on_time", p["resolved_on_time"])] if d["on_time"] else []


def _closed(d: dict, p: Points) -> Rules:
    satisfied = d["customer_satisfied"]
    if satisfied is None and d.get("satisfaction") is not None:
        satisfied = likert_satisfied(d["satisfaction"])
    return _judged("closed", satisfied, p)


def _revisited(d: dict, p: Points) -> Rules:
    if d.get("satisfaction") is None:
        return []
    return _judged("revisit", likert_satisfied(d["satisfaction"]), p)


def _judged(what: str, satisfied: bool | None, p: Points) -> Rules:
    if satisfied is None:
        return []
    rule = f"{what}_satisfied" if satisfied else f"{what}_dissatisfied"
    return [(rule, p[rule])]


# The rules each event type can meet, with the points of the policy in force.
RULES: dict[str, Callable[[dict, Points], Rules]] = {
    "feedback.submitted": _praise, "complaint.opened": _received,
    "complaint.sla_breached": _breach,
    "complaint.escalated": lambda d, p: [("escalation", p["escalation"])],
    "complaint.resolved": _resolved,
    "complaint.reopened": lambda d, p: [("reopened", p["reopened"])],
    "complaint.closed": _closed, "revisit.completed": _revisited,
}


def rules_met(ev: Ev, points: Points) -> Rules:
    return RULES[ev.type](ev.data, points)


def _scored(ev: Ev, w: Writer) -> None:
    state = LedgerState.of(w.state)
    department = ev.data.get("department_id")
    for rule, points in rules_met(ev, state.points):
        if department is None or points == 0:
            continue
        w.append("department_score_ledger", (ev.event_id, rule), {
            "event_id": ev.event_id, "rule": rule, "position": ev.position,
            "department_id": department, "occurred_at": ev.occurred_at,
            "day": w.day(ev.occurred_at), "points": points,
            "policy_version": state.policy_version})


class Ledger(Projection):
    name = "ledger"
    version = 1
    tables = (LEDGER, DEPARTMENTS)
    changes = {"policy.published": _policy_published,
               "department.registered": _department_registered,
               **dict.fromkeys(RULES, _scored)}
    handles = frozenset(changes)
    cost = 2.0
    views = (
        """CREATE VIEW "{schema}".department_scores_monthly AS
           SELECT date_trunc('month', day)::date AS month, department_id,
                  sum(points)::bigint AS ledger_points,
                  coalesce(sum(points) FILTER (WHERE points > 0), 0)::bigint AS rewards,
                  coalesce(sum(points) FILTER (WHERE points < 0), 0)::bigint AS penalties
           FROM "{schema}".department_score_ledger GROUP BY 1, department_id""",
    )

    def initial_state(self) -> dict[str, Any]:
        return LedgerState(points=_default_points(), policy_version=0).as_json()
