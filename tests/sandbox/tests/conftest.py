"""Fixtures for the sandbox's Chargebee tests (the server fixtures come from tests/support/sandbox_fixtures.py,
registered in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.sandbox.chargebee.testing import SEAT, Site


@pytest.fixture
def site(sandbox, chargebee_client) -> Site:
    return Site(sandbox, chargebee_client)


@pytest.fixture
def april(site) -> Site:
    """Day mode, UTC; a customer with a good card on 5 seats from Apr 1 (term Apr 1 -> May 1, 30 days)."""
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    site.customer("acme")
    site.subscribe("acme", "sub-acme", [(SEAT, 5)])
    return site
