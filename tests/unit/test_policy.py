"""Policy: the defaults, rule validation, and publishing versions."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from csm.domain.policy import DEFAULT_RULES, POLICY_STREAM_ID, Policy, PolicyRules
from tests.unit.domain_builders import T0, at, given, recorded

ALL_SLA = {
    "low": {"acknowledge": 48, "resolve": 336},
    "medium": {"acknowledge": 24, "resolve": 168},
    "high": {"acknowledge": 8, "resolve": 72},
    "critical": {"acknowledge": 2, "resolve": 24},
}


# -- defaults ----------------------------------------------------------------------
def test_the_default_rules_are_those_of_the_contract():
    dumped = DEFAULT_RULES.model_dump(mode="json")

    assert dumped["sla_hours"] == ALL_SLA
    assert dumped["high_value_factor"] == 0.5
    assert dumped["points"]["complaint_received"] == {"low": -1, "medium": -2, "high": -4, "critical": -8}
    assert (dumped["points"]["praise"], dumped["points"]["sla_breach"], dumped["points"]["escalation"]) == (2, -2, -3)
    assert dumped["followups"]["revisit_after_resolution"] is True
    assert dumped["followups"]["closure_survey_id"] is None
    assert dumped["followups"]["invitation_limit"] is None
    assert DEFAULT_RULES.weight("product_quality") == 1.0


def test_a_dimension_weight_overrides_the_default_of_one():
    rules = PolicyRules(dimension_weights={"product_quality": 2.5})

    assert rules.weight("product_quality") == 2.5
    assert rules.weight("communication") == 1.0


# -- validation ----------------------------------------------------------------------
def test_sla_hours_missing_a_severity_are_invalid():
    without_critical = {k: v for k, v in ALL_SLA.items() if k != "critical"}

    with pytest.raises(ValidationError, match="sla_hours needs exactly the severities"):
        PolicyRules.model_validate({"sla_hours": without_critical})


def test_sla_hours_with_an_unknown_severity_are_invalid():
    with pytest.raises(ValidationError, match=r"sla_hours\.urgent\.\[key\]"):
        PolicyRules.model_validate({"sla_hours": {**ALL_SLA, "urgent": {"acknowledge": 1, "resolve": 2}}})


def test_a_resolve_time_shorter_than_the_acknowledge_time_is_invalid():
    sla = {**ALL_SLA, "high": {"acknowledge": 10, "resolve": 5}}

    with pytest.raises(ValidationError, match="resolve hours must not be shorter than acknowledge hours"):
        PolicyRules.model_validate({"sla_hours": sla})


def test_equal_acknowledge_and_resolve_times_are_valid():
    sla = {**ALL_SLA, "high": {"acknowledge": 5, "resolve": 5}}

    assert PolicyRules.model_validate({"sla_hours": sla}).sla_hours["high"].resolve == 5


@pytest.mark.parametrize("factor", [1.01, 2, 0, -0.5])
def test_a_high_value_factor_outside_zero_to_one_is_invalid(factor):
    with pytest.raises(ValidationError, match="high_value_factor"):
        PolicyRules.model_validate({"high_value_factor": factor})


def test_a_high_value_factor_of_one_leaves_due_times_as_they_are():
    rules = PolicyRules(high_value_factor=1)

    assert rules.resolve_due("low", True, T0) == rules.resolve_due("low", False, T0) == at(336)


def test_an_unknown_field_is_invalid():
    with pytest.raises(ValidationError, match="sla_minutes"):
        PolicyRules.model_validate({"sla_minutes": {}})


def test_an_unknown_field_inside_sla_hours_is_invalid():
    sla = {**ALL_SLA, "low": {"acknowledge": 1, "resolve": 2, "close": 3}}

    with pytest.raises(ValidationError, match="close"):
        PolicyRules.model_validate({"sla_hours": sla})


@pytest.mark.parametrize("hours", [0, -1])
def test_sla_hours_must_be_positive(hours):
    sla = {**ALL_SLA, "low": {"acknowledge": hours, "resolve": 2}}

    with pytest.raises(ValidationError):
        PolicyRules.model_validate({"sla_hours": sla})


def test_complaint_points_missing_a_severity_are_invalid():
    with pytest.raises(ValidationError, match="complaint_received needs exactly the severities"):
        PolicyRules.model_validate({"points": {"complaint_received": {"low": -1}}})


def test_a_dimension_weight_name_that_is_not_a_slug_is_invalid():
    with pytest.raises(ValidationError, match="should match pattern"):
        PolicyRules.model_validate({"dimension_weights": {"Product Quality": 1}})


def test_a_negative_dimension_weight_is_invalid():
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        PolicyRules.model_validate({"dimension_weights": {"product_quality": -1}})


# -- publishing ----------------------------------------------------------------------
def test_publishing_the_first_policy_starts_the_policy_stream():
    rules = PolicyRules(high_value_factor=0.25)

    p = Policy.publish_first(rules, "admin-1", T0)

    [published] = recorded(p)
    assert type(published).TYPE == "policy.published"
    assert published.originator_id == POLICY_STREAM_ID and published.originator_version == 1
    assert published.rules == rules.model_dump(mode="json")
    assert published.published_by == "admin-1"
    assert published.occurred_at == published.timestamp == T0
    assert p.rules == rules


def test_publishing_again_records_a_new_version_that_replaces_the_rules():
    p = given(Policy.publish_first(DEFAULT_RULES, None, T0))
    stricter = PolicyRules(sla_hours={**ALL_SLA, "critical": {"acknowledge": 1, "resolve": 12}})

    p.publish(stricter, "admin-2", at(24))

    [published] = recorded(p)
    assert type(published).TYPE == "policy.published"
    assert published.originator_version == 2
    assert published.rules["sla_hours"]["critical"] == {"acknowledge": 1.0, "resolve": 12.0}
    assert published.published_by == "admin-2" and published.occurred_at == at(24)
    assert p.rules == stricter and p.version == 2


def test_published_rules_are_stored_as_plain_json_values():
    p = Policy.publish_first(DEFAULT_RULES, None, T0)

    [published] = recorded(p)
    assert PolicyRules.model_validate(published.rules) == DEFAULT_RULES
