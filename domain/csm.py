"""The csm application: every command handler on one event-sourced application."""
from csm.domain.handle_complaints import ComplaintHandlers
from csm.domain.handle_surveys import SurveyHandlers


class CsmApplication(ComplaintHandlers, SurveyHandlers):
    name = "csm"
