"""private_key_jwt client authentication at POST /oauth/token, and access tokens on the APIs."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt

from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER


def _form(assertion: str, **extra) -> dict:
    return {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion, **extra}


def _assertion(actors, pid="central-bank", key=None, **overrides) -> str:
    key = key or credentials.load_private_jwk(actors.platform.settings.data_dir, pid)
    now = int(time.time())
    claims = {"iss": pid, "sub": pid, "aud": actors.token_url, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def test_authority_gets_a_short_lived_token_naming_it(actors, client, platform):
    response = client.post("/oauth/token", data=_form(_assertion(actors)))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == platform.settings.access_token_seconds
    claims = jwt.decode(body["access_token"], platform.keys.verification_keyset()).claims
    assert claims["sub"] == "central-bank" and claims["iss"] == platform.settings.public_url
    assert set(body["scope"].split()) == {"governance", "payments-regulator"}
    # The token opens the protected API.
    api = client.get("/governance/v1/participants", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200
    assert {p["id"] for p in api.json()} >= {"central-bank", "digital-agency"}


def test_replayed_assertion_is_refused(actors, client):
    assertion = _assertion(actors)
    assert client.post("/oauth/token", data=_form(assertion)).status_code == 200
    again = client.post("/oauth/token", data=_form(assertion))
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client" and "replay" in again.json()["error_description"]


def test_assertion_signed_with_an_unregistered_key_is_refused(actors, client):
    response = client.post("/oauth/token", data=_form(_assertion(actors, key=credentials.new_key())))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_unsigned_alg_none_assertion_is_refused(actors, client):
    import base64
    import json

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    token = b64({"alg": "none"}) + "." + b64(
        {"iss": "central-bank", "sub": "central-bank", "aud": actors.token_url, "exp": now + 60, "jti": "x"}) + "."
    response = client.post("/oauth/token", data=_form(token))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_expired_wrong_audience_or_long_lived_assertions_are_refused(actors, client):
    now = int(time.time())
    for overrides in ({"exp": now - 120}, {"aud": "https://elsewhere.example/token"}, {"exp": now + 3600},
                      {"jti": None}, {"sub": "digital-agency"}):
        response = client.post("/oauth/token", data=_form(_assertion(actors, **overrides)))
        assert response.status_code == 401, overrides
        assert response.json()["error"] == "invalid_client"


def test_malformed_token_requests_get_oauth_errors(actors, client):
    assert client.post("/oauth/token", data={}).json()["error"] == "invalid_request"
    r = client.post("/oauth/token", data={"grant_type": "password", "username": "x"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_secret": "s"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = client.post("/oauth/token", data=_form("not-a-jwt"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = client.post("/oauth/token", data=_form(_assertion(actors), scope="payments-regulator fsp"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = client.post("/oauth/token", data=_form(_assertion(actors), client_id="digital-agency"))
    assert r.status_code == 401


def test_protected_apis_refuse_missing_forged_and_foreign_tokens(actors, client, platform):
    r = client.get("/governance/v1/participants")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"] == "Bearer"
    forged_key = credentials.new_key()
    forged = jwt.encode({"alg": "ES256", "kid": "x", "typ": "at+jwt"},
                        {"iss": platform.settings.public_url, "aud": "dpistack", "sub": "central-bank",
                         "exp": int(time.time()) + 60}, forged_key)
    assert client.get("/governance/v1/participants", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    # A client assertion is not an access token, even though it is a valid signed JWT.
    assertion = _assertion(actors)
    assert client.get("/governance/v1/participants", headers={"Authorization": f"Bearer {assertion}"}).status_code == 401


def test_tokens_verify_after_key_rotation(actors, client, platform):
    token = actors("central-bank").token()
    platform.keys.rotate()
    jwks = client.get("/.well-known/jwks.json").json()["keys"]
    assert len(jwks) == 6  # three active, three retired: old tokens still verify
    assert client.get("/governance/v1/participants", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    new = actors("central-bank").request_token().json()["access_token"]
    assert jwt.decode(new, platform.keys.verification_keyset()).header["kid"] == platform.keys.active("ES256")[0].kid
