"""The rules in force: SLA hours, points, weights, follow-ups; published as versions."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from csm.domain import calendars
from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.calendars import Calendar
from csm.domain.fields import WHOLE_NUMBER, Id, Slug
from csm.domain.values import SEVERITIES, Severity

# Not a valid client id (see ID_PATTERN), so no business record can take it.
POLICY_STREAM_ID = "$policy"
# Every ledger line is a PostgreSQL int and every rule travels as JSON with 64-bit integers:
# bounds far inside both, far outside any sensible policy. Each bound is in the published
# schema, so whatever it admits the projections can store.
PointsValue = Annotated[int, Field(ge=-1_000_000, le=1_000_000), WHOLE_NUMBER]
Count = Annotated[int, Field(ge=1, le=1_000_000_000), WHOLE_NUMBER]
Weight = Annotated[float, Field(ge=0, le=1000)]
# A JSON object keyed by severity needs every one of them; the schema says so too.
EVERY_SEVERITY = Field(json_schema_extra={"required": list(SEVERITIES)})
# Strict: a number is a JSON number, a flag a JSON boolean, never a string that reads as one.
# pydantic states a key pattern as patternProperties, which alone admit any other name.
ONLY_PATTERN_KEYS = {"additionalProperties": False}
RULES_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class SlaHours(BaseModel):
    model_config = RULES_CONFIG
    acknowledge: float = Field(gt=0, le=24 * 365)
    resolve: float = Field(gt=0, le=24 * 365)


class Points(BaseModel):
    model_config = RULES_CONFIG
    praise: PointsValue = 2
    complaint_received: Annotated[dict[Severity, PointsValue], EVERY_SEVERITY] = Field(
        default_factory=lambda: {"low": -1, "medium": -2, "high": -4, "critical": -8})
    sla_breach: PointsValue = -2
    escalation: PointsValue = -3
    resolved_on_time: PointsValue = 1
    reopened: PointsValue = -2
    closed_satisfied: PointsValue = 1
    closed_dissatisfied: PointsValue = -1
    revisit_satisfied: PointsValue = 1
    revisit_dissatisfied: PointsValue = -1
    index_bonus: PointsValue = 10
    index_penalty: PointsValue = -10
    index_min_responses: Count = 30
    # In points of the index, which lies in 0–100.
    index_penalty_margin: float = Field(default=10, ge=0, le=100)

    @field_validator("complaint_received")
    @classmethod
    def _every_severity(cls, v: dict[str, int]) -> dict[str, int]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"complaint_received needs exactly the severities {list(SEVERITIES)}")
        return v


class Followups(BaseModel):
    model_config = RULES_CONFIG
    revisit_after_resolution: bool = True
    revisit_after_resolution_days: float = Field(default=3, gt=0, le=365)
    revisit_on_low_score: bool = True
    revisit_on_low_score_days: float = Field(default=3, gt=0, le=365)
    closure_survey_id: Id | None = None
    invitation_limit: Count | None = None
    invitation_limit_days: float = Field(default=30, gt=0, le=3650)


def _default_sla() -> dict[str, SlaHours]:
    return {
        "low": SlaHours(acknowledge=48, resolve=336),
        "medium": SlaHours(acknowledge=24, resolve=168),
        "high": SlaHours(acknowledge=8, resolve=72),
        "critical": SlaHours(acknowledge=2, resolve=24),
    }


class PolicyRules(BaseModel):
    """One version of the policy; every field has its default."""
    model_config = RULES_CONFIG
    sla_hours: Annotated[dict[Severity, SlaHours], EVERY_SEVERITY] = Field(
        default_factory=_default_sla)
    high_value_factor: float = Field(default=0.5, gt=0, le=1)
    points: Points = Field(default_factory=Points)
    dimension_weights: dict[Slug, Weight] = Field(
        default_factory=dict, max_length=1000,
        json_schema_extra=ONLY_PATTERN_KEYS)
    followups: Followups = Field(default_factory=Followups)
    # Business calendars (csm.domain.calendars); without one, SLA hours count around the clock.
    calendars: dict[Id, Calendar] = Field(default_factory=dict, max_length=100,
                                          json_schema_extra=ONLY_PATTERN_KEYS)
    sla_calendar: Id | None = None
    department_calendars: dict[Id, Id] = Field(default_factory=dict, max_length=100_000,
                                               json_schema_extra=ONLY_PATTERN_KEYS)
    around_the_clock: list[Severity] = Field(default_factory=lambda: ["critical"], max_length=4)

    @field_validator("around_the_clock")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("around_the_clock names a severity twice")
        return v

    @model_validator(mode="after")
    def _calendars_named_exist(self) -> "PolicyRules":
        named = [("sla_calendar", self.sla_calendar)] + [
            (f"department_calendars.{d}", c) for d, c in self.department_calendars.items()]
        for where, name in named:
            if name is not None and name not in self.calendars:
                known = ", ".join(sorted(self.calendars)) or "none"
                raise ValueError(f"{where} names the calendar {name!r}, which calendars does not "
                                 f"define (defined: {known})")
        return self

    @field_validator("sla_hours")
    @classmethod
    def _every_severity(cls, v: dict[str, SlaHours]) -> dict[str, SlaHours]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"sla_hours needs exactly the severities {list(SEVERITIES)}")
        for hours in v.values():
            if hours.resolve < hours.acknowledge:
                raise ValueError("resolve hours must not be shorter than acknowledge hours")
        return v

    def weight(self, dimension: str) -> float:
        return self.dimension_weights.get(dimension, 1.0)

    def _hours(self, severity: str, high_value: bool) -> SlaHours:
        hours = self.sla_hours[severity]
        if not high_value:
            return hours
        f = self.high_value_factor
        return SlaHours(acknowledge=hours.acknowledge * f, resolve=hours.resolve * f)

    def calendar(self, severity: str, department_id: str | None) -> Calendar | None:
        """The calendar SLA hours count in for this severity and owning department (None:
        around the clock)."""
        if severity in self.around_the_clock:
            return None
        name = self.department_calendars.get(department_id, self.sla_calendar) \
            if department_id is not None else self.sla_calendar
        return self.calendars[name] if name is not None else None

    def acknowledge_due(self, severity: str, high_value: bool, since: datetime,
                        department_id: str | None = None) -> datetime:
        hours = self._hours(severity, high_value).acknowledge
        return calendars.add(self.calendar(severity, department_id), since,
                             timedelta(hours=hours))

    def resolve_due(self, severity: str, high_value: bool, since: datetime,
                    department_id: str | None = None) -> datetime:
        hours = self._hours(severity, high_value).resolve
        return calendars.add(self.calendar(severity, department_id), since,
                             timedelta(hours=hours))


DEFAULT_RULES = PolicyRules()


class Policy(CsmAggregate):
    """The single policy stream; its version numbers are the policy versions."""

    class Event(CsmEvent):
        pass

    class Published(CsmCreated, Event):
        TYPE = "policy.published"
        rules: dict[str, Any]
        published_by: str | None

        def apply(self, policy: "Policy") -> None:
            policy.rules = PolicyRules.model_validate(self.rules)

    class Republished(Event):
        TYPE = "policy.published"
        rules: dict[str, Any]
        published_by: str | None

        def apply(self, policy: "Policy") -> None:
            policy.rules = PolicyRules.model_validate(self.rules)

    @classmethod
    def publish_first(cls, rules: PolicyRules, by: str | None, now: datetime) -> "Policy":
        return cls._start(cls.Published, POLICY_STREAM_ID, now, now,
                          rules=rules.model_dump(mode="json"), published_by=by)

    def publish(self, rules: PolicyRules, by: str | None, now: datetime) -> None:
        self._record(self.Republished, now, now, rules=rules.model_dump(mode="json"), published_by=by)
