"""When a complaint is overdue, and when an answer counts as satisfied, a promoter or a detractor.

Python and SQL both need these rules: the domain and the projections call the
functions, the read-model queries and the deadline watcher use the SQL
fragments built here from the same constants, so the two cannot drift.
"""
from __future__ import annotations

from datetime import datetime

# A complaint awaits its acknowledgement while open, its resolution until resolved — but
# not while it waits on the customer (`awaiting_customer`): that clock stands still.
AWAITING_ACKNOWLEDGE = ("open",)
AWAITING_RESOLVE = ("open", "acknowledged", "reopened")

LIKERT_SATISFIED_MIN = 4      # likert5: 4 and 5 are satisfied (the top two boxes)
LIKERT_DISSATISFIED_MAX = 2   # likert5: 1 and 2 are dissatisfied; 3 is neither
NPS_PROMOTER_MIN = 9          # nps10: 9 and 10 promote
NPS_DETRACTOR_MAX = 6         # nps10: 0 to 6 detract


def acknowledge_overdue(status: str, acknowledge_due: datetime, now: datetime) -> bool:
    return status in AWAITING_ACKNOWLEDGE and acknowledge_due < now


def resolve_overdue(status: str, resolve_due: datetime, now: datetime) -> bool:
    return status in AWAITING_RESOLVE and resolve_due < now


def overdue(status: str, acknowledge_due: datetime, resolve_due: datetime, now: datetime) -> bool:
    return (acknowledge_overdue(status, acknowledge_due, now)
            or resolve_overdue(status, resolve_due, now))


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# Over the columns of csm_read.complaints, with the moment as the parameter %(now)s.
ACKNOWLEDGE_OVERDUE_SQL = (f"(status IN ({_sql_list(AWAITING_ACKNOWLEDGE)}) "
                           "AND acknowledge_due < %(now)s)")
RESOLVE_OVERDUE_SQL = (f"(status IN ({_sql_list(AWAITING_RESOLVE)}) "
                       "AND resolve_due < %(now)s)")
OVERDUE_SQL = f"({ACKNOWLEDGE_OVERDUE_SQL} OR {RESOLVE_OVERDUE_SQL})"


def likert_satisfied(value: int) -> bool | None:
    """True satisfied, False dissatisfied, None neither (the middle of the scale)."""
    if value >= LIKERT_SATISFIED_MIN:
        return True
    if value <= LIKERT_DISSATISFIED_MAX:
        return False
    return None


def nps_promoter(value: int) -> bool:
    return value >= NPS_PROMOTER_MIN


def nps_detractor(value: int) -> bool:
    return value <= NPS_DETRACTOR_MAX


def low_score(scale: str, value: int) -> bool:
    """An answer bad enough to call for a revisit: dissatisfied, or a detractor."""
    return ((scale == "likert5" and likert_satisfied(value) is False)
            or (scale == "nps10" and nps_detractor(value)))
