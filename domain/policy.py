"""The rules in force: SLA hours, points, weights, follow-ups; published as versions."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from csm.domain.base import CsmAggregate, CsmCreated, CsmEvent
from csm.domain.values import SEVERITIES, SLUG_PATTERN

# Not a valid client id (see ID_PATTERN), so no business record can take it.
POLICY_STREAM_ID = "$policy"


class SlaHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    acknowledge: float = Field(gt=0, le=24 * 365)
    resolve: float = Field(gt=0, le=24 * 365)


class Points(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    praise: int = 2
    complaint_received: dict[str, int] = Field(
        default_factory=lambda: {"low": -1, "medium": -2, "high": -4, "critical": -8})
    sla_breach: int = -2
    escalation: int = -3
    resolved_on_time: int = 1
    reopened: int = -2
    closed_satisfied: int = 1
    closed_dissatisfied: int = -1
    revisit_satisfied: int = 1
    revisit_dissatisfied: int = -1
    index_bonus: int = 10
    index_penalty: int = -10
    index_min_responses: int = Field(default=30, ge=1)
    index_penalty_margin: float = Field(default=10, ge=0)

    @field_validator("complaint_received")
    @classmethod
    def _every_severity(cls, v: dict[str, int]) -> dict[str, int]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"complaint_received needs exactly the severities {list(SEVERITIES)}")
        return v


class Followups(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    revisit_after_resolution: bool = True
    revisit_after_resolution_days: float = Field(default=3, gt=0, le=365)
    revisit_on_low_score: bool = True
    revisit_on_low_score_days: float = Field(default=3, gt=0, le=365)
    closure_survey_id: str | None = None
    invitation_limit: int | None = Field(default=None, ge=1)
    invitation_limit_days: float = Field(default=30, gt=0, le=3650)


def _default_sla() -> dict[str, SlaHours]:
    return {
        "low": SlaHours(acknowledge=48, resolve=336),
        "medium": SlaHours(acknowledge=24, resolve=168),
        "high": SlaHours(acknowledge=8, resolve=72),
        "critical": SlaHours(acknowledge=2, resolve=24),
    }


class PolicyRules(BaseModel):
    """One version of the policy; every field has the CONTRACT §5 default."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    sla_hours: dict[str, SlaHours] = Field(default_factory=_default_sla)
    high_value_factor: float = Field(default=0.5, gt=0, le=1)
    points: Points = Field(default_factory=Points)
    dimension_weights: dict[str, float] = Field(default_factory=dict)
    followups: Followups = Field(default_factory=Followups)

    @field_validator("sla_hours")
    @classmethod
    def _every_severity(cls, v: dict[str, SlaHours]) -> dict[str, SlaHours]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"sla_hours needs exactly the severities {list(SEVERITIES)}")
        for hours in v.values():
            if hours.resolve < hours.acknowledge:
                raise ValueError("resolve hours must not be shorter than acknowledge hours")
        return v

    @field_validator("dimension_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        import re
        for name, weight in v.items():
            if not re.match(SLUG_PATTERN, name):
                raise ValueError(f"dimension name {name!r} is not a slug")
            if not (0 <= weight <= 1000):
                raise ValueError(f"weight of {name!r} must lie in [0, 1000]")
        return v

    def weight(self, dimension: str) -> float:
        return self.dimension_weights.get(dimension, 1.0)

    def _hours(self, severity: str, high_value: bool) -> SlaHours:
        hours = self.sla_hours[severity]
        if not high_value:
            return hours
        f = self.high_value_factor
        return SlaHours(acknowledge=hours.acknowledge * f, resolve=hours.resolve * f)

    def acknowledge_due(self, severity: str, high_value: bool, since: datetime) -> datetime:
        return since + timedelta(hours=self._hours(severity, high_value).acknowledge)

    def resolve_due(self, severity: str, high_value: bool, since: datetime) -> datetime:
        return since + timedelta(hours=self._hours(severity, high_value).resolve)


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
