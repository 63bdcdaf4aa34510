"""Fixtures shared by the credential tests: an enrolled person with an issuer agent, a bar."""

from __future__ import annotations

import pytest

from .people import enrol_with_agent


@pytest.fixture
def world(actors):
    """(Amina's UIN, an issuer agent permitted to release her name and birth date)."""
    return enrol_with_agent(actors)


@pytest.fixture
def bar(actors):
    """A relying party that asks for presentations."""
    return actors.onboard("corner-bar", "relying-party", ["relying-party"], ["identity-authority"])
