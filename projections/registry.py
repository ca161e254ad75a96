"""Every projection, by name."""
from csm.projections.base import Projection
from csm.projections.complaints.projection import Complaints
from csm.projections.feedback import FeedbackFacts
from csm.projections.followups.projection import Followups
from csm.projections.ledger.projection import Ledger
from csm.projections.satisfaction.projection import Satisfaction

ALL: dict[str, Projection] = {p.name: p for p in (
    Satisfaction(), Complaints(), Ledger(), FeedbackFacts(), Followups())}


def select(names: list[str] | tuple[str, ...] | None) -> list[Projection]:
    if not names:
        return list(ALL.values())
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise SystemExit(f"unknown projection(s) {unknown}; known: {sorted(ALL)}")
    return [ALL[n] for n in names]
