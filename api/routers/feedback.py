"""Feedback from every channel; kind `complaint` also opens a complaint."""
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from csm.api.commanding import new_id, record
from csm.api.deps import Caller, IdempotencyKey, Now, RuntimeDep, allow
from csm.api.schemas import FeedbackIn

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post("", status_code=201)
def submit_feedback(body: FeedbackIn, rt: RuntimeDep, now: Now, request: Request,
                    caller: Annotated[Caller, Depends(allow("channel", "agent"))],
                    key: IdempotencyKey = None):
    """Record a feedback item (feedback.submitted, and complaint.opened for kind complaint)."""
    feedback_id = body.feedback_id or new_id()
    occurred_at = body.when(now)
    return record(rt, caller, key, request, body, lambda hooks: rt.app.submit_feedback(
        feedback_id, customer_id=body.customer_id, channel=body.channel, kind=body.kind,
        department_id=body.department_id, category=body.category, rating=body.rating,
        text=body.text, severity=body.severity, complaint_id=body.complaint_id,
        occurred_at=occurred_at, now=now, hooks=hooks))
