"""Feedback as additive daily facts per channel, kind and department."""
from __future__ import annotations

from csm.projections.base import Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table

FACTS = Table("feedback_facts", (
    ("day", "date"), ("channel", "text"), ("kind", "text"), ("department_id", "text"),
    ("count", "bigint"), ("rating_n", "bigint"), ("rating_sum", "bigint")),
    key=("day", "channel", "kind", "department_id"), kind="counter", indexes=(("day",),))


def _submitted(ev: Ev, w: Writer) -> None:
    d = ev.data
    rating = d.get("rating")
    w.add("feedback_facts", (w.day(ev.occurred_at), d["channel"], d["kind"],
                             d.get("department_id")),
          (1, 0 if rating is None else 1, rating or 0))


class FeedbackFacts(Projection):
    name = "feedback"
    version = 1
    tables = (FACTS,)
    changes = {"feedback.submitted": _submitted}
    handles = frozenset(changes)
    views = (
        """CREATE VIEW "{schema}".feedback_monthly AS
           SELECT date_trunc('month', day)::date AS month, channel, kind, department_id,
                  sum(count)::bigint AS count, sum(rating_n)::bigint AS rating_n,
                  sum(rating_sum)::bigint AS rating_sum
           FROM "{schema}".feedback_facts GROUP BY 1, channel, kind, department_id""",
    )
