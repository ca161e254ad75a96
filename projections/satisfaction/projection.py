"""Survey answers as additive daily facts, so any roll-up, filter or zone bucket is exact.

`satisfaction_facts` has one row per local day × department × channel × survey
× tier × dimension, with integer sums (item scores are whole numbers on
0-100), so means, variances, CSAT, NPS and gaps of any slice are exact.
`survey_responses` has one row per response. The policy's dimension weights
in force are kept in this projection's state for CSI. Each response carries its
customer's tier, so no other stream is read and any delivery order per stream works.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import add
from typing import Any, ClassVar

from csm.domain.thresholds import likert_satisfied, nps_detractor, nps_promoter
from csm.domain.values import item_score
from csm.projections.base import PolicyState, Projection, Writer
from csm.projections.events import Ev
from csm.projections.tables import Table

SLICE = (("department_id", "text"), ("channel", "text"), ("survey_id", "text"), ("tier", "text"))
MEASURES = ("answers", "score_sum", "score_sumsq", "responses", "likert_n", "likert_top2",
            "nps_n", "nps_promoters", "nps_detractors", "expectation_n", "expectation_gap_sum",
            "competitor_n", "competitor_gap_sum")

FACTS = Table("satisfaction_facts",
              (("day", "date"), *SLICE, ("dimension", "text"),
               *((m, "bigint") for m in MEASURES)),
              key=("day", "department_id", "channel", "survey_id", "tier", "dimension"),
              kind="counter", indexes=(("day",),))
RESPONSES = Table("survey_responses", (
    ("response_id", "text"), ("survey_id", "text"), ("customer_id", "text"),
    ("department_id", "text"), ("channel", "text"), ("tier", "text"), ("day", "date"),
    ("occurred_at", "timestamptz"), ("answers", "int"), ("position", "bigint")),
    key=("response_id",), kind="append", indexes=(("day",), ("survey_id", "customer_id")))


@lru_cache(maxsize=4096, typed=True)  # typed: 1 and 1.0 make different sums
def answer_measures(scale: str, value: int) -> tuple[int, ...]:
    """One answer's contribution to MEASURES (responses, index 3, counted separately)."""
    s = int(item_score(scale, value))
    m = [1, s, s * s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    if scale == "likert5":
        m[4], m[5] = 1, int(likert_satisfied(value) is True)
    elif scale == "nps10":
        m[6], m[7], m[8] = 1, int(nps_promoter(value)), int(nps_detractor(value))
    elif scale == "expectation5":
        m[9], m[10] = 1, value - 3
    else:
        m[11], m[12] = 1, value - 3
    return tuple(m)


@dataclass(frozen=True, slots=True)
class SatisfactionState(PolicyState):
    """The dimension weights in force for CSI."""
    projection: ClassVar[str] = "satisfaction"
    weights: dict[str, float]


def _policy_published(ev: Ev, w: Writer) -> None:
    w.state = SatisfactionState(weights=ev.data["rules"].get("dimension_weights", {}),
                                policy_version=ev.version).as_json()


def _answered(ev: Ev, w: Writer) -> None:
    d = ev.data
    customer, tier = d.get("customer_id"), d.get("tier")
    day: date = w.day(ev.occurred_at)
    base = (day, d.get("department_id"), d["channel"], d["survey_id"], tier)
    per_dimension: dict[str, list[int]] = {}
    for a in d["answers"]:
        m = answer_measures(a["scale"], a["value"])
        acc = per_dimension.get(a["dimension"])
        if acc is None:
            acc = per_dimension[a["dimension"]] = list(m)
            acc[3] = 1  # this response counts once in each dimension it answers
        else:
            per_dimension[a["dimension"]] = list(map(add, acc, m))
    for dimension, m in per_dimension.items():
        w.add("satisfaction_facts", (*base, dimension), m)
    w.append("survey_responses", (ev.stream_id,), {
        "response_id": ev.stream_id, "survey_id": d["survey_id"], "customer_id": customer,
        "department_id": d.get("department_id"), "channel": d["channel"], "tier": tier,
        "day": day, "occurred_at": ev.occurred_at, "answers": len(d["answers"]),
        "position": ev.position})


class Satisfaction(Projection):
    name = "satisfaction"
    version = 1
    tables = (FACTS, RESPONSES)
    changes = {"survey.answered": _answered, "policy.published": _policy_published}
    handles = frozenset(changes)
    cost = 5.0
    views = (
        """CREATE VIEW "{schema}".satisfaction_monthly AS
           SELECT date_trunc('month', day)::date AS month, department_id, channel, survey_id,
                  tier, dimension, """ + ", ".join(f"sum({m})::bigint AS {m}" for m in MEASURES)
        + """ FROM "{schema}".satisfaction_facts
           GROUP BY 1, department_id, channel, survey_id, tier, dimension""",
    )

    def initial_state(self) -> dict[str, Any]:
        return SatisfactionState(weights={}, policy_version=0).as_json()
