"""Customers: registration with personal data, erasure (once), invitations counted.

Given is what was recorded before (past events); When is one command; Then the
events it records.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from csm.domain.base import CsmEvent
from csm.domain.customer import Customer
from csm.domain.errors import InvalidTransition
from tests.unit.domain_builders import T0, a_customer, at, recorded
from tests.unit.history import history, past


def registered(customer_id: str = "cust-1", tier: str = "standard") -> CsmEvent:
    return past(Customer.Registered, customer_id, 1, T0, customer_id=customer_id,
                name="Ada Lovelace", email="ada@example.org", phone="+44 20 7946 0000",
                tier=tier, segment="retail")


def erased(version: int, when: datetime, customer_id: str = "cust-1") -> CsmEvent:
    return past(Customer.Erased, customer_id, version, when, customer_id=customer_id,
                reason=None)


def invited(version: int, when: datetime, customer_id: str = "cust-1") -> CsmEvent:
    return past(Customer.Invited, customer_id, version, when, customer_id=customer_id,
                survey_id="s-1", cause_event_id=None)


def test_registering_a_customer_records_their_details_and_tier():
    c = Customer.register("cust-7", "Wang Fang", "wang@example.com", "+86 10 5555 0100",
                          "high_value", "vip", T0)

    [registered_] = recorded(c)
    assert type(registered_).TYPE == "customer.registered"
    assert registered_.originator_id == "cust-7" and registered_.customer_id == "cust-7"
    assert (registered_.name, registered_.email, registered_.phone) == (
        "Wang Fang", "wang@example.com", "+86 10 5555 0100")
    assert (registered_.tier, registered_.segment) == ("high_value", "vip")
    assert registered_.occurred_at == registered_.timestamp == T0
    assert c.high_value is True and c.erased is False


def test_a_standard_customer_is_not_high_value():
    assert history(registered(tier="standard")).high_value is False


def test_the_personal_data_of_a_registration_is_name_email_and_phone():
    [registered_] = recorded(a_customer("cust-1"))

    assert type(registered_).PERSONAL == ("name", "email", "phone")
    assert registered_.personal_subject() == "cust-1"


def test_erasing_a_customer_records_the_reason_and_forgets_their_personal_data():
    c = history(registered("cust-1"))

    c.erase("GDPR request", at(5))

    [erased_] = recorded(c)
    assert type(erased_).TYPE == "customer.erased"
    assert (erased_.customer_id, erased_.reason) == ("cust-1", "GDPR request")
    assert erased_.occurred_at == erased_.timestamp == at(5)
    assert c.erased is True
    assert (c.name, c.email, c.phone) == (None, None, None)
    assert c.tier == "standard"


def test_erasing_a_customer_twice_is_refused():
    c = history(registered("cust-1"), erased(2, at(1)))

    with pytest.raises(InvalidTransition, match="customer 'cust-1' has already been erased"):
        c.erase("again", at(2))
    assert recorded(c) == []


def test_a_customer_not_erased_is_active():
    c = history(registered("cust-1"))

    c.ensure_active()
    assert c.erased is False


def test_nothing_more_can_be_recorded_for_an_erased_customer():
    c = history(registered("cust-1"), erased(2, at(1)))

    with pytest.raises(InvalidTransition, match="has been erased"):
        c.ensure_active()


def test_invitations_are_counted_from_a_moment_on():
    c = history(registered(), invited(2, at(1)), invited(3, at(30)))

    assert (c.invitations_since(T0), c.invitations_since(at(2))) == (2, 1)


def test_inviting_a_customer_records_the_survey_and_the_cause():
    c = history(registered())

    c.invite("s-2", at(3), "c-1@4")

    [invited_] = recorded(c)
    assert type(invited_).TYPE == "customer.invited"
    assert (invited_.survey_id, invited_.cause_event_id, invited_.timestamp) == (
        "s-2", "c-1@4", at(3))
