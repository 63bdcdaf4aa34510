"""OpenID Connect provider: a standard relying-party library (Authlib) logs a person in over
real HTTP through the HTML pages, unchanged; and every bad input gets its OAuth error."""

from __future__ import annotations

import re
import time
import uuid
import warnings
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select

from dpistack.app import create_app
from dpistack.core.server import free_port, serve_in_thread
from dpistack.identity.models import OidcTransaction
from dpistack.identity.service import IdentityContext
from dpistack.transparency.models import LogEntry

from .test_enrolment import AMINA

with warnings.catch_warnings():  # Authlib warns at import that it will move to httpx2
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

REDIRECT = "http://127.0.0.1:9/callback"


class Forms(HTMLParser):
    """The forms of a page, as a browser without JavaScript sees them."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}, "buttons": [], "checkboxes": []})
        elif tag == "input" and self.forms:
            if a.get("type") == "checkbox":
                self.forms[-1]["checkboxes"].append(a["value"])
            else:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a["value"]))


class Person:
    """A person at a browser: fills in the pages the provider shows."""

    def __init__(self, base: str, sms):
        self.base, self.sms = base, sms
        self.browser = httpx.Client(follow_redirects=False, timeout=10)

    def submit(self, page: httpx.Response, values: dict, button: tuple[str, str] | None = None) -> httpx.Response:
        form = Forms(page.text).forms[0]
        data = {**form["fields"], **values}
        if button:
            data[button[0]] = button[1]
        return self.browser.post(urljoin(self.base, form["action"]), data=data)

    def log_in(self, authorization_url: str, individual_id: str, share: list[str] | None = None,
               decision: str = "allow") -> httpx.Response:
        page = self.browser.get(authorization_url)
        assert page.status_code == 200, page.text
        page = self.submit(page, {"individual_id": individual_id})
        assert "one-time code" in page.text
        code = re.search(r"\b(\d{6})\b", self.sms.messages(AMINA["phone"])[-1]["message"]).group(1)
        consent = self.submit(page, {"otp": code})
        assert consent.status_code == 200 and "Share your information" in consent.text, consent.text
        return self.submit(consent, {"claims": share or []}, ("decision", decision))


def enrol_person_and_register_client(actors) -> dict:
    """An enrolled person, and a relying party whose OIDC client ("pension-web") is registered
    with the claims governance granted it."""
    office = actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])
    uin = office.post("/identity/v1/enrolments", json=AMINA).json()["uin"]
    rp = actors.onboard("pension-portal", "relying-party", ["relying-party"], ["identity-authority"])
    actors.grant_claims("pension-portal", ["name", "birthdate", "email"])
    client_key = ECKey.generate_key("P-256")
    registered = register(rp, "pension-web", client_key)
    assert registered.status_code == 200 and registered.json()["response"] == {"clientId": "pension-web"}
    return {"uin": uin, "key": client_key, "rp": rp, "actors": actors}


@pytest.fixture
def provider(request, platform):
    """A live provider on loopback with an enrolled person and a registered OIDC client."""
    port = free_port()
    platform.settings.public_url = f"http://127.0.0.1:{port}"
    ready = enrol_person_and_register_client(request.getfixturevalue("actors"))
    with serve_in_thread(create_app(platform), port=port) as base:
        yield {**ready, "base": base, "person": Person(base, IdentityContext.of(platform).channels["sms"])}


def register(rp, client_id, key, claims=("name", "birthdate", "email"), redirect=REDIRECT, **changes):
    body = {"clientId": client_id, "clientName": "Pension portal", "relyingPartyId": rp.id,
            "logoUri": "https://pension.example/logo.png", "redirectUris": [redirect],
            "authContextRefs": ["idbb:acr:generated-code"], "publicKey": key.as_dict(private=False),
            "userClaims": list(claims), "grantTypes": ["authorization_code"], "clientAuthMethods": ["private_key_jwt"],
            **changes}
    return rp.post("/client-mgmt/oidc-client", json={"requestTime": "2026-11-22T10:00:00.000Z", "request": body})


def relying_party(provider, scope="openid profile") -> tuple[OAuth2Client, dict]:
    meta = httpx.get(provider["base"] + "/.well-known/openid-configuration").json()
    client = OAuth2Client("pension-web", provider["key"], token_endpoint_auth_method=PrivateKeyJWT(
        meta["token_endpoint"], alg="ES256"), scope=scope, redirect_uri=REDIRECT, code_challenge_method="S256")
    return client, meta


def keys(meta) -> KeySet:
    return KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())


@pytest.mark.e2e
def test_authlib_client_logs_a_person_in_through_the_pages(provider, platform):
    client, meta = relying_party(provider)
    assert meta["issuer"] == provider["base"] and meta["code_challenge_methods_supported"] == ["S256"]
    verifier = "v" * 20 + "-._~" + "x" * 30
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6",
        claims='{"userinfo": {"name": {"essential": true}, "birthdate": null}, "id_token": {"name": {"essential": true}}}')
    back = provider["person"].log_in(url, provider["uin"], share=["birthdate"])
    assert back.status_code == 303
    location = back.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT) and query["state"] == [state] and query["iss"] == [meta["issuer"]]

    token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    id_token = jwt.decode(token["id_token"], keys(meta), algorithms=["RS256"]).claims
    assert id_token["iss"] == meta["issuer"] and id_token["aud"] == "pension-web" and id_token["nonce"] == "n-0S6"
    assert id_token["acr"] == "idbb:acr:generated-code" and id_token["name"] == "Amina Hassan"
    assert provider["uin"] not in token["id_token"] and re.fullmatch(r"\d{36}", id_token["sub"])

    info = client.get(meta["userinfo_endpoint"])
    assert info.status_code == 200 and info.headers["content-type"] == "application/jwt"
    claims = jwt.decode(info.text, keys(meta), algorithms=["RS256"]).claims
    assert claims["sub"] == id_token["sub"] and claims["name"] == "Amina Hassan"
    assert claims["birthdate"] == AMINA["birth_date"] and "email" not in claims  # email: not asked for
    with platform.db.uow() as s:
        reads = [e.entry for e in s.scalars(select(LogEntry)) if b"oidc userinfo" in e.entry]
    assert len(reads) == 1 and provider["uin"].encode() not in reads[0]


@pytest.mark.e2e
def test_sub_is_pairwise_per_relying_party(provider):
    """The same person logging in to a second relying party gets another sub there."""
    actors = provider["actors"]
    other = actors.onboard("tax-portal", "relying-party", ["relying-party"], ["identity-authority"])
    actors.grant_claims("tax-portal", ["name"])
    key = RSAKey.generate_key(2048)  # an eSignet-style client: RSA key, RS256 assertions (Authlib's default)
    assert register(other, "tax-web", key, claims=["name"]).status_code == 200
    subs = []
    for client_id, client_key, alg in (("pension-web", provider["key"], "ES256"), ("tax-web", key, None)):
        meta = httpx.get(provider["base"] + "/.well-known/openid-configuration").json()
        client = OAuth2Client(client_id, client_key, token_endpoint_auth_method=PrivateKeyJWT(
            meta["token_endpoint"], alg=alg), scope="openid", redirect_uri=REDIRECT, code_challenge_method="S256")
        verifier = "a" * 50
        url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
        location = provider["person"].log_in(url, provider["uin"]).headers["location"]
        token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
        subs.append(jwt.decode(token["id_token"], keys(meta), algorithms=["RS256"]).claims["sub"])
    assert subs[0] != subs[1]


def _code_and_client(provider, verifier="b" * 50, **extra):
    client, meta = relying_party(provider)
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, **extra)
    location = provider["person"].log_in(url, provider["uin"]).headers["location"]
    return client, meta, location


def _token_error(call) -> dict:
    from authlib.integrations.base_client import OAuthError

    with pytest.raises(OAuthError) as caught:
        call()
    return {"error": caught.value.error}


@pytest.mark.e2e
def test_wrong_pkce_verifier_and_reused_codes_are_refused(provider, platform):
    client, meta, location = _code_and_client(provider)
    wrong = _token_error(lambda: client.fetch_token(meta["token_endpoint"], authorization_response=location,
                                                    code_verifier="c" * 50))
    assert wrong == {"error": "invalid_grant"}
    token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier="b" * 50)
    assert client.get(meta["userinfo_endpoint"]).status_code == 200
    again = _token_error(lambda: client.fetch_token(meta["token_endpoint"], authorization_response=location,
                                                    code_verifier="b" * 50))
    assert again == {"error": "invalid_grant"}
    # The reuse revoked what the code gave: the access token no longer works.
    revoked = httpx.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"})
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked.headers["www-authenticate"]


@pytest.mark.e2e
def test_authorization_request_errors(provider):
    client, meta = relying_party(provider)
    browser = provider["person"].browser
    good = dict(response_type="code", client_id="pension-web", redirect_uri=REDIRECT, scope="openid", state="s1",
                code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method="S256")
    # Unregistered redirect URI or unknown client: an error page, never a redirect.
    for bad in ({"redirect_uri": "https://attacker.example/cb"}, {"client_id": "nobody"}):
        page = browser.get(meta["authorization_endpoint"], params={**good, **bad})
        assert page.status_code == 400 and "location" not in page.headers and "<h1>" in page.text
    # Everything else goes back to the client with an OAuth error code.
    for bad, error in (({"code_challenge_method": "plain"}, "invalid_request"), ({"code_challenge": ""}, "invalid_request"),
                       ({"scope": "profile"}, "invalid_scope"), ({"response_type": "token"}, "unsupported_response_type"),
                       ({"claims": "{not json"}, "invalid_request"), ({"prompt": "none"}, "login_required")):
        r = browser.get(meta["authorization_endpoint"], params={**good, **bad})
        query = parse_qs(urlsplit(r.headers["location"]).query)
        assert r.status_code == 303 and query["error"] == [error] and query["state"] == ["s1"], (bad, r.text)


@pytest.mark.e2e
def test_consent_refused_and_wrong_otp(provider, platform):
    client, meta = relying_party(provider)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier="d" * 50)
    back = provider["person"].log_in(url, provider["uin"], decision="deny")
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == [state] and "code" not in query

    person = provider["person"]
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier="d" * 50)
    page = person.submit(person.browser.get(url), {"individual_id": provider["uin"]})
    failed = person.submit(page, {"otp": "000000"})
    assert failed.status_code == 401 and 'role="alert"' in failed.text and "Share your information" not in failed.text
    # Forged posts from another browser (no cookie) are refused.
    stranger = httpx.post(provider["base"] + "/authorize/login",
                          data={**Forms(page.text).forms[0]["fields"], "otp": "123456"})
    assert stranger.status_code == 400
    with platform.db.uow() as s:
        statuses = sorted(t.status for t in s.scalars(select(OidcTransaction)))
    assert statuses == ["denied", "login"]


@pytest.mark.e2e
def test_token_endpoint_client_authentication(provider):
    client, meta, location = _code_and_client(provider)
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": "b" * 50,
            "client_id": "pension-web"}
    # alg none, a key that is not the client's, and no client authentication at all.
    unsigned = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJwZW5zaW9uLXdlYiIsInN1YiI6InBlbnNpb24td2ViIn0."  # {"alg":"none"}
    stranger_key = ECKey.generate_key("P-256")
    forged = jwt.encode({"alg": "ES256"}, {"iss": "pension-web", "sub": "pension-web", "aud": meta["token_endpoint"],
                                           "exp": int(time.time()) + 60, "jti": str(uuid.uuid4())}, stranger_key)
    for assertion in (unsigned, forged):
        r = httpx.post(meta["token_endpoint"], data={**form, "client_assertion": assertion, "client_assertion_type":
                                                     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = httpx.post(meta["token_endpoint"], data=form)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # The code was not spent by the refused attempts.
    assert client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier="b" * 50)


def test_client_registration_is_gated_by_governance(actors, client):
    rp = actors.onboard("clinic-app", "relying-party", ["relying-party"], ["identity-authority"])
    key = ECKey.generate_key("P-256")
    refused = register(rp, "clinic-web", key, claims=["name"])
    assert refused.status_code == 400 and refused.json()["errors"][0]["errorCode"] == "invalid_claim"
    actors.grant_claims("clinic-app", ["name"])
    assert register(rp, "clinic-web", key, claims=["name"]).status_code == 200
    assert register(rp, "clinic-web", key, claims=["name"]).json()["errors"][0]["errorCode"] == "duplicate_client_id"
    other = actors.onboard("shop-app", "relying-party", ["relying-party"], ["identity-authority"])
    foreign = register(other, "shop-web", key, claims=["name"], relyingPartyId="clinic-app")
    assert foreign.status_code == 403 and foreign.json()["errors"][0]["errorCode"] == "invalid_rp_id"
    bank = actors.onboard("some-bank", "bank", ["fsp"], ["central-bank"])
    assert register(bank, "bank-web", key, claims=["name"]).status_code == 403  # not a relying party: policy says no
    private = register(rp, "clinic-2", key, claims=["name"], publicKey=key.as_dict(private=True))
    assert private.json()["errors"][0]["errorCode"] == "invalid_public_key"
    fragment = register(rp, "clinic-3", key, claims=["name"], redirect="https://clinic.example/cb#x")
    assert fragment.json()["errors"][0]["errorCode"] == "invalid_redirect_uri"
    update = {"clientName": "Clinic", "status": "inactive", "logoUri": "https://clinic.example/l.png",
              "redirectUris": ["https://clinic.example/cb"], "userClaims": ["name"],
              "authContextRefs": ["idbb:acr:generated-code"], "grantTypes": ["authorization_code"],
              "clientAuthMethods": ["private_key_jwt"]}
    r = rp.put("/client-mgmt/oidc-client/clinic-web", json={"requestTime": "2026-11-22T10:00:00Z", "request": update})
    assert r.status_code == 200, r.text
    assert other.put("/client-mgmt/oidc-client/clinic-web",
                     json={"requestTime": "2026-11-22T10:00:00Z", "request": update}).status_code == 403
    assert client.get("/authorize", params={"client_id": "clinic-web", "redirect_uri": "https://clinic.example/cb",
                                            "response_type": "code", "scope": "openid"}).status_code == 400  # inactive


@pytest.mark.e2e
def test_refused_token_requests_are_logged_without_secrets(provider, caplog):
    client, meta, location = _code_and_client(provider)
    code = parse_qs(urlsplit(location).query)["code"][0]
    with caplog.at_level("WARNING", logger="dpistack.oauth"):
        _token_error(lambda: client.fetch_token(meta["token_endpoint"], authorization_response=location,
                                                code_verifier="z" * 50))
    logged = [r.getMessage() for r in caplog.records if r.name == "dpistack.oauth"]
    assert len(logged) == 1 and "invalid_grant" in logged[0] and "pension-web" in logged[0]
    assert code not in logged[0]
