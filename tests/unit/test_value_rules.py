"""The field types every command shares: what they refuse, what they keep, and why they say so."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from csm.domain.fields import Id, Short, Slug, Text, Timestamp
from csm.domain.policy import PolicyRules
from csm.domain.values import ID_PATTERN, derived_id

TEXT = TypeAdapter(Text)
SHORT = TypeAdapter(Short)
TIMESTAMP = TypeAdapter(Timestamp)


def refusal(adapter: TypeAdapter, value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    return caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("adapter", [TEXT, SHORT], ids=["text", "short"])
@pytest.mark.parametrize("value, says", [
    ("a\x00b", "U+0000"),
    ("\x00", "U+0000"),
    ("a\ud800b", "unpaired surrogate"),
    ("\udfff", "unpaired surrogate"),
    ("\ud83d\ude00", "unpaired surrogate"),  # two halves as separate code points: no UTF-8 form
])
def test_text_with_a_nul_or_a_surrogate_code_point_is_refused_naming_the_character(
        adapter, value, says):
    assert says in refusal(adapter, value)


@pytest.mark.parametrize("value", ["plain", "洗衣机漏水", "emoji 😀 ok", "tab\tand\nnewline",
                                   "\ufffd replacement", "x" * 200])
def test_text_that_postgresql_can_store_is_kept_unchanged(value):
    assert SHORT.validate_python(value) == value
    assert TEXT.validate_python(value) == value


def test_the_length_limits_still_hold():
    assert "at most 200" in refusal(SHORT, "x" * 201)
    assert "at least 1" in refusal(TEXT, "")


@pytest.mark.parametrize("value", [
    "1900-01-01T00:00:00Z",
    "1900-01-01T14:00:00+14:00",
    "2026-11-30T10:00:00+14:00",
    "2026-11-30T10:00:00-14:00",
    "2026-11-30T10:00:00+05:45",
    "9999-12-31T23:59:59Z",
    "9999-12-31T09:59:59-14:00",
])
def test_timestamps_within_14_hours_offset_and_the_years_1900_to_9999_are_accepted(value):
    parsed = TIMESTAMP.validate_python(value)
    assert parsed == datetime.fromisoformat(value)
    assert parsed.utcoffset() == datetime.fromisoformat(value).utcoffset()


@pytest.mark.parametrize("value, says", [
    ("2026-11-30T10:00:00+14:01", "offset +14:01 lies outside ±14:00"),
    ("2026-11-30T10:00:00+20:00", "offset +20:00 lies outside ±14:00"),
    ("2030-01-01T00:00:00-20:16", "offset -20:16 lies outside ±14:00"),
    ("2026-11-30T10:00:00-14:01", "offset -14:01 lies outside ±14:00"),
    ("9999-12-31T23:59:59-23:59", "offset -23:59 lies outside ±14:00"),
    ("0001-01-01T00:00:00+23:59", "offset +23:59 lies outside ±14:00"),
    ("0001-01-01T00:00:00Z", "years 1900–9999 in UTC"),
    ("0001-01-01T00:00:00+14:00", "years 1900–9999 in UTC"),
    ("1899-12-31T23:59:59Z", "years 1900–9999 in UTC"),
    ("1900-01-01T00:00:00+00:01", "years 1900–9999 in UTC"),
    ("9999-12-31T23:59:59-00:01", "years 1900–9999 in UTC"),
    ("2026-11-30T10:00:00", "with an offset"),
    ("0.5", "RFC 3339"),
    ("1780000000", "RFC 3339"),
    (0, "RFC 3339"),
    (1_780_000_000, "RFC 3339"),
    (True, "RFC 3339"),
])
def test_timestamps_outside_the_offsets_or_years_postgresql_stores_are_refused(value, says):
    assert says in refusal(TIMESTAMP, value)


def test_an_aware_datetime_from_python_is_checked_like_a_string():
    far_east = timezone(timedelta(hours=15))
    assert "offset +15:00 lies" in refusal(TIMESTAMP, datetime(2026, 1, 1, tzinfo=far_east))
    just_beyond = timezone(timedelta(hours=14, seconds=30))
    assert "offset +14:00:30 lies" in refusal(TIMESTAMP, datetime(2026, 1, 1, tzinfo=just_beyond))
    now = datetime.now(UTC)
    assert TIMESTAMP.validate_python(now) == now


@pytest.mark.parametrize("value", ["a\x00b", "a" * 65, "", "a b", "a\ud800", "ünï", "a/b"])
def test_an_id_outside_the_id_pattern_is_refused(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Id).validate_python(value)


def test_a_slug_with_a_trailing_newline_is_refused():
    with pytest.raises(ValidationError):
        TypeAdapter(Slug).validate_python("web\n")


@pytest.mark.parametrize("parts", [("f", "complaint"), ("a" * 54, "complaint"),
                                   ("a" * 55, "complaint"), ("b" * 64, "complaint"),
                                   ("x.y:z_" * 10 + "1234", "complaint"),
                                   ("revisit", "c" * 64, 12345)])
def test_an_id_derived_from_ids_of_any_length_follows_the_id_pattern(parts):
    assert re.match(ID_PATTERN, derived_id(*parts))


def test_a_short_derived_id_stays_readable():
    assert derived_id("f-7", "complaint") == "f-7:complaint"
    assert derived_id("a" * 54, "complaint") == "a" * 54 + ":complaint"
    assert derived_id("revisit", "cmp-1", 4) == "revisit:cmp-1:4"


def test_long_ids_that_share_a_prefix_derive_distinct_ids_and_the_same_one_every_time():
    first, second = "p" * 63 + "1", "p" * 63 + "2"
    assert derived_id(first, "complaint") != derived_id(second, "complaint")
    assert derived_id(first, "complaint") == derived_id(first, "complaint")
    assert derived_id(first, "complaint").startswith("p" * 47 + ":")
    assert len(derived_id(first, "complaint")) == 64


@pytest.mark.parametrize("rules, field", [
    ({"followups": {"closure_survey_id": "s\x00"}}, "closure_survey_id"),
    ({"followups": {"closure_survey_id": "x" * 65}}, "closure_survey_id"),
    ({"followups": {"invitation_limit": 10**30}}, "invitation_limit"),
    ({"points": {"praise": 10**30}}, "praise"),
    ({"points": {"praise": 3_000_000_000}}, "praise"),
    ({"points": {"complaint_received": {"low": -10**12, "medium": -2, "high": -4,
                                        "critical": -8}}}, "complaint_received"),
    ({"points": {"index_min_responses": 2**63}}, "index_min_responses"),
    ({"points": {"index_penalty_margin": float("inf")}}, "index_penalty_margin"),
    ({"high_value_factor": float("nan")}, "high_value_factor"),
    ({"dimension_weights": {"quality\n": 1.0}}, "dimension_weights"),
])
def test_a_policy_value_no_projection_could_store_is_refused(rules, field):
    with pytest.raises(ValidationError) as caught:
        PolicyRules.model_validate(rules)
    assert field in str(caught.value)
