"""Surveys and their invitations, revisits, improvement actions: one row per record."""
from __future__ import annotations

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table

SURVEYS = Table("surveys", (
    ("survey_id", "text"), ("name", "text"), ("trigger", "text"), ("questions", "int"),
    ("suppressed", "bigint")), key=("survey_id",), kind="row")
INVITATIONS = Table("survey_invitations", (
    ("survey_id", "text"), ("customer_id", "text"), ("channel", "text"),
    ("position", "bigint")), key=("survey_id", "customer_id"), kind="append")
REVISITS = Table("revisits", (
    ("revisit_id", "text"), ("customer_id", "text"), ("department_id", "text"),
    ("reason", "text"), ("complaint_id", "text"), ("cause_event_id", "text"),
    ("scheduled_at", "timestamptz"), ("scheduled_day", "date"), ("due_at", "timestamptz"),
    ("completed_at", "timestamptz"), ("outcome", "text"), ("satisfaction", "int")),
    key=("revisit_id",), kind="row", indexes=(("scheduled_day",),))
ACTIONS = Table("improvement_actions", (
    ("action_id", "text"), ("department_id", "text"), ("title", "text"),
    ("source_ids", "text[]"), ("cause_event_id", "text"), ("status", "text"),
    ("raised_at", "timestamptz"), ("due_at", "timestamptz"), ("completed_at", "timestamptz"),
    ("verified_at", "timestamptz"), ("effective", "boolean")),
    key=("action_id",), kind="row")


class Followups(Projection):
    name = "followups"
    version = 1
    tables = (SURVEYS, INVITATIONS, REVISITS, ACTIONS)
    handles = frozenset({"survey.created", "survey.invitations_sent", "revisit.scheduled",
                         "revisit.completed", "improvement.raised", "improvement.completed",
                         "improvement.verified"})

    def needs(self, ev: Ev):
        if ev.type == "survey.invitations_sent":
            yield "surveys", (ev.stream_id,)
        elif ev.type == "revisit.completed":
            yield "revisits", (ev.stream_id,)
        elif ev.type in ("improvement.completed", "improvement.verified"):
            yield "improvement_actions", (ev.stream_id,)

    def apply(self, ev: Ev, w: Writer) -> None:
        d, t, key = ev.data, ev.type, (ev.stream_id,)
        if t == "survey.created":
            w.put("surveys", key, {"survey_id": ev.stream_id, "name": d["name"],
                                   "trigger": d["trigger"], "questions": len(d["questions"]),
                                   "suppressed": 0})
        elif t == "survey.invitations_sent":
            survey = w.get("surveys", key)
            if survey is not None:
                survey["suppressed"] += len(d.get("suppressed_ids") or ())
            for customer in d["customer_ids"]:
                w.append("survey_invitations", (ev.stream_id, customer), {
                    "survey_id": ev.stream_id, "customer_id": customer,
                    "channel": d["channel"], "position": ev.position})
        elif t == "revisit.scheduled":
            w.put("revisits", key, {
                "revisit_id": ev.stream_id, "customer_id": d["customer_id"],
                "department_id": d["department_id"], "reason": d["reason"],
                "complaint_id": d.get("complaint_id"), "cause_event_id": d.get("cause_event_id"),
                "scheduled_at": ev.occurred_at, "scheduled_day": w.day(ev.occurred_at),
                "due_at": d["due_at"]})
        elif t == "revisit.completed":
            row = w.get("revisits", key)
            if row is not None:
                row.update(completed_at=ev.occurred_at, outcome=d["outcome"],
                           satisfaction=d.get("satisfaction"))
        elif t == "improvement.raised":
            w.put("improvement_actions", key, {
                "action_id": ev.stream_id, "department_id": d["department_id"],
                "title": d["title"], "source_ids": d["source_ids"],
                "cause_event_id": d.get("cause_event_id"), "status": "raised",
                "raised_at": ev.occurred_at, "due_at": d["due_at"]})
        else:
            row = w.get("improvement_actions", key)
            if row is None:
                return
            if t == "improvement.completed":
                row.update(status="completed", completed_at=ev.occurred_at)
            else:
                row.update(status="verified", verified_at=ev.occurred_at, effective=d["effective"])
