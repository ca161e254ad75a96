"""The cast of the demo year: departments, customers, survey questions, texts, the policies.

Only data and a few pure helpers; the story that uses them is `demo_year.py`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from csm.domain.policy import PolicyRules

PREFIX = "demo-"


@dataclass(frozen=True)
class DemoDepartment:
    """A department and how it behaves over the year.

    `base` and `trend` set its mood (about −1 … +1) at the start and its drift over the
    year; `rates` are complaints, feedback items and service jobs per day; `late` the
    share of complaints acknowledged / resolved after their due time; `peak_months`
    calendar months of seasonal strain; `offsets` per survey dimension.
    """
    id: str
    name: str
    target: float
    base: float
    trend: float
    rates: tuple[float, float, float]
    late: tuple[float, float]
    categories: tuple[str, ...]
    channels: tuple[tuple[str, int], ...]
    peak_months: tuple[int, ...] = ()
    offsets: dict[str, float] = field(default_factory=dict)


@dataclass
class DemoCustomer:
    """A customer of the story and what it knows of them."""
    id: str
    high_value: bool
    disposition: float       # added to the mood of whatever they rate
    responsiveness: float    # the chance they answer a survey they are invited to
    home: str                # the department they deal with most
    invited: deque = field(default_factory=lambda: deque(maxlen=50))  # invitation times


DEPARTMENTS = (
    DemoDepartment("demo-after-sales", "After-sales service", 80, 0.05, 0.25, (0.75, 1.9, 2.0),
                   (0.07, 0.11), ("repair", "warranty", "spare_parts", "product_quality"),
                   (("hotline", 5), ("wechat", 3), ("app", 2), ("email", 1)),
                   offsets={"response_speed": -0.2}),
    DemoDepartment("demo-installation", "Installation", 78, -0.25, 0.55, (0.5, 1.3, 1.6),
                   (0.10, 0.14), ("installation", "appointment", "staff"),
                   (("hotline", 4), ("wechat", 3), ("store", 2), ("app", 1)),
                   offsets={"service_attitude": 0.2}),
    DemoDepartment("demo-delivery", "Delivery", 75, -0.3, 0.1, (0.8, 1.8, 2.4),
                   (0.12, 0.17), ("delivery", "damage", "appointment"),
                   (("app", 4), ("web", 3), ("hotline", 3), ("wechat", 2)),
                   peak_months=(11, 12, 1), offsets={"response_speed": -0.3}),
    DemoDepartment("demo-billing", "Billing", 82, 0.35, 0.0, (0.3, 0.9, 0.7),
                   (0.05, 0.07), ("billing", "refund", "pricing"),
                   (("email", 4), ("web", 3), ("hotline", 2)),
                   offsets={"value_for_money": -0.3}),
    DemoDepartment("demo-call-centre", "Call centre", 80, 0.15, -0.45, (0.4, 1.6, 1.8),
                   (0.09, 0.13), ("waiting_time", "staff", "information"),
                   (("hotline", 7), ("wechat", 2), ("email", 1)),
                   peak_months=(1, 2), offsets={"response_speed": -0.4}),
    DemoDepartment("demo-online-shop", "Online shop", 85, 0.55, 0.1, (0.3, 1.5, 1.5),
                   (0.04, 0.06), ("website", "payment", "returns", "stock"),
                   (("web", 5), ("app", 4), ("email", 1)),
                   offsets={"product_quality": 0.1}),
)
FIRST_DEPARTMENT_ID = DEPARTMENTS[0].id
DEPARTMENT = {d.id: d for d in DEPARTMENTS}

# (department, day of the year, change of mood): what happened to a department.
INCIDENTS = (("demo-billing", 120, -0.7),)  # the new billing system goes live

# Scripted improvement actions: department, day raised, title, days due, day completed
# (None: not yet), day verified (None: not yet), effective, change of mood once completed.
SCRIPTED_ACTIONS = (
    ("demo-installation", 55, "Certify installers on the new boiler range", 45, 88, 118,
     True, 0.3),
    ("demo-delivery", 95, "Add evening delivery slots", 40, 128, 160, True, 0.35),
    ("demo-billing", 135, "Fix duplicate charges after the billing migration", 30, 168, 190,
     True, 0.65),
    ("demo-call-centre", 205, "Offer a callback instead of queueing at peak hours", 45, 262,
     300, False, 0.0),
    ("demo-after-sales", 285, "Stock common spare parts in the regional depots", 45, None,
     None, False, 0.0),
    ("demo-online-shop", 300, "Rewrite the returns page", 30, 338, None, True, 0.1),
)
ACTION_TITLES = ("Retrain the team on complaint handling", "Review the supplier's quality",
                 "Shorten the hotline menu", "Send appointment reminders by SMS",
                 "Publish a clearer price list", "Add a weekend shift",
                 "Check every order's address before dispatch", "Update the FAQ")

SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu",
            "Xu", "Sun", "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo")
GIVEN_NAMES = ("Fang", "Wei", "Na", "Min", "Jing", "Lei", "Yang", "Jun", "Yan", "Tao",
               "Ming", "Xiuying", "Hui", "Qiang", "Ping", "Gang", "Hong", "Xin", "Yu", "Lan")
SEGMENTS = (("retail", 6), ("online", 3), ("business", 2))
SEVERITIES = (("low", 30), ("medium", 42), ("high", 20), ("critical", 8))
AGENTS = tuple(f"{g.lower()}.{s.lower()}" for g, s in zip(GIVEN_NAMES, reversed(SURNAMES)))

DESCRIPTIONS = {
    "repair": "The washing machine still leaks after the repair",
    "warranty": "The warranty claim was refused without a reason",
    "spare_parts": "The spare part has been on order for three weeks",
    "product_quality": "The fridge door seal broke after a month",
    "installation": "The air conditioner was installed crooked and drips",
    "appointment": "Nobody came in the agreed time window",
    "staff": "The engineer was rude and left a mess",
    "delivery": "The delivery arrived four days late",
    "damage": "The sofa arrived with a torn cover",
    "billing": "I was charged twice for the same order",
    "refund": "My refund has not arrived after the return",
    "pricing": "The invoice shows a higher price than the offer",
    "waiting_time": "I waited 40 minutes on the hotline",
    "information": "Two agents told me different things",
    "website": "The checkout page keeps failing",
    "payment": "The payment went through but the order was cancelled",
    "returns": "The returns label never came",
    "stock": "The item was shown in stock but then cancelled",
}
FEEDBACK_TEXTS = {
    "praise": "Thank you, {c} went very smoothly",
    "suggestion": "It would help to get updates on {c} by text message",
    "criticism": "{c} could have been handled better",
    "inquiry": "A question about {c}",
}
RESOLUTIONS = ("Replaced the part", "Refunded the difference", "Re-delivered the item",
               "Sent an engineer again", "Explained the charge and corrected it",
               "Apologised and gave a voucher")
REOPEN_REASONS = ("The same problem is back", "The refund still has not arrived",
                  "The replacement is faulty too")
WAIT_REASONS = ("Photos of the damage, please", "The order number, please",
                "A time that suits you for a visit")
ESCALATION_REASONS = ("Customer called again", "Customer asked for a manager",
                      "Customer mentioned a consumer association")
COMMENTS = ("Quick and friendly, thank you", "Took far too long", "The engineer knew his job",
            "Nobody called me back")

RELATIONSHIP_QUESTIONS = [
    {"question_id": "quality", "text": "How do you rate the quality of our products?",
     "dimension": "product_quality", "scale": "likert5"},
    {"question_id": "attitude", "text": "How friendly and helpful is our staff?",
     "dimension": "service_attitude", "scale": "likert5"},
    {"question_id": "speed", "text": "How quickly do we respond to you?",
     "dimension": "response_speed", "scale": "likert5"},
    {"question_id": "value", "text": "How do you rate the value for money?",
     "dimension": "value_for_money", "scale": "likert5"},
    {"question_id": "expectation", "text": "Compared with what you expected?",
     "dimension": "expectation", "scale": "expectation5"},
    {"question_id": "competitor", "text": "Compared with other suppliers?",
     "dimension": "competitor", "scale": "competitor5"},
    {"question_id": "nps", "text": "How likely are you to recommend us to a friend?",
     "dimension": "recommendation", "scale": "nps10"},
]
AFTER_SERVICE_QUESTIONS = [
    {"question_id": "attitude", "text": "How friendly was the person who helped you?",
     "dimension": "service_attitude", "scale": "likert5"},
    {"question_id": "speed", "text": "How quickly was it done?",
     "dimension": "response_speed", "scale": "likert5"},
    {"question_id": "solved", "text": "Was your problem solved?",
     "dimension": "problem_solved", "scale": "likert5"},
    {"question_id": "nps", "text": "How likely are you to recommend us to a friend?",
     "dimension": "recommendation", "scale": "nps10"},
]
RELATIONSHIP_SURVEY = ("demo-relationship", "Customer relationship survey", "periodic",
                       RELATIONSHIP_QUESTIONS)
AFTER_SERVICE_SURVEY = ("demo-after-service", "After-service survey", "event",
                        AFTER_SERVICE_QUESTIONS)
WAVE_DAYS = (75, 255)  # the two waves of the relationship survey
WAVE_CHANNELS = ("email", "sms", "wechat")
SECOND_POLICY_DAY = 200  # in the seventh month

_SLA = {"low": {"acknowledge": 48, "resolve": 336}, "medium": {"acknowledge": 24, "resolve": 168},
        "high": {"acknowledge": 8, "resolve": 72}, "critical": {"acknowledge": 2, "resolve": 24}}
FIRST_POLICY = PolicyRules.model_validate({
    "sla_hours": _SLA, "high_value_factor": 0.5,
    "dimension_weights": {"problem_solved": 1.5, "value_for_money": 0.5},
    "followups": {"invitation_limit": 4, "invitation_limit_days": 30}})
# Month 7: faster answers for high-value customers, speed weighs more, breaches cost more.
SECOND_POLICY = PolicyRules.model_validate({
    "sla_hours": {**_SLA, "high": {"acknowledge": 6, "resolve": 48}}, "high_value_factor": 0.4,
    "dimension_weights": {"problem_solved": 1.5, "value_for_money": 0.5, "response_speed": 2.0},
    "points": {"sla_breach": -3, "resolved_on_time": 2, "escalation": -4},
    "followups": {"invitation_limit": 4, "invitation_limit_days": 30}})
