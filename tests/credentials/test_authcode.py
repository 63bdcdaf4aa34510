"""OpenID4VCI's authorization-code flow through the platform's own OpenID provider: a wallet
(an OIDC client of a relying party that governance allowed) sends the person to /authorize
with the credential's scope or authorization_details, the person logs in with the national ID
and consents on identity's pages, the code (PKCE S256, private_key_jwt) gives an access token
for the credential endpoint, and the credential holds the person's claims, which the issuer
read from the provider's userinfo. And every refusal on the way."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from dpistack.credentials import sdjwt
from dpistack.governance import credentials as keys
from dpistack.identity.service import IdentityContext
from dpistack.transparency.models import LogEntry

from .people import PERSON
from .test_issuer import ISSUER, c_nonce, proof, trusted

REDIRECT = "http://127.0.0.1:9/wallet/callback"
CONFIG = "national-id-sd-jwt"
DETAILS = json.dumps([{"type": "openid_credential", "credential_configuration_id": CONFIG}])
VERIFIER = "v" * 60


def _register_wallet(actors, rp_id: str, client_id: str, allow: bool = True):
    rp = actors.onboard(rp_id, "relying-party", ["relying-party"], ["identity-authority"])
    if allow:  # governance lets this relying party be a wallet for the national ID credential
        proposal = rp.propose("access.grant", {"participant_id": rp_id, "action": "data:read",
                                               "category": "credential-national-id-sd-jwt",
                                               "owner_id": "identity-authority",
                                               "purpose": "people keep their national ID credential in this wallet"})
        assert actors("identity-authority").decide(proposal.json()).json()["status"] == "enacted"
    actors.grant_claims(rp_id, ["name"])  # an OIDC client registers at least one claim
    key = keys.new_key()
    r = rp.post("/client-mgmt/oidc-client", json={"requestTime": "2026-12-03T10:00:00.000Z", "request": {
        "clientId": client_id, "clientName": f"Wallet of {rp_id}", "relyingPartyId": rp_id,
        "logoUri": "https://wallet.example/logo.png", "redirectUris": [REDIRECT],
        "authContextRefs": ["idbb:acr:generated-code"], "publicKey": keys.public_jwk(key), "userClaims": ["name"],
        "grantTypes": ["authorization_code"], "clientAuthMethods": ["private_key_jwt"]}})
    assert r.status_code == 200, r.text
    return key


@pytest.fixture
def wallet(actors, client):
    office = actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])
    uin = office.post("/identity/v1/enrolments", json=PERSON).json()["uin"]
    key = _register_wallet(actors, "city-wallet", "city-wallet-app")
    return {"uin": uin, "key": key, "client_id": "city-wallet-app", "actors": actors,
            "sms": IdentityContext.of(actors.platform).channels["sms"]}


def challenge(verifier: str = VERIFIER) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_url(client_id: str, **params) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st-1",
             "code_challenge": challenge(), "code_challenge_method": "S256", **params}
    return "/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def hidden(page: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))


def log_in(client, wallet, url: str, decision: str = "allow") -> dict:
    """The person at the provider's pages; the query the wallet's redirect URI receives."""
    page = client.get(url, follow_redirects=False)
    assert page.status_code == 200, page.text
    page = client.post("/authorize/otp", data={**hidden(page.text), "individual_id": wallet["uin"]})
    code = re.search(r"\b(\d{6})\b", wallet["sms"].messages(PERSON["phone"])[-1]["message"]).group(1)
    consent = client.post("/authorize/login", data={**hidden(page.text), "otp": code})
    assert consent.status_code == 200 and "Share your information?" in consent.text, consent.text
    wallet["consent_page"] = consent.text
    back = client.post("/authorize/consent", data={**hidden(consent.text), "decision": decision},
                       follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"].startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}


def refused(client, url: str) -> dict:
    """An authorization request refused back to the wallet: the error in its redirect."""
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(REDIRECT), r.text
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def token(client, wallet, code: str, verifier: str = VERIFIER, client_id: str | None = None, key=None):
    client_id = client_id or wallet["client_id"]
    return client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_id": client_id, "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": keys.client_assertion(client_id, key or wallet["key"], ISSUER + "/oauth/token")})


def ask_credential(client, access_token: str, holder, **request):
    body = {"proofs": {"jwt": [proof(holder, c_nonce(client))]}, **request}
    return client.post("/credentials/v1/credential", json=body, headers={"Authorization": f"Bearer {access_token}"})


def test_metadata_for_wallets(client):
    issuer = client.get("/.well-known/openid-credential-issuer").json()
    assert issuer["credential_configurations_supported"][CONFIG]["scope"] == "national_id_credential"
    assert "authorization_servers" not in issuer  # the issuer is its own authorization server (same identifier)
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server == client.get("/.well-known/openid-configuration").json()  # one document, RFC 8414 and OIDC
    assert server["issuer"] == issuer["credential_issuer"]
    assert {"authorization_code", "urn:ietf:params:oauth:grant-type:pre-authorized_code"} <= \
        set(server["grant_types_supported"])
    assert server["authorization_details_types_supported"] == ["openid_credential"]
    assert server["pre-authorized_grant_anonymous_access_supported"] is True
    assert server["code_challenge_methods_supported"] == ["S256"]


def test_the_person_gets_a_credential_through_the_authorization_code_flow(client, wallet, platform):
    back = log_in(client, wallet, authorize_url(wallet["client_id"], authorization_details=DETAILS))
    assert back["state"] == "st-1" and back["iss"] == ISSUER
    # The consent page names the credential and what it holds.
    assert 'id="credential-national-id-sd-jwt"' in wallet["consent_page"]
    assert "your date of birth" in wallet["consent_page"] and "National ID" in wallet["consent_page"]

    r = token(client, wallet, back["code"])
    assert r.status_code == 200, r.text
    answer = r.json()
    assert "id_token" not in answer  # no openid scope: an OAuth request for the credential only
    [detail] = answer["authorization_details"]
    assert detail["type"] == "openid_credential" and detail["credential_configuration_id"] == CONFIG
    [identifier] = detail["credential_identifiers"]
    at = sdjwt.b64json(answer["access_token"].split(".")[1])
    assert at["aud"] == ISSUER + "/credentials/v1/credential"

    holder = ec.generate_private_key(ec.SECP256R1())
    # With authorization_details the request names the credential by its identifier, not its configuration.
    wrong = ask_credential(client, answer["access_token"], holder, credential_configuration_id=CONFIG)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_credential_request"
    unknown = ask_credential(client, answer["access_token"], holder, credential_identifier="somebody-else")
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_credential_identifier"
    issued = ask_credential(client, answer["access_token"], holder, credential_identifier=identifier)
    assert issued.status_code == 200, issued.text
    credential = issued.json()["credentials"][0]["credential"]

    shown = sdjwt.present(credential, ["given_name", "family_name", "birthdate", "address", "age_over_18"],
                          holder_key=holder, audience="https://bar.example", nonce="n-1")
    claims = sdjwt.verify(shown, trusted(client), audience="https://bar.example", nonce="n-1").claims
    assert claims["given_name"] == "Amina" and claims["family_name"] == "Hassan"
    assert claims["birthdate"] == PERSON["birth_date"] and claims["address"] == {"formatted": PERSON["address"]}
    assert claims["age_over_18"] is True
    assert claims["cnf"]["jwk"] == sdjwt.public_jwk(holder)
    # The release to the wallet is in the transparency log, as a credential issuance.
    with platform.db.uow() as session:
        entries = [e.entry for e in session.scalars(select(LogEntry))]
    assert any(b"credential issuance for city-wallet-app: national-id-sd-jwt" in e for e in entries)


def test_scope_alone_asks_for_the_credential_by_its_configuration(client, wallet):
    back = log_in(client, wallet, authorize_url(wallet["client_id"], scope="openid national_id_credential",
                                                nonce="n-9"))
    answer = token(client, wallet, back["code"]).json()
    assert "authorization_details" not in answer and answer["id_token"]  # openid: an ID token as well
    holder = ec.generate_private_key(ec.SECP256R1())
    issued = ask_credential(client, answer["access_token"], holder, credential_configuration_id=CONFIG)
    assert issued.status_code == 200, issued.text
    names = {name for _, name, _ in sdjwt.disclosures_of(issued.json()["credentials"][0]["credential"])}
    assert {"given_name", "family_name", "birthdate", "age_over_18"} <= names
    again = ask_credential(client, answer["access_token"], holder, credential_identifier="x")
    assert again.status_code == 400 and again.json()["error"] == "unknown_credential_identifier"


def test_wrong_pkce_and_a_replayed_code_are_refused(client, wallet):
    back = log_in(client, wallet, authorize_url(wallet["client_id"], authorization_details=DETAILS))
    wrong = token(client, wallet, back["code"], verifier="w" * 60)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    first = token(client, wallet, back["code"])
    assert first.status_code == 200
    replay = token(client, wallet, back["code"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The replay revoked what the code gave: the credential endpoint refuses its token now.
    [detail] = first.json()["authorization_details"]
    holder = ec.generate_private_key(ec.SECP256R1())
    r = ask_credential(client, first.json()["access_token"], holder,
                       credential_identifier=detail["credential_identifiers"][0])
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_who_may_ask_and_what(client, wallet):
    actors = wallet["actors"]
    # A relying party whose wallet governance did not allow: refused before any login.
    other_key = _register_wallet(actors, "shop-app", "shop-app-web", allow=False)
    by_details = refused(client, authorize_url("shop-app-web", authorization_details=DETAILS))
    assert by_details["error"] == "invalid_authorization_details" and "governance" in by_details["error_description"]
    by_scope = refused(client, authorize_url("shop-app-web", scope="openid national_id_credential"))
    assert by_scope["error"] == "invalid_scope" and by_scope["state"] == "st-1"
    assert other_key is not None

    bad = [
        ("not json", "not valid JSON"),
        (json.dumps({"type": "openid_credential"}), "non-empty array"),
        (json.dumps([]), "non-empty array"),
        (json.dumps([{"type": "payment_initiation", "instructedAmount": {"amount": "1"}}]), "not supported"),
        (json.dumps([{"type": "openid_credential"}]), "credential_configuration_id"),
        (json.dumps([{"type": "openid_credential", "credential_configuration_id": "driving-licence"}]),
         "no credential"),
        (json.dumps([{"type": "openid_credential", "credential_configuration_id": CONFIG,
                      "locations": ["https://elsewhere.example"]}]), "locations"),
        (json.dumps([{"type": "openid_credential", "credential_configuration_id": CONFIG, "claims": []}]), "claims"),
    ]
    for details, says in bad:
        error = refused(client, authorize_url(wallet["client_id"], authorization_details=details))
        assert error["error"] == "invalid_authorization_details", (details, error)
        assert says in error["error_description"], (details, error)
    # Neither openid nor a credential: nothing to authorise.
    assert refused(client, authorize_url(wallet["client_id"], scope="profile"))["error"] == "invalid_scope"
    # Without PKCE S256.
    no_pkce = refused(client, authorize_url(wallet["client_id"], authorization_details=DETAILS,
                                            code_challenge_method="plain"))
    assert no_pkce["error"] == "invalid_request"
    # locations naming this issuer is fine.
    ok = client.get(authorize_url(wallet["client_id"], authorization_details=json.dumps(
        [{"type": "openid_credential", "credential_configuration_id": CONFIG, "locations": [ISSUER]}])),
        follow_redirects=False)
    assert ok.status_code == 200 and "Log in with your national ID" in ok.text


def test_tokens_of_other_kinds_are_refused_at_the_credential_endpoint(client, wallet):
    holder = ec.generate_private_key(ec.SECP256R1())
    # An OpenID Connect login's access token (for userinfo), not for the credential endpoint.
    back = log_in(client, wallet, authorize_url(wallet["client_id"], scope="openid"))
    login_token = token(client, wallet, back["code"]).json()["access_token"]
    r = ask_credential(client, login_token, holder, credential_configuration_id=CONFIG)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # A participant's own access token: it is not an issuer agent.
    rp = wallet["actors"]("city-wallet")
    r = rp.post("/credentials/v1/credential", json={"credential_configuration_id": CONFIG,
                                                    "proofs": {"jwt": [proof(holder, c_nonce(client))]}})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    # A token for the credential endpoint, forged with another key.
    forged_key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    forged = sdjwt.sign_jws({"alg": "ES256", "typ": "at+jwt", "kid": "x"}, {
        "iss": ISSUER, "sub": "1" * 36, "aud": ISSUER + "/credentials/v1/credential", "client_id": "city-wallet-app",
        "iat": now, "exp": now + 60, "jti": "j", "authorization_details": [
            {"type": "openid_credential", "credential_configuration_id": CONFIG}]}, forged_key)
    r = ask_credential(client, forged, holder, credential_configuration_id=CONFIG)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # The credential endpoint's token is not a userinfo token for another client's residents' API.
    back = log_in(client, wallet, authorize_url(wallet["client_id"], authorization_details=DETAILS))
    vc_token = token(client, wallet, back["code"]).json()["access_token"]
    assert client.get("/resident/v1/me", headers={"Authorization": f"Bearer {vc_token}"}).status_code == 401


def test_a_declined_consent_gives_no_code(client, wallet):
    back = log_in(client, wallet, authorize_url(wallet["client_id"], authorization_details=DETAILS), decision="deny")
    assert back["error"] == "access_denied" and "code" not in back


def test_the_qr_endpoint_draws_only_verified_cards(client, wallet):
    back = log_in(client, wallet, authorize_url(wallet["client_id"], authorization_details=DETAILS))
    answer = token(client, wallet, back["code"]).json()
    holder = ec.generate_private_key(ec.SECP256R1())
    identifier = answer["authorization_details"][0]["credential_identifiers"][0]
    credential = ask_credential(client, answer["access_token"], holder,
                                credential_identifier=identifier).json()["credentials"][0]["credential"]
    from dpistack.credentials import qr

    card = qr.card_presentation(credential, ["age_over_18"])
    r = client.post("/credentials/v1/qr", json={"presentation": card})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["svg"].startswith("<svg") and body["version"] >= 1
    assert set(body["claims"]) - {"iss", "iat", "exp", "vct", "status"} == {"age_over_18"}
    assert sdjwt.verify(qr.decode(body["qr_text"]), trusted(client), require_key_binding=False).claims["age_over_18"]
    # A presentation with key binding is not a card; a tampered card is refused with its reason.
    bound = sdjwt.present(credential, ["age_over_18"], holder_key=holder, audience="https://a.example", nonce="n")
    r = client.post("/credentials/v1/qr", json={"presentation": bound})
    assert r.status_code == 400 and r.json()["error"] == "invalid_credential_request"
    jwt_part, rest = card.split("~", 1)
    tampered = jwt_part[:-4] + ("AAAA" if not jwt_part.endswith("AAAA") else "BBBB") + "~" + rest
    r = client.post("/credentials/v1/qr", json={"presentation": tampered})
    assert r.status_code == 400 and r.json()["error"] in ("bad_signature", "malformed_sd_jwt"), r.text
    assert client.post("/credentials/v1/qr", json={"presentation": "é~"}).status_code == 400
