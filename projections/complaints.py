"""One row per complaint: its current state for the backlog, its history in figures for stats."""
from __future__ import annotations

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table

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
    ("feedback_id", "text"), ("policy_version", "int"), ("last_position", "bigint")),
    key=("complaint_id",), kind="row",
    indexes=(("opened_day",), ("status",), ("department_id",)))


class Complaints(Projection):
    name = "complaints"
    version = 1
    tables = (COMPLAINTS,)
    handles = frozenset({"complaint.opened", "complaint.acknowledged", "complaint.assigned",
                         "complaint.escalated", "complaint.sla_breached", "complaint.resolved",
                         "complaint.reopened", "complaint.closed"})
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

    def apply(self, ev: Ev, w: Writer) -> None:
        d, key = ev.data, (ev.stream_id,)
        if ev.type == "complaint.opened":
            w.put("complaints", key, {
                "complaint_id": ev.stream_id, "department_id": d["department_id"],
                "opened_department_id": d["department_id"], "customer_id": d.get("customer_id"),
                "channel": d["channel"], "category": d.get("category"),
                "severity": d["severity"], "high_value": d["high_value"], "status": "open",
                "escalation_level": 0, "opened_at": ev.occurred_at,
                "opened_day": w.day(ev.occurred_at), "acknowledge_due": d["acknowledge_due"],
                "resolve_due": d["resolve_due"], "resolutions": 0, "reopened": 0,
                "escalations": 0, "breaches": 0, "acknowledge_breached": False,
                "feedback_id": d.get("feedback_id"),
                "policy_version": d["policy_version"], "last_position": ev.position})
            return
        row = w.get("complaints", key)
        if row is None:
            return
        row["last_position"] = ev.position
        t = ev.type
        if t == "complaint.acknowledged":
            row["status"], row["acknowledged_at"] = "acknowledged", ev.occurred_at
        elif t == "complaint.assigned":
            row["department_id"], row["handler"] = d["department_id"], d["handler"]
        elif t == "complaint.escalated":
            row["escalation_level"], row["escalations"] = d["level"], row["escalations"] + 1
        elif t == "complaint.sla_breached":
            row["breaches"] += 1
            if d["which"] == "acknowledge":
                row["acknowledge_breached"] = True
            else:
                row["resolve_breached_due"] = d["due"]
        elif t == "complaint.resolved":
            row["status"], row["resolutions"] = "resolved", row["resolutions"] + 1
            if row.get("first_resolved_at") is None:
                row["first_resolved_at"], row["first_resolve_due"] = ev.occurred_at, d["resolve_due"]
                row["resolved_within_sla"] = d["on_time"]
        elif t == "complaint.reopened":
            row["status"], row["reopened"] = "reopened", row["reopened"] + 1
            row["resolve_due"] = d["resolve_due"]
        elif t == "complaint.closed":
            row["status"], row["closed_at"] = "closed", ev.occurred_at
            row["customer_satisfied"], row["satisfaction"] = d["customer_satisfied"], d["satisfaction"]
