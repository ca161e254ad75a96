"""The csm application and its one handler table: command class → the handler that decides it."""
from csm.domain import commands as c
from csm.domain.handle_complaints import ComplaintHandlers
from csm.domain.handle_surveys import SurveyHandlers


class CsmApplication(ComplaintHandlers, SurveyHandlers):
    name = "csm"
    HANDLERS = {
        c.RegisterDepartment: ComplaintHandlers.register_department,
        c.RegisterCustomer: ComplaintHandlers.register_customer,
        c.EraseCustomer: ComplaintHandlers.erase_customer,
        c.PublishPolicy: ComplaintHandlers.publish_policy,
        c.SubmitFeedback: ComplaintHandlers.submit_feedback,
        c.OpenComplaint: ComplaintHandlers.open_complaint,
        c.AcknowledgeComplaint: ComplaintHandlers.acknowledge_complaint,
        c.AssignComplaint: ComplaintHandlers.assign_complaint,
        c.EscalateComplaint: ComplaintHandlers.escalate_complaint,
        c.ResolveComplaint: ComplaintHandlers.resolve_complaint,
        c.ReopenComplaint: ComplaintHandlers.reopen_complaint,
        c.AwaitCustomer: ComplaintHandlers.await_customer,
        c.CustomerReplied: ComplaintHandlers.customer_replied,
        c.CloseComplaint: ComplaintHandlers.close_complaint,
        c.InviteAfterClosure: ComplaintHandlers.invite_after_closure,
        c.RecordMissedDeadlines: ComplaintHandlers.record_missed_deadlines,
        c.CreateSurvey: SurveyHandlers.create_survey,
        c.SendInvitations: SurveyHandlers.send_invitations,
        c.AnswerSurvey: SurveyHandlers.answer_survey,
        c.ScheduleRevisit: SurveyHandlers.schedule_revisit,
        c.ScheduleFollowUpRevisit: SurveyHandlers.schedule_followup_revisit,
        c.CompleteRevisit: SurveyHandlers.complete_revisit,
        c.RaiseImprovement: SurveyHandlers.raise_improvement,
        c.CompleteImprovement: SurveyHandlers.complete_improvement,
        c.VerifyImprovement: SurveyHandlers.verify_improvement,
    }
