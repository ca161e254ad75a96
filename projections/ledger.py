"""Department points: one ledger line per rule an event meets.

Each line carries the points of the policy version in force when the event
was recorded (this projection follows policy.published in log order) and goes
to the department that owned the item at that moment (events carry it).
"""
from __future__ import annotations

from typing import Any

from csm.domain.policy import DEFAULT_RULES
from csm.projections.base import Projection, Writer
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


class Ledger(Projection):
    name = "ledger"
    version = 1
    tables = (LEDGER, DEPARTMENTS)
    handles = frozenset({"policy.published", "department.registered", "feedback.submitted",
                         "complaint.opened", "complaint.sla_breached", "complaint.escalated",
                         "complaint.resolved", "complaint.reopened", "complaint.closed",
                         "revisit.completed"})
    views = (
        """CREATE VIEW "{schema}".department_scores_monthly AS
           SELECT date_trunc('month', day)::date AS month, department_id,
                  sum(points)::bigint AS ledger_points,
                  coalesce(sum(points) FILTER (WHERE points > 0), 0)::bigint AS rewards,
                  coalesce(sum(points) FILTER (WHERE points < 0), 0)::bigint AS penalties
           FROM "{schema}".department_score_ledger GROUP BY 1, department_id""",
    )

    def initial_state(self) -> dict[str, Any]:
        return {"points": _default_points(), "policy_version": 0}

    def apply(self, ev: Ev, w: Writer) -> None:
        d, t = ev.data, ev.type
        if t == "policy.published":
            w.state = {"points": d["rules"].get("points") or _default_points(),
                       "policy_version": ev.version}
            return
        if t == "department.registered":
            w.put("departments", (ev.stream_id,), {
                "department_id": ev.stream_id, "name": d["name"],
                "satisfaction_target": d["satisfaction_target"]})
            return
        for rule, points in self.rules_met(ev, w.state["points"]):
            department = d.get("department_id")
            if department is None or points == 0:
                continue
            w.append("department_score_ledger", (ev.event_id, rule), {
                "event_id": ev.event_id, "rule": rule, "position": ev.position,
                "department_id": department, "occurred_at": ev.occurred_at,
                "day": w.day(ev.occurred_at), "points": points,
                "policy_version": w.state["policy_version"]})

    @staticmethod
    def rules_met(ev: Ev, p: dict[str, Any]) -> list[tuple[str, int]]:
        d, t = ev.data, ev.type
        if t == "feedback.submitted":
            return [("praise", p["praise"])] if d["kind"] == "praise" else []
        if t == "complaint.opened":
            return [(f"complaint_received_{d['severity']}", p["complaint_received"][d["severity"]])]
        if t == "complaint.sla_breached":
            return [(f"sla_breach_{d['which']}", p["sla_breach"])]
        if t == "complaint.escalated":
            return [("escalation", p["escalation"])]
        if t == "complaint.resolved":
            return [("resolved_on_time", p["resolved_on_time"])] if d["on_time"] else []
        if t == "complaint.reopened":
            return [("reopened", p["reopened"])]
        if t == "complaint.closed":
            satisfied = d["customer_satisfied"]
            if satisfied is None and d.get("satisfaction") is not None:
                satisfied = True if d["satisfaction"] >= 4 else False if d["satisfaction"] <= 2 else None
            if satisfied is None:
                return []
            return [("closed_satisfied", p["closed_satisfied"])] if satisfied else [
                ("closed_dissatisfied", p["closed_dissatisfied"])]
        if t == "revisit.completed" and d.get("satisfaction") is not None:
            s = d["satisfaction"]
            if s >= 4:
                return [("revisit_satisfied", p["revisit_satisfied"])]
            if s <= 2:
                return [("revisit_dissatisfied", p["revisit_dissatisfied"])]
        return []
