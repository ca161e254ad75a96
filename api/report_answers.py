"""What the read-model queries answer: their rows and items, field by field.

Group fields (department_id, channel, …) are present only when grouped by; a
figure whose denominator is empty is null.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

Rate = float | None


class Grouped(BaseModel):
    period_start: date = Field(description="the local date of the bucket's first day")


class DimensionMean(BaseModel):
    mean: float = Field(description="mean item score, 0–100")
    n: int


class SatisfactionRow(Grouped):
    department_id: str | None = None
    channel: str | None = None
    dimension: str | None = None
    survey_id: str | None = None
    tier: str | None = None
    responses: int
    answers: int
    csi: float | None
    csi_ci95: tuple[float, float] | None
    csat: float | None
    nps: float | None
    nps_promoters: int = Field(description="answers of 9 or 10 on a 0–10 scale")
    nps_passives: int = Field(description="answers of 7 or 8")
    nps_detractors: int = Field(description="answers of 0 to 6")
    expectation_gap: float | None
    competitor_gap: float | None
    dimensions: dict[str, DimensionMean]


class BacklogSummary(BaseModel):
    open: int = Field(description="complaints not closed")
    overdue: int
    by_status: dict[str, int]
    by_severity: dict[str, int]


class BacklogItem(BaseModel):
    complaint_id: str
    department_id: str
    handler: str | None
    severity: str
    status: str
    escalation_level: int
    opened_at: datetime
    acknowledge_due: datetime
    resolve_due: datetime
    overdue: bool
    age_hours: float


class Backlog(BaseModel):
    as_of: datetime = Field(description="the moment overdue is judged at")
    summary: BacklogSummary
    items: list[BacklogItem] = Field(description="oldest first")


class ComplaintStatsRow(Grouped):
    department_id: str | None = None
    channel: str | None = None
    severity: str | None = None
    category: str | None = None
    received: int
    resolved: int
    resolution_rate: Rate
    within_sla_rate: Rate
    mean_hours_to_acknowledge: float | None
    mean_hours_to_resolve: float | None
    escalations: int
    reopened: int


class FeedbackStatsRow(Grouped):
    channel: str | None = None
    kind: str | None = None
    department_id: str | None = None
    count: int
    problem_rate: Rate
    mean_rating: float | None


class SurveyStats(BaseModel):
    survey_id: str
    name: str
    invited: int = Field(description="distinct customers invited")
    suppressed: int
    responded: int = Field(description="distinct invited customers who answered")
    responses: int
    response_rate: Rate


class ScoreRow(Grouped):
    department_id: str
    ledger_points: int
    rewards: int
    penalties: int
    csi: float | None
    responses: int
    index_bonus: int
    points: int


class LedgerLine(BaseModel):
    event_id: str
    position: int
    occurred_at: datetime
    rule: str
    points: int
    policy_version: int


class RevisitStatsRow(Grouped):
    department_id: str | None = None
    reason: str | None = None
    scheduled: int
    completed: int
    reached: int
    unreachable: int
    declined: int
    overdue: int
    mean_satisfaction: float | None
    completion_rate: Rate


class ImprovementAction(BaseModel):
    action_id: str
    department_id: str
    title: str
    source_ids: list[str]
    cause_event_id: str | None
    status: str
    raised_at: datetime
    due_at: datetime
    completed_at: datetime | None
    verified_at: datetime | None
    effective: bool | None
    overdue: bool


Row = TypeVar("Row", bound=BaseModel)


class Rows(BaseModel, Generic[Row]):
    rows: list[Row]


class Items(BaseModel, Generic[Row]):
    items: list[Row]
