"""Customers: registration with personal data, and erasure (once)."""
from __future__ import annotations

import pytest

from csm.domain.customer import Customer
from csm.domain.errors import InvalidTransition
from tests.unit.domain_builders import T0, a_customer, at, given, recorded


def test_registering_a_customer_records_their_details_and_tier():
    c = Customer.register("cust-7", "Wang Fang", "wang@example.com", "+86 10 5555 0100",
                          "high_value", "vip", T0)

    [registered] = recorded(c)
    assert type(registered).TYPE == "customer.registered"
    assert registered.originator_id == "cust-7" and registered.customer_id == "cust-7"
    assert (registered.name, registered.email, registered.phone) == (
        "Wang Fang", "wang@example.com", "+86 10 5555 0100")
    assert (registered.tier, registered.segment) == ("high_value", "vip")
    assert registered.occurred_at == registered.timestamp == T0
    assert c.high_value is True and c.erased is False


def test_a_standard_customer_is_not_high_value():
    assert a_customer(tier="standard").high_value is False


def test_the_personal_data_of_a_registration_is_name_email_and_phone():
    [registered] = recorded(a_customer("cust-1"))

    assert type(registered).PERSONAL == ("name", "email", "phone")
    assert registered.personal_subject() == "cust-1"


def test_erasing_a_customer_records_the_reason_and_forgets_their_personal_data():
    c = given(a_customer("cust-1"))

    c.erase("GDPR request", at(5))

    [erased] = recorded(c)
    assert type(erased).TYPE == "customer.erased"
    assert (erased.customer_id, erased.reason) == ("cust-1", "GDPR request")
    assert erased.occurred_at == erased.timestamp == at(5)
    assert c.erased is True
    assert (c.name, c.email, c.phone) == (None, None, None)
    assert c.tier == "standard"


def test_erasing_a_customer_twice_is_refused():
    c = a_customer("cust-1")
    c.erase(None, at(1))
    given(c)

    with pytest.raises(InvalidTransition, match="customer 'cust-1' has already been erased"):
        c.erase("again", at(2))
    assert recorded(c) == []


def test_nothing_more_can_be_recorded_for_an_erased_customer():
    c = a_customer("cust-1")
    c.ensure_active()
    c.erase(None, at(1))

    with pytest.raises(InvalidTransition, match="has been erased"):
        c.ensure_active()
