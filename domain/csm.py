"""The csm application: every command handler on one event-sourced application."""
from domain.handle_complaints import ComplaintHandlers
from domain.handle_surveys import SurveyHandlers


class CsmApplication(ComplaintHandlers, SurveyHandlers):
    name = "csm"
