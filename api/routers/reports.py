"""Read-model queries: satisfaction, complaint backlog and stats, feedback, surveys, scores."""
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError

from csm.api.consistency import ReadAt
from csm.api.deps import Caller, RuntimeDep, allow
from csm.api.openapi import QUERY
from csm.api.path_ids import PathId
from csm.api.report_answers import (
    Backlog,
    ComplaintStatsRow,
    FeedbackStatsRow,
    ImprovementAction,
    Items,
    LedgerLine,
    RevisitStatsRow,
    Rows,
    SatisfactionRow,
    ScoreRow,
    SurveyStats,
)
from csm.api.slices import ActionStatus, ComplaintStatus, IdFilter, slice_params
from csm.domain.department import Department
from csm.domain.errors import NotFound
from csm.domain.fields import Timestamp
from csm.projections.complaints import queries as complaints_query
from csm.projections.followups import queries as followups_query
from csm.projections.ledger import queries as scores_query
from csm.projections.ledger.projection import LedgerState
from csm.projections.query import Slice
from csm.projections.satisfaction.projection import SatisfactionState
from csm.projections.satisfaction.queries import FILTERABLE, satisfaction

router = APIRouter(prefix="/v1", tags=["reports"])
Reader = Annotated[Caller, Depends(allow("manager", "auditor"))]
ComplaintReader = Annotated[Caller, Depends(allow("manager", "auditor", "agent"))]
SatisfactionSlice = Annotated[Slice, Depends(slice_params(FILTERABLE))]
ComplaintSlice = Annotated[Slice, Depends(slice_params(complaints_query.STATS_GROUPS))]
FeedbackSlice = Annotated[Slice, Depends(slice_params(followups_query.FEEDBACK_GROUPS))]
RevisitSlice = Annotated[Slice, Depends(slice_params(followups_query.REVISIT_GROUPS))]
ScoresSlice = Annotated[Slice, Depends(slice_params({"department_id"}, groupable=False))]
LedgerSlice = Annotated[Slice, Depends(slice_params((), groupable=False))]
LEDGER_JSON_MAX, LEDGER_CSV_MAX = 100_000, 10_000_000
LedgerLimit = Annotated[int, Query(ge=1, le=LEDGER_CSV_MAX, description=(
    f"at most this many lines: up to {LEDGER_CSV_MAX:,} when the answer is CSV (streamed), "
    f"up to {LEDGER_JSON_MAX:,} when it is JSON; a larger limit with a JSON answer is "
    "refused with 422 (ask for CSV or narrow `from`/`to`)"))]
AsOf = Annotated[Timestamp | None, Query(description="judge overdue at this moment "
                                           "(RFC 3339 with offset)")]


@router.get("/satisfaction", response_model=Rows[SatisfactionRow], responses=QUERY)
def satisfaction_index(rt: RuntimeDep, caller: Reader, q: SatisfactionSlice, at: ReadAt):
    """CSI with its 95% interval, CSAT, NPS, gaps and dimension means per period and group."""
    q.schema = at.schema
    s = at.reach("satisfaction")
    weights = s.state(SatisfactionState).weights
    return at.answer({"rows": satisfaction(rt.pool, q, weights)}, s.position)


@router.get("/complaints/backlog", response_model=Backlog, responses=QUERY)
def backlog(rt: RuntimeDep, caller: ComplaintReader, department_id: IdFilter = None,
            status: ComplaintStatus | None = None, overdue: bool | None = None,
            as_of: AsOf = None, limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
            at: ReadAt = None):
    """Every complaint not closed, oldest first, with overdue judged now (or at as_of)."""
    s = at.reach("complaints")
    now = as_of or at.judged_at()
    body = complaints_query.backlog(rt.pool, at.schema, now, department_id, status, overdue,
                                    limit)
    return at.answer(body, s.position)


@router.get("/complaints/stats", response_model=Rows[ComplaintStatsRow], responses=QUERY)
def complaint_stats(rt: RuntimeDep, caller: ComplaintReader, q: ComplaintSlice, at: ReadAt):
    """Complaints by cohort (opened in the period): resolution, SLA, speed, escalations."""
    q.schema = at.schema
    s = at.reach("complaints")
    return at.answer({"rows": complaints_query.stats(rt.pool, q)}, s.position)


@router.get("/feedback/stats", response_model=Rows[FeedbackStatsRow], responses=QUERY)
def feedback_stats(rt: RuntimeDep, caller: Reader, q: FeedbackSlice, at: ReadAt):
    """Feedback counts and problem rate per period, channel, kind, department."""
    q.schema = at.schema
    s = at.reach("feedback")
    return at.answer({"rows": followups_query.feedback_stats(rt.pool, q)}, s.position)


@router.get("/surveys/{survey_id}/stats", response_model=SurveyStats, responses=QUERY)
def survey_stats(survey_id: PathId, rt: RuntimeDep, caller: Reader, at: ReadAt):
    """Invited, suppressed, responded, responses and the response rate of one survey."""
    s = at.reach("followups", "satisfaction")
    stats = followups_query.survey_stats(rt.pool, at.schema, survey_id)
    if stats is None:
        raise NotFound(f"survey '{survey_id}' not found")
    return at.answer(stats, s.position)


@router.get("/departments/scores", response_model=Rows[ScoreRow], responses=QUERY)
def department_scores(rt: RuntimeDep, caller: Reader, q: ScoresSlice, at: ReadAt):
    """Points per department and period: ledger points plus the satisfaction index bonus."""
    q.schema = at.schema
    s = at.reach("ledger", "satisfaction")
    rows = scores_query.scores(rt.pool, q, s.state(LedgerState).points,
                               s.state(SatisfactionState).weights)
    return at.answer({"rows": rows}, s.position)


@router.get("/departments/{department_id}/ledger", response_model=Items[LedgerLine],
            responses=QUERY)
def department_ledger(department_id: PathId, rt: RuntimeDep, caller: Reader, q: LedgerSlice,
                      limit: LedgerLimit = 10000, at: ReadAt = None):
    """Every points line of one department, in position order."""
    if limit > LEDGER_JSON_MAX and not at.wants_csv:
        # Streamed CSV holds one batch of lines at a time; a JSON answer is built whole.
        raise RequestValidationError([{
            "type": "value_error", "loc": ("query", "limit"), "input": limit,
            "msg": f"a JSON answer holds at most {LEDGER_JSON_MAX} lines: ask for CSV "
                   "(format=csv or Accept: text/csv) or narrow `from`/`to`"}])
    # An unknown department (unknown at the snapshot's as_of) is a 404, not an empty ledger.
    at.aggregate(department_id, Department, "department")
    s = at.reach("ledger")
    if at.wants_csv:  # read from a server-side cursor as the client reads, not gathered first
        return at.answer_rows(scores_query.ledger_line_stream(
            rt.pool, at.schema, department_id, q, limit), s.position)
    items = scores_query.ledger_lines(rt.pool, at.schema, department_id, q, limit)
    return at.answer({"items": items}, s.position)


@router.get("/revisits/stats", response_model=Rows[RevisitStatsRow], responses=QUERY)
def revisit_stats(rt: RuntimeDep, caller: Reader, q: RevisitSlice, at: ReadAt):
    """Revisits scheduled per period: completed, outcomes, overdue, mean satisfaction."""
    q.schema = at.schema
    s = at.reach("followups")
    rows = followups_query.revisit_stats(rt.pool, q, at.judged_at())
    return at.answer({"rows": rows}, s.position)


@router.get("/improvement-actions", response_model=Items[ImprovementAction],
            responses=QUERY)
def improvement_actions(rt: RuntimeDep, caller: Reader, department_id: IdFilter = None,
                        status: ActionStatus | None = None,
                        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                        at: ReadAt = None):
    """Improvement actions, overdue ones flagged."""
    s = at.reach("followups")
    items = followups_query.improvement_actions(rt.pool, at.schema, at.judged_at(),
                                                department_id, status, limit)
    return at.answer({"items": items}, s.position)
