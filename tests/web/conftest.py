"""Fixtures of the portal's tests: an instance with the portal set up (onboarded through
governance, its OIDC client registered) and one enrolled person."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dpistack.app import create_app
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.governance import credentials
from dpistack.governance.setup import init_instance
from dpistack.identity.service import IdentityContext
from dpistack.web.setup import setup_portal

AMINA = {
    "names": [{"language": "en", "given": "Amina", "family": "Hassan"},
              {"language": "ar", "given": "أمينة", "family": "حسن"}],
    "birth_date": "1990-04-12", "sex": "female", "birth_place": "Mombasa",
    "address": "12 Harbour Road, Mombasa", "phone": "+254700000001",
}
BASE = "http://127.0.0.1:8000"  # a loopback public URL (OIDC redirect URIs must be https or loopback)
BARAKA = {
    "names": [{"language": "en", "given": "Baraka", "family": "Otieno"}],
    "birth_date": "1985-09-30", "sex": "male", "birth_place": "Kisumu",
    "address": "4 Lake View, Kisumu", "phone": "+254700000002",
}


class Instance:
    def __init__(self, platform: Platform, api: TestClient):
        self.platform, self.api = platform, api
        self.sms = IdentityContext.of(platform).channels["sms"]

    def code_for(self, phone: str) -> str:
        return re.search(r"\b(\d{6})\b", self.sms.messages(phone)[-1]["message"]).group(1)

    def key_text(self, participant_id: str) -> str:
        import json

        key = credentials.load_private_jwk(self.platform.settings.data_dir, participant_id)
        return json.dumps(key.as_dict(private=True))


def make_instance(tmp_path, public_url: str) -> tuple[Platform, dict[str, str]]:
    """A fresh instance with the portal set up and two people enrolled (their UINs)."""
    from dpistack.governance.client import ParticipantClient, onboarding_payload
    from dpistack.governance.oauth import token_endpoint

    platform = Platform.open(Settings(data_dir=tmp_path / "data", public_url=public_url))
    init_instance(platform)
    with TestClient(create_app(platform), base_url=public_url) as http:
        setup_portal(platform, http)
        data_dir, token_url = platform.settings.data_dir, token_endpoint(platform.settings)
        agency = ParticipantClient(http, "digital-agency", credentials.load_private_jwk(data_dir, "digital-agency"),
                                   token_url)
        authority = ParticipantClient(http, "identity-authority",
                                      credentials.load_private_jwk(data_dir, "identity-authority"), token_url)
        key = credentials.new_key()
        p = agency.propose("participant.onboard", onboarding_payload(
            "civil-registry", "Civil Registration Office", "registry", ["registration"], key)).json()
        assert authority.decide(p).json()["status"] == "enacted"
        registry = ParticipantClient(http, "civil-registry", key, token_url)
        uins = {who: registry.post("/identity/v1/enrolments", json=person).json()["uin"]
                for who, person in (("amina", AMINA), ("baraka", BARAKA))}
    return platform, uins


@pytest.fixture
def instance(tmp_path):
    platform, uins = make_instance(tmp_path, BASE)
    with TestClient(create_app(platform), base_url=BASE, raise_server_exceptions=False) as api:
        inst = Instance(platform, api)
        inst.uins = uins
        yield inst
    platform.close()


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))


def citizen_login(inst: Instance, browser: TestClient, who: str = "amina", lang: str | None = None):
    """Log a person in through the portal and the OpenID provider's pages, as a browser would."""
    phone = AMINA["phone"] if who == "amina" else BARAKA["phone"]
    page = browser.get("/login" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200 and 'action="/authorize/otp"' in page.text, page.text
    assert f'<html lang="{lang or "en"}"' in page.text  # identity's login page, in the portal's language
    page = browser.post("/authorize/otp", data={**hidden_fields(page.text), "individual_id": inst.uins[who]})
    page = browser.post("/authorize/login", data={**hidden_fields(page.text), "otp": inst.code_for(phone)})
    assert 'id="resident-scope"' in page.text  # the consent page says what the portal may do
    return browser.post("/authorize/consent", data={**hidden_fields(page.text), "decision": "allow"})
