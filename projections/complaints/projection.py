"""One row per complaint: its current state for the backlog, its history in figures for stats."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table

Row = dict[str, Any]

COMPLAINTS = Table("complaints", (
    ("complaint_id", "text"), ("department_id", "text"), ("opened_department_id", "text"),
    ("handler", "text"), ("customer_id", "text"), ("channel", "text"), ("category", "text"),
    ("severity", "text"), ("high_value", "boolean"), ("status", "text"),
    ("escalation_level", "int"), ("opened_at", "timestamptz"), ("opened_day", "date"),
    ("acknowledge_due", "timestamptz"), ("resolve_due", "timestamptz"),
    ("acknowledged_at", "timestamptz"), ("first_resolved_at", "timestamptz"),
    ("first_resolve_due", "timestamptz"), ("resolved_within_sla", "boolean"),
    ("resolutions", "int"), ("reopened", "int"), ("escalations", "int"), ("breaches", "int"),
    ("acknowledge_breached", "boolean"), ("resolve_breached_due", "timestamptz"),
    ("closed_at", "timestamptz"), ("customer_satisfied", "boolean"), ("satisfaction", "int"),
    ("feedback_id", "text"), ("policy_version", "int"), ("awaiting_since", "timestamptz"),
    ("waits", "int"), ("waited_hours", "float8"), ("last_position", "bigint")),
    key=("complaint_id",), kind="row",
    indexes=(("opened_day",), ("status",), ("department_id",)))


def _opened(ev: Ev, w: Writer) -> None:
    d = ev.data
    w.put("complaints", (ev.stream_id,), {
        "complaint_id": ev.stream_id, "department_id": d["department_id"],
        "opened_department_id": d["department_id"], "customer_id": d.get("customer_id"),
        "channel": d["channel"], "category": d.get("category"),
        "severity": d["severity"], "high_value": d["high_value"], "status": "open",
        "escalation_level": 0, "opened_at": ev.occurred_at,
        "opened_day": w.day(ev.occurred_at), "acknowledge_due": d["acknowledge_due"],
        "resolve_due": d["resolve_due"], "resolutions": 0, "reopened": 0,
        "escalations": 0, "breaches": 0, "acknowledge_breached": False,
        "feedback_id": d.get("feedback_id"),
        "policy_version": d["policy_version"], "waits": 0, "waited_hours": 0.0,
        "last_position": ev.position})


def _acknowledged(row: Row, ev: Ev) -> None:
    row["status"], row["acknowledged_at"] = "acknowledged", ev.occurred_at


def _assigned(row: Row, ev: Ev) -> None:
    row["department_id"], row["handler"] = ev.data["department_id"], ev.data["handler"]


def _escalated(row: Row, ev: Ev) -> None:
    row["escalation_level"], row["escalations"] = ev.data["level"], row["escalations"] + 1


def _breached(row: Row, ev: Ev) -> None:
    row["breaches"] += 1
    if ev.data["which"] == "acknowledge":
        row["acknowledge_breached"] = True
    else:
        row["resolve_breached_due"] = ev.data["due"]


def _end_wait(row: Row, ev: Ev) -> None:
    """A wait on the customer ends (reply or resolution): its wall-clock hours add up."""
    since = row.get("awaiting_since")
    if since is not None:
        hours = (ev.occurred_at - since).total_seconds() / 3600
        row["waited_hours"] = (row.get("waited_hours") or 0.0) + hours
        row["awaiting_since"] = None


def _awaiting(row: Row, ev: Ev) -> None:
    row["status"], row["awaiting_since"] = "awaiting_customer", ev.occurred_at
    row["waits"] = (row.get("waits") or 0) + 1


def _replied(row: Row, ev: Ev) -> None:
    _end_wait(row, ev)
    row["status"] = "reopened" if row["reopened"] else "acknowledged"
    row["resolve_due"] = ev.data["resolve_due"]


def _resolved(row: Row, ev: Ev) -> None:
    _end_wait(row, ev)
    row["status"], row["resolutions"] = "resolved", row["resolutions"] + 1
    if row.get("first_resolved_at") is None:
        row["first_resolved_at"], row["first_resolve_due"] = ev.occurred_at, ev.data["resolve_due"]
        row["resolved_within_sla"] = ev.data["on_time"]


def _reopened(row: Row, ev: Ev) -> None:
    row["status"], row["reopened"] = "reopened", row["reopened"] + 1
    row["resolve_due"] = ev.data["resolve_due"]


def _closed(row: Row, ev: Ev) -> None:
    row["status"], row["closed_at"] = "closed", ev.occurred_at
    row["customer_satisfied"] = ev.data["customer_satisfied"]
    row["satisfaction"] = ev.data["satisfaction"]


# What each later event changes in the complaint's row (if the row is there).
ROW_CHANGES: dict[str, Callable[[Row, Ev], None]] = {
    "complaint.acknowledged": _acknowledged, "complaint.assigned": _assigned,
    "complaint.escalated": _escalated, "complaint.sla_breached": _breached,
    "complaint.resolved": _resolved, "complaint.reopened": _reopened,
    "complaint.closed": _closed, "complaint.awaiting_customer": _awaiting,
    "complaint.customer_replied": _replied,
}


def _changed(ev: Ev, w: Writer) -> None:
    row = w.get("complaints", (ev.stream_id,))
    if row is None:
        return
    row["last_position"] = ev.position
    ROW_CHANGES[ev.type](row, ev)


class Complaints(Projection):
    name = "complaints"
    version = 2
    tables = (COMPLAINTS,)
    changes = {"complaint.opened": _opened, **dict.fromkeys(ROW_CHANGES, _changed)}
    handles = frozenset(changes)
    cost = 2.0
    views = (
        """CREATE VIEW "{schema}".complaints_monthly AS
           SELECT date_trunc('month', opened_day)::date AS month, department_id, severity,
                  count(*) AS received, count(first_resolved_at) AS resolved,
                  count(*) FILTER (WHERE resolved_within_sla) AS resolved_within_sla,
                  sum(escalations)::bigint AS escalations,
                  count(*) FILTER (WHERE reopened > 0) AS reopened,
                  count(*) FILTER (WHERE status <> 'closed') AS still_open
           FROM "{schema}".complaints GROUP BY 1, department_id, severity""",
    )

    def needs(self, ev: Ev):
        if ev.type != "complaint.opened":
            yield "complaints", (ev.stream_id,)
