"""The closed vocabularies of the domain, the scales of survey answers, the id patterns."""
from __future__ import annotations

import hashlib
from typing import Literal

Severity = Literal["low", "medium", "high", "critical"]
Tier = Literal["standard", "high_value"]
FeedbackKind = Literal["praise", "suggestion", "criticism", "inquiry", "complaint"]
SurveyTrigger = Literal["periodic", "event"]
ScaleName = Literal["likert5", "expectation5", "competitor5", "nps10"]
RevisitReason = Literal["complaint_followup", "after_service", "periodic"]
RevisitOutcome = Literal["reached", "unreachable", "declined"]
BreachKind = Literal["acknowledge", "resolve"]

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

# Inclusive value range of each answer scale.
SCALES: dict[str, tuple[int, int]] = {
    "likert5": (1, 5),
    "expectation5": (1, 5),
    "competitor5": (1, 5),
    "nps10": (0, 10),
}

MAX_ESCALATION_LEVEL = 3
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_ID_LENGTH = 64
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def derived_id(*parts: str | int) -> str:
    """An id that csm makes from ids it was given: within ID_PATTERN, the same every time.

    The parts joined by `:` while that fits in 64 characters; a longer join keeps
    its first 47 characters and adds a digest of the whole, so that distinct parts
    still make distinct ids.
    """
    whole = ":".join(str(p) for p in parts)
    if len(whole) <= MAX_ID_LENGTH:
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:MAX_ID_LENGTH - 48]
    return f"{whole[:47]}:{digest}"


def item_score(scale: str, value: int) -> float:
    """An answer on the 0-100 scale."""
    if scale == "nps10":
        return value * 10.0
    return (value - 1) * 25.0
