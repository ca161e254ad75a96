"""Feedback from every channel; kind `complaint` also opens a complaint."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.answers import FeedbackRecorded
from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.openapi import COMMAND
from csm.api.schemas import FeedbackIn
from csm.domain import commands as c

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post("", status_code=201, response_model=FeedbackRecorded, responses=COMMAND)
def submit_feedback(body: FeedbackIn, rt: RuntimeDep, now: Now, request: Request,
                    caller: Annotated[Caller, Depends(allow("channel", "agent"))],
                    key: IdempotencyKey = None):
    """Record a feedback item (feedback.submitted, and complaint.opened for kind complaint)."""
    return record(rt, caller, key, request, body, c.SubmitFeedback, now,
                  feedback_id=body.feedback_id or new_id())
