"""Surveys: questions and scales, invitations, and answers checked against their questions."""
from __future__ import annotations

import pytest

from csm.domain.errors import InvalidInput
from csm.domain.survey import Survey, SurveyResponse
from tests.unit.domain_builders import QUESTIONS, T0, a_survey, at, given, question, recorded


def answer(survey: Survey, *answers: tuple[str, int], response_id: str = "resp-1",
           comment: str | None = "Good overall") -> SurveyResponse:
    return SurveyResponse.answer(
        response_id, survey, customer_id="cust-1", tier="standard", department_id="dept-1",
        channel="online",
        answers=[{"question_id": q, "value": v} for q, v in answers], comment=comment,
        occurred_at=at(1), now=at(2))


# -- creating -------------------------------------------------------------------
def test_creating_a_survey_records_its_questions():
    s = Survey.create("s-9", "Quarterly pulse", "periodic", QUESTIONS, T0)

    [created] = recorded(s)
    assert type(created).TYPE == "survey.created"
    assert (created.survey_id, created.name, created.trigger) == ("s-9", "Quarterly pulse", "periodic")
    assert created.questions == QUESTIONS
    assert created.occurred_at == created.timestamp == T0
    assert list(s.questions) == ["q-quality", "q-recommend", "q-expect", "q-rival"]


def test_a_survey_without_questions_is_invalid():
    with pytest.raises(InvalidInput, match="at least one question"):
        Survey.create("s-1", "Empty", "periodic", [], T0)


def test_a_survey_with_a_question_id_twice_is_invalid():
    with pytest.raises(InvalidInput, match="question_id 'q1' appears twice"):
        Survey.create("s-1", "Twice", "periodic",
                      [question("q1", "likert5"), question("q1", "nps10")], T0)


def test_a_survey_with_an_unknown_scale_is_invalid():
    with pytest.raises(InvalidInput, match="unknown scale 'stars7'"):
        Survey.create("s-1", "Stars", "periodic", [question("q1", "stars7")], T0)


# -- inviting ---------------------------------------------------------------------
def test_inviting_customers_records_who_was_invited_and_who_was_suppressed():
    s = given(a_survey())

    s.invite(["cust-1", "cust-2"], ["cust-3"], "email", at(5), cause_event_id="c-1@6")

    [sent] = recorded(s)
    assert type(sent).TYPE == "survey.invitations_sent"
    assert (sent.survey_id, sent.channel, sent.cause_event_id) == ("s-1", "email", "c-1@6")
    assert (sent.customer_ids, sent.suppressed_ids) == (["cust-1", "cust-2"], ["cust-3"])
    assert sent.occurred_at == sent.timestamp == at(5)


def test_an_invitation_sent_by_hand_has_no_cause():
    s = given(a_survey())

    s.invite(["cust-1"], [], "sms", at(5))

    [sent] = recorded(s)
    assert sent.cause_event_id is None


# -- answering ---------------------------------------------------------------------
def test_answering_records_each_answer_with_its_dimension_and_scale():
    s = given(a_survey())

    r = answer(s, ("q-quality", 4), ("q-recommend", 9), ("q-expect", 2), ("q-rival", 5))

    [answered] = recorded(r)
    assert type(answered).TYPE == "survey.answered"
    assert (answered.response_id, answered.survey_id, answered.channel) == ("resp-1", "s-1", "online")
    assert (answered.customer_id, answered.department_id) == ("cust-1", "dept-1")
    assert answered.comment == "Good overall"
    assert (answered.occurred_at, answered.timestamp) == (at(1), at(2))
    assert answered.answers == [
        {"question_id": "q-quality", "value": 4, "dimension": "product_quality", "scale": "likert5"},
        {"question_id": "q-recommend", "value": 9, "dimension": "recommendation", "scale": "nps10"},
        {"question_id": "q-expect", "value": 2, "dimension": "experience", "scale": "expectation5"},
        {"question_id": "q-rival", "value": 5, "dimension": "price_value", "scale": "competitor5"},
    ]


def test_a_response_may_skip_questions():
    s = given(a_survey())

    r = answer(s, ("q-recommend", 10))

    [answered] = recorded(r)
    assert [a["question_id"] for a in answered.answers] == ["q-recommend"]


@pytest.mark.parametrize(("question_id", "value"), [
    ("q-quality", 1), ("q-quality", 5), ("q-recommend", 0), ("q-recommend", 10),
    ("q-expect", 1), ("q-expect", 5), ("q-rival", 1), ("q-rival", 5),
])
def test_the_ends_of_each_scale_are_accepted(question_id, value):
    checked = given(a_survey()).checked_answers([{"question_id": question_id, "value": value}])

    assert checked[0]["value"] == value


@pytest.mark.parametrize(("question_id", "value", "scale"), [
    ("q-quality", 0, "likert5"), ("q-quality", 6, "likert5"),
    ("q-recommend", -1, "nps10"), ("q-recommend", 11, "nps10"),
    ("q-expect", 0, "expectation5"), ("q-rival", 6, "competitor5"),
])
def test_an_answer_outside_its_scale_is_invalid(question_id, value, scale):
    s = given(a_survey())

    with pytest.raises(InvalidInput, match=f"answer to '{question_id}' is {value}, outside its scale {scale}"):
        answer(s, (question_id, value))


def test_an_answer_to_a_question_the_survey_does_not_have_is_invalid():
    s = given(a_survey())

    with pytest.raises(InvalidInput, match="survey 's-1' has no question 'q-colour'"):
        answer(s, ("q-quality", 4), ("q-colour", 3))


def test_answering_the_same_question_twice_is_invalid():
    s = given(a_survey())

    with pytest.raises(InvalidInput, match="question 'q-quality' is answered twice"):
        answer(s, ("q-quality", 4), ("q-quality", 5))


def test_a_response_without_answers_is_invalid():
    s = given(a_survey())

    with pytest.raises(InvalidInput, match="must answer at least one question"):
        answer(s)


def test_an_invalid_response_records_nothing_on_the_survey():
    s = given(a_survey())

    with pytest.raises(InvalidInput):
        answer(s, ("q-quality", 9))
    assert recorded(s) == []
