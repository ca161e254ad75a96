"""The closed vocabularies of the domain and the scales of survey answers."""
from __future__ import annotations

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
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def item_score(scale: str, value: int) -> float:
    """An answer on the 0-100 scale of CONTRACT §4."""
    if scale == "nps10":
        return value * 10.0
    return (value - 1) * 25.0
