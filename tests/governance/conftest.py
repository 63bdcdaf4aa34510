"""Governance fixtures: an initialised instance and participant clients that sign for real."""

from __future__ import annotations

import pytest

from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.oauth import token_endpoint
from dpistack.governance.setup import init_instance


class Actors:
    """The authorities from `dpi init` plus any institution a test onboards."""

    def __init__(self, platform, client):
        self.platform, self.client = platform, client
        init_instance(platform)
        self.token_url = token_endpoint(platform.settings)

    def __call__(self, participant_id: str, key=None) -> ParticipantClient:
        key = key or credentials.load_private_jwk(self.platform.settings.data_dir, participant_id)
        assert key is not None, f"no credential for {participant_id}"
        return ParticipantClient(self.client, participant_id, key, self.token_url)

    def propose_onboarding(self, participant_id: str, kind: str, roles: list[str], by: str = "digital-agency"):
        key = credentials.new_key()
        credentials.save_private_jwk(self.platform.settings.data_dir, participant_id, key)
        payload = onboarding_payload(participant_id, participant_id.replace("-", " ").title(), kind, roles, key)
        response = self(by).propose("participant.onboard", payload)
        assert response.status_code == 201, response.text
        return response.json()

    def onboard(self, participant_id: str, kind: str, roles: list[str], approvers: list[str]) -> ParticipantClient:
        proposal = self.propose_onboarding(participant_id, kind, roles)
        for approver in approvers:
            response = self(approver).decide(proposal)
            assert response.status_code == 200, response.text
        assert response.json()["status"] == "enacted"
        return self(participant_id)


@pytest.fixture
def actors(platform, client) -> Actors:
    return Actors(platform, client)
