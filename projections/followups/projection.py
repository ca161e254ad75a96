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


def _survey_created(ev: Ev, w: Writer) -> None:
    d = ev.data
    w.put("surveys", (ev.stream_id,), {"survey_id": ev.stream_id, "name": d["name"],
                                       "trigger": d["trigger"], "questions": len(d["questions"]),
                                       "suppressed": 0})


def _invitations_sent(ev: Ev, w: Writer) -> None:
    d = ev.data
    survey = w.get("surveys", (ev.stream_id,))
    if survey is not None:
        survey["suppressed"] += len(d.get("suppressed_ids") or ())
    for customer in d["customer_ids"]:
        w.append("survey_invitations", (ev.stream_id, customer), {
            "survey_id": ev.stream_id, "customer_id": customer,
            "channel": d["channel"], "position": ev.position})


def _revisit_scheduled(ev: Ev, w: Writer) -> None:
    d = ev.data
    w.put("revisits", (ev.stream_id,), {
        "revisit_id": ev.stream_id, "customer_id": d["customer_id"],
        "department_id": d["department_id"], "reason": d["reason"],
        "complaint_id": d.get("complaint_id"), "cause_event_id": d.get("cause_event_id"),
        "scheduled_at": ev.occurred_at, "scheduled_day": w.day(ev.occurred_at),
        "due_at": d["due_at"]})


def _revisit_completed(ev: Ev, w: Writer) -> None:
    row = w.get("revisits", (ev.stream_id,))
    if row is not None:
        row.update(completed_at=ev.occurred_at, outcome=ev.data["outcome"],
                   satisfaction=ev.data.get("satisfaction"))


def _improvement_raised(ev: Ev, w: Writer) -> None:
    d = ev.data
    w.put("improvement_actions", (ev.stream_id,), {
        "action_id": ev.stream_id, "department_id": d["department_id"],
        "title": d["title"], "source_ids": d["source_ids"],
        "cause_event_id": d.get("cause_event_id"), "status": "raised",
        "raised_at": ev.occurred_at, "due_at": d["due_at"]})


def _improvement_completed(ev: Ev, w: Writer) -> None:
    row = w.get("improvement_actions", (ev.stream_id,))
    if row is not None:
        row.update(status="completed", completed_at=ev.occurred_at)


def _improvement_verified(ev: Ev, w: Writer) -> None:
    row = w.get("improvement_actions", (ev.stream_id,))
    if row is not None:
        row.update(status="verified", verified_at=ev.occurred_at, effective=ev.data["effective"])


class Followups(Projection):
    name = "followups"
    version = 1
    tables = (SURVEYS, INVITATIONS, REVISITS, ACTIONS)
    changes = {"survey.created": _survey_created, "survey.invitations_sent": _invitations_sent,
               "revisit.scheduled": _revisit_scheduled, "revisit.completed": _revisit_completed,
               "improvement.raised": _improvement_raised,
               "improvement.completed": _improvement_completed,
               "improvement.verified": _improvement_verified}
    handles = frozenset(changes)

    def needs(self, ev: Ev):
        if ev.type == "survey.invitations_sent":
            yield "surveys", (ev.stream_id,)
        elif ev.type == "revisit.completed":
            yield "revisits", (ev.stream_id,)
        elif ev.type in ("improvement.completed", "improvement.verified"):
            yield "improvement_actions", (ev.stream_id,)
