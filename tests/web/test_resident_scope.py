"""Identity's addition for the portal: an OpenID Connect access token with scope ``resident``
works on the residents' API for the person who logged in, only for relying parties that
governance allowed (category ``resident-self-service``), and stops working when the grant is
revoked or the person logs out."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from dpistack.app import create_app
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.oauth import token_endpoint
from dpistack.web import session as web_session

from .conftest import BASE, citizen_login


def actor(inst, pid: str, key=None) -> ParticipantClient:
    key = key or credentials.load_private_jwk(inst.platform.settings.data_dir, pid)
    return ParticipantClient(inst.api, pid, key, token_endpoint(inst.platform.settings))


def portal_token(inst, browser: TestClient) -> str:
    return web_session.Sealer(inst.platform).open(browser.cookies.get(web_session.COOKIE), web_session.COOKIE)["t"]


def test_scope_resident_is_for_granted_relying_parties_only(instance):
    key, client_key = credentials.new_key(), credentials.new_key()
    p = actor(instance, "digital-agency").propose("participant.onboard", onboarding_payload(
        "pension-portal", "Pension Fund Portal", "relying-party", ["relying-party"], key)).json()
    assert actor(instance, "identity-authority").decide(p).json()["status"] == "enacted"
    rp = actor(instance, "pension-portal", key)
    g = rp.propose("access.grant", {"participant_id": "pension-portal", "action": "data:read",
                                    "category": "kyc-name", "owner_id": "identity-authority",
                                    "purpose": "greet"}).json()
    assert actor(instance, "identity-authority").decide(g).json()["status"] == "enacted"
    r = rp.post("/client-mgmt/oidc-client", json={"requestTime": "2026-01-01T00:00:00.000Z", "request": {
        "clientId": "pension-web", "clientName": "Pensions", "relyingPartyId": "pension-portal",
        "logoUri": "https://pensions.example/l.png", "redirectUris": ["http://127.0.0.1:9/cb"],
        "authContextRefs": ["idbb:acr:generated-code"], "publicKey": credentials.public_jwk(client_key),
        "userClaims": ["name"], "grantTypes": ["authorization_code"], "clientAuthMethods": ["private_key_jwt"]}})
    assert r.status_code == 200, r.text
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
    r = instance.api.get("/authorize", follow_redirects=False, params={
        "response_type": "code", "client_id": "pension-web", "redirect_uri": "http://127.0.0.1:9/cb",
        "scope": "openid resident", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert r.status_code == 303
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_scope"]


def test_the_token_stops_working_when_the_grant_is_revoked(instance):
    with TestClient(create_app(instance.platform), base_url=BASE) as b:
        citizen_login(instance, b)
        token = portal_token(instance, b)
        me = instance.api.get("/resident/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["uin"] == instance.uins["amina"]
        grants = actor(instance, "digital-agency").get("/governance/v1/grants",
                                                       params={"participant_id": "citizen-portal"}).json()
        grant = next(g for g in grants if g["category"] == "resident-self-service")
        p = actor(instance, "digital-agency").propose("access.revoke", {"grant_id": grant["id"],
                                                                         "reason": "test"}).json()
        assert actor(instance, "data-protection-authority").decide(p).json()["status"] == "enacted"
        assert instance.api.get("/resident/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        page = b.get("/me")
        assert page.status_code == 401 and "Your session has ended" in page.text


def test_logging_out_revokes_the_token(instance):
    import re

    with TestClient(create_app(instance.platform), base_url=BASE) as b:
        me = citizen_login(instance, b)
        token = portal_token(instance, b)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', me.text).group(1)
        b.post("/logout", data={"csrf_token": csrf})
        assert instance.api.get("/resident/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert instance.api.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
