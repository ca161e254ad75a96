"""Satisfaction projection: Given survey events → Then daily facts, responses, tiers and weights."""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from csm.domain.policy import DEFAULT_RULES, Policy
from csm.domain.survey import Survey, SurveyResponse
from csm.projections.satisfaction.projection import MEASURES, Satisfaction
from csm.projections.satisfaction.queries import figures
from tests.unit.domain_builders import T0, question
from tests.unit.projection_harness import History, by_key, replay

P = Satisfaction()
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def survey_with(*questions, survey_id="s-1") -> Survey:
    return Survey.create(survey_id, "After purchase", "event", list(questions), T0)


def answer(survey: Survey, response_id: str, values: dict[str, int], *, customer_id=None,
           tier=None, department_id="dept-1", channel="web", occurred_at=DAY) -> SurveyResponse:
    return SurveyResponse.answer(
        response_id, survey, customer_id=customer_id, tier=tier, department_id=department_id,
        channel=channel, answers=[{"question_id": q, "value": v} for q, v in values.items()],
        comment=None, occurred_at=occurred_at, now=occurred_at)


def per_dimension(facts: list[dict]) -> dict[str, dict[str, int]]:
    """The facts rows of one slice summed per dimension (what the query does in SQL)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {m: 0 for m in MEASURES})
    for row in facts:
        for m in MEASURES:
            out[row["dimension"]][m] += row[m]
    return dict(out)


def facts_by_dimension(result) -> dict[str, dict]:
    return by_key(result["satisfaction_facts"], "dimension")


# -- CSI and its interval -------------------------------------------------------------------
THREE_RESPONSES = [  # product_quality (likert5), service_attitude (likert5), recommendation (nps10)
    {"q-pq": 5, "q-sa": 4, "q-rec": 10},  # item scores 100, 75, 100
    {"q-pq": 4, "q-sa": 2, "q-rec": 6},   # item scores  75, 25,  60
    {"q-pq": 3, "q-sa": 5, "q-rec": 9},   # item scores  50, 100, 90
]


def csi_history(weights: dict[str, float] | None) -> History:
    h = History()
    if weights is not None:
        h.record(Policy.publish_first(
            DEFAULT_RULES.model_copy(update={"dimension_weights": weights}), "admin", T0))
    s = survey_with(question("q-pq", "likert5", "product_quality"),
                    question("q-sa", "likert5", "service_attitude"),
                    question("q-rec", "nps10", "recommendation"))
    h.record(s)
    for i, values in enumerate(THREE_RESPONSES):
        h.record(answer(s, f"r-{i}", values))
    return h


def test_the_facts_hold_exact_integer_sums_of_item_scores_per_dimension():
    result = replay(P, csi_history(None).events)

    facts = facts_by_dimension(result)
    assert set(facts) == {"product_quality", "service_attitude", "recommendation"}
    pq, sa, rec = facts["product_quality"], facts["service_attitude"], facts["recommendation"]
    assert (pq["answers"], pq["score_sum"], pq["score_sumsq"], pq["responses"]) == (
        3, 100 + 75 + 50, 100**2 + 75**2 + 50**2, 3)
    assert (sa["answers"], sa["score_sum"], sa["score_sumsq"]) == (3, 200, 16250)
    assert (rec["answers"], rec["score_sum"], rec["score_sumsq"]) == (3, 250, 10000 + 3600 + 8100)
    for row in facts.values():
        assert (row["day"], row["department_id"], row["channel"], row["survey_id"], row["tier"]) == (
            date(2026, 3, 10), "dept-1", "web", "s-1", None)


def test_weighted_csi_and_its_ci95_match_a_hand_computation():
    result = replay(P, csi_history({"product_quality": 2.0}).events)

    assert result.state["weights"] == {"product_quality": 2.0}
    f = figures(per_dimension(result["satisfaction_facts"]), result.state["weights"])
    # product_quality: scores 100, 75, 50 → mean 75, s² = (25² + 0² + 25²) / 2 = 625, w = 2
    # service_attitude: scores 75, 25, 100 → mean 200/3, s² = (3·16250 − 200²) / (3·2) = 8750/6, w = 1
    # recommendation is left out of the CSI.
    # CSI = (2·75 + 1·200/3) / 3 = 650/9 = 72.222…
    assert f["csi"] == pytest.approx(650 / 9)
    assert f["csi"] == pytest.approx(72.2222222)
    # Σ (w/W)² s²/n = (2/3)²·625/3 + (1/3)²·(8750/6)/3 = 2500/27 + 4375/81 = 11875/81 = 146.6049…
    half = 1.96 * math.sqrt(11875 / 81)
    assert half == pytest.approx(23.73178, abs=1e-4)
    low, high = f["csi_ci95"]
    assert low == pytest.approx(650 / 9 - half)
    assert high == pytest.approx(650 / 9 + half)
    assert f["dimensions"]["product_quality"] == {"mean": 75.0, "n": 3}
    assert f["dimensions"]["service_attitude"]["mean"] == pytest.approx(200 / 3)


def test_without_a_policy_every_dimension_weighs_one():
    result = replay(P, csi_history(None).events)

    assert result.state == {"weights": {}, "policy_version": 0}
    f = figures(per_dimension(result["satisfaction_facts"]), result.state["weights"])
    # (75 + 200/3) / 2 = 425/6
    assert f["csi"] == pytest.approx(425 / 6)
    # (1/2)²·625/3 + (1/2)²·(8750/6)/3 = 625/12 + 4375/36 = 6250/36
    half = 1.96 * math.sqrt(6250 / 36)
    assert f["csi_ci95"] == pytest.approx([425 / 6 - half, 425 / 6 + half])


def test_csat_and_nps_come_from_the_likert_and_nps_counts():
    result = replay(P, csi_history(None).events)

    facts = facts_by_dimension(result)
    # likert answers 5, 4, 3 (pq) and 4, 2, 5 (sa): four of six are ≥ 4
    assert (facts["product_quality"]["likert_n"], facts["product_quality"]["likert_top2"]) == (3, 2)
    assert (facts["service_attitude"]["likert_n"], facts["service_attitude"]["likert_top2"]) == (3, 2)
    # nps answers 10, 6, 9: two promoters, one detractor
    rec = facts["recommendation"]
    assert (rec["nps_n"], rec["nps_promoters"], rec["nps_detractors"]) == (3, 2, 1)
    assert rec["likert_n"] == 0 and facts["product_quality"]["nps_n"] == 0
    f = figures(per_dimension(result["satisfaction_facts"]), {})
    assert f["csat"] == pytest.approx(100 * 4 / 6)
    assert f["nps"] == pytest.approx(100 * (2 - 1) / 3)


def test_a_ci95_needs_at_least_two_answers_in_every_dimension():
    h = History()
    s = survey_with(question("q-pq", "likert5", "product_quality"),
                    question("q-sa", "likert5", "service_attitude"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-pq": 5, "q-sa": 3}))
    h.record(answer(s, "r-2", {"q-pq": 4}))

    f = figures(per_dimension(replay(P, h.events)["satisfaction_facts"]), {})

    assert f["csi"] == pytest.approx((87.5 + 50) / 2)
    assert f["csi_ci95"] is None


# -- the other measures ----------------------------------------------------------------------
def test_expectation_and_competitor_answers_sum_their_gaps_to_three():
    h = History()
    s = survey_with(question("q-exp", "expectation5", "experience"),
                    question("q-rival", "competitor5", "price_value"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-exp": 5, "q-rival": 1}))
    h.record(answer(s, "r-2", {"q-exp": 2, "q-rival": 4}))
    h.record(answer(s, "r-3", {"q-exp": 4}))

    result = replay(P, h.events)

    facts = facts_by_dimension(result)
    exp, rival = facts["experience"], facts["price_value"]
    assert (exp["expectation_n"], exp["expectation_gap_sum"]) == (3, 2 - 1 + 1)
    assert (exp["answers"], exp["score_sum"], exp["score_sumsq"]) == (3, 100 + 25 + 75, 10000 + 625 + 5625)
    assert (exp["competitor_n"], exp["likert_n"], exp["nps_n"]) == (0, 0, 0)
    assert (rival["competitor_n"], rival["competitor_gap_sum"]) == (2, -2 + 1)
    assert (rival["answers"], rival["score_sum"]) == (2, 0 + 75)
    assert rival["expectation_n"] == 0
    f = figures(per_dimension(result["satisfaction_facts"]), {})
    assert f["expectation_gap"] == pytest.approx(2 / 3)
    assert f["competitor_gap"] == pytest.approx(-1 / 2)
    assert f["csat"] is None and f["nps"] is None


def test_a_response_counts_once_in_a_dimension_even_when_it_answers_two_of_its_questions():
    h = History()
    s = survey_with(question("q-a", "likert5", "product_quality"),
                    question("q-b", "likert5", "product_quality"),
                    question("q-c", "likert5", "communication"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-a": 5, "q-b": 3, "q-c": 4}))
    h.record(answer(s, "r-2", {"q-b": 1}))

    result = replay(P, h.events)

    facts = facts_by_dimension(result)
    assert (facts["product_quality"]["responses"], facts["product_quality"]["answers"]) == (2, 3)
    assert (facts["communication"]["responses"], facts["communication"]["answers"]) == (1, 1)
    assert [(r["response_id"], r["answers"]) for r in result["survey_responses"]] == [
        ("r-1", 3), ("r-2", 1)]


# -- days in the configured zone ----------------------------------------------------------------
LATE_EVENING_UTC = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)


def late_evening_answer() -> History:
    h = History()
    s = survey_with(question("q-pq", "likert5", "product_quality"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-pq": 4}, occurred_at=LATE_EVENING_UTC))
    return h


def test_an_answer_at_20h_utc_on_31_march_counts_on_1_april_in_shanghai():
    result = replay(P, late_evening_answer().events, zone=SHANGHAI)

    [fact] = result["satisfaction_facts"]
    assert fact["day"] == date(2026, 4, 1)
    [response] = result["survey_responses"]
    assert response["day"] == date(2026, 4, 1)
    assert response["occurred_at"] == LATE_EVENING_UTC


def test_the_same_answer_counts_on_31_march_in_utc():
    result = replay(P, late_evening_answer().events, zone=ZoneInfo("UTC"))

    [fact] = result["satisfaction_facts"]
    assert fact["day"] == date(2026, 3, 31)
    assert result["survey_responses"][0]["day"] == date(2026, 3, 31)


def test_answers_on_different_local_days_make_separate_fact_rows():
    h = History()
    s = survey_with(question("q-pq", "likert5", "product_quality"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-pq": 4}, occurred_at=datetime(2026, 3, 31, 15, 59, tzinfo=UTC)))
    h.record(answer(s, "r-2", {"q-pq": 2}, occurred_at=datetime(2026, 3, 31, 16, 0, tzinfo=UTC)))

    shanghai = replay(P, h.events, zone=SHANGHAI)["satisfaction_facts"]
    utc = replay(P, h.events)["satisfaction_facts"]

    assert [(r["day"], r["score_sum"]) for r in shanghai] == [
        (date(2026, 3, 31), 75), (date(2026, 4, 1), 25)]
    assert [(r["day"], r["score_sum"], r["responses"]) for r in utc] == [(date(2026, 3, 31), 100, 2)]


# -- slices: department, channel, tier -----------------------------------------------------------
def test_the_tier_the_response_carries_is_its_slice():
    h = History()
    s = survey_with(question("q-pq", "likert5", "product_quality"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-pq": 5}, customer_id="cust-gold", tier="high_value"))
    h.record(answer(s, "r-2", {"q-pq": 4}, customer_id="cust-plain", tier="standard"))
    h.record(answer(s, "r-3", {"q-pq": 3}, customer_id=None))

    for batches in (None, 1):
        result = replay(P, h.events, batches=batches)
        assert [(r["tier"], r["score_sum"]) for r in result["satisfaction_facts"]] == [
            ("high_value", 100), ("standard", 75), (None, 50)]
        assert by_key(result["survey_responses"], "response_id")["r-1"]["tier"] == "high_value"


def test_departments_and_channels_are_separate_slices():
    h = History()
    s = survey_with(question("q-pq", "likert5", "product_quality"))
    h.record(s)
    h.record(answer(s, "r-1", {"q-pq": 5}, department_id="dept-1", channel="web"))
    h.record(answer(s, "r-2", {"q-pq": 4}, department_id="dept-1", channel="app"))
    h.record(answer(s, "r-3", {"q-pq": 3}, department_id="dept-2", channel="web"))
    h.record(answer(s, "r-4", {"q-pq": 1}, department_id=None, channel="web"))

    result = replay(P, h.events)

    got = sorted(((r["department_id"] or ""), r["channel"], r["score_sum"], r["responses"])
                 for r in result["satisfaction_facts"])
    assert got == [("", "web", 0, 1), ("dept-1", "app", 75, 1), ("dept-1", "web", 100, 1),
                   ("dept-2", "web", 50, 1)]


def test_a_response_line_records_who_answered_what_and_where_in_the_log():
    h = late_evening_answer()

    [row] = replay(P, h.events)["survey_responses"]

    assert row == {"response_id": "r-1", "survey_id": "s-1", "customer_id": None,
                   "department_id": "dept-1", "channel": "web", "tier": None,
                   "day": date(2026, 3, 31), "occurred_at": LATE_EVENING_UTC, "answers": 1,
                   "position": 2}


# -- the policy's weights --------------------------------------------------------------------
def test_published_dimension_weights_are_kept_in_state_and_replaced_by_the_next_version():
    h = History()
    policy = Policy.publish_first(
        DEFAULT_RULES.model_copy(update={"dimension_weights": {"product_quality": 3.0}}), "a", T0)
    h.record(policy)
    first = replay(P, h.events)
    policy.publish(DEFAULT_RULES.model_copy(update={"dimension_weights": {"communication": 0.5}}),
                   "a", T0)
    h.record(policy)

    second = replay(P, h.events, batches=1)

    assert first.state == {"weights": {"product_quality": 3.0}, "policy_version": 1}
    assert second.state == {"weights": {"communication": 0.5}, "policy_version": 2}
    assert second["satisfaction_facts"] == []


def test_weights_change_the_csi_but_not_the_facts():
    unweighted = replay(P, csi_history(None).events)
    weighted = replay(P, csi_history({"service_attitude": 0.0, "product_quality": 1.0}).events)

    assert unweighted["satisfaction_facts"] == weighted["satisfaction_facts"]
    f = figures(per_dimension(weighted["satisfaction_facts"]), weighted.state["weights"])
    assert f["csi"] == pytest.approx(75.0)  # only product_quality weighs

