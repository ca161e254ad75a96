"""Reward and penalty points per department: the `ledger` read model and the scores queries."""
