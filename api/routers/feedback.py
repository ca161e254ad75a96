"""Feedback from every channel; kind `complaint` also opens a complaint."""
from fastapi import APIRouter

from csm.api.answers import FeedbackRecorded
from csm.api.command_routes import CommandRoute, add_command_routes
from csm.api.schemas import FeedbackIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])

add_command_routes(router, [
    CommandRoute("submit_feedback", "", c.SubmitFeedback, FeedbackIn, ("channel", "agent"),
                 "Record a feedback item (feedback.submitted, and complaint.opened for kind "
                 "complaint).", answer=FeedbackRecorded, new_ids=("feedback_id",)),
])
