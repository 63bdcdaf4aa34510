"""A real browser (Debian's Chromium driven by Playwright) logs a person in to a relying-party
web app with "login with national ID": RP → /authorize → login → OTP → consent → RP."""

from __future__ import annotations

import os
import re
import shutil
import warnings

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from dpistack.app import create_app
from dpistack.core.server import free_port, serve_in_thread
from dpistack.identity.service import IdentityContext

from .test_enrolment import AMINA
from .test_oidc import register

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import httpx
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def relying_party_app(provider_url: str, client_id: str, key: ECKey, redirect_uri: str) -> FastAPI:
    """A minimal relying-party web app using Authlib, as a ministry's portal would."""
    app = FastAPI()
    meta = httpx.get(provider_url + "/.well-known/openid-configuration").json()
    pending: dict[str, str] = {}

    def oauth() -> OAuth2Client:
        return OAuth2Client(client_id, key, token_endpoint_auth_method=PrivateKeyJWT(meta["token_endpoint"], alg="ES256"),
                            scope="openid profile", redirect_uri=redirect_uri, code_challenge_method="S256")

    @app.get("/login")
    def login():
        verifier = os.urandom(32).hex()
        url, state = oauth().create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                      claims='{"userinfo": {"name": {"essential": true}}}')
        pending[state] = verifier
        return RedirectResponse(url, status_code=303)

    @app.get("/callback")
    def callback(state: str, code: str | None = None, error: str | None = None):
        if error:
            return HTMLResponse(f"<h1>Login failed: {error}</h1>", status_code=400)
        client = oauth()
        client.fetch_token(meta["token_endpoint"], code=code, code_verifier=pending.pop(state))
        info = client.get(meta["userinfo_endpoint"]).text
        keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
        claims = jwt.decode(info, keys, algorithms=["RS256"]).claims
        return HTMLResponse(f"<h1>Welcome, {claims['name']}</h1><p id='birthdate'>{claims.get('birthdate', '')}</p>")

    return app


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("Chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.e2e
@pytest.mark.parametrize("platform", ["sqlite"], indirect=True)
def test_browser_login_with_national_id(request, platform, chromium):
    port, rp_port = free_port(), free_port()
    platform.settings.public_url = f"http://127.0.0.1:{port}"
    actors = request.getfixturevalue("actors")
    office = actors.onboard("civil-registry", "registry", ["registration"], ["identity-authority"])
    uin = office.post("/identity/v1/enrolments", json=AMINA).json()["uin"]
    rp = actors.onboard("pension-portal", "relying-party", ["relying-party"], ["identity-authority"])
    actors.grant_claims("pension-portal", ["name", "birthdate"])
    key = ECKey.generate_key("P-256")
    redirect_uri = f"http://127.0.0.1:{rp_port}/callback"
    assert register(rp, "pension-web", key, claims=["name", "birthdate"], redirect=redirect_uri).status_code == 200
    sms = IdentityContext.of(platform).channels["sms"]

    with serve_in_thread(create_app(platform), port=port) as provider_url, \
            serve_in_thread(relying_party_app(provider_url, "pension-web", key, redirect_uri), port=rp_port) as rp_url:
        page = chromium.new_page()
        page.goto(rp_url + "/login")
        assert page.title() == "Log in with your national ID · National ID"
        page.get_by_label("Your UIN (10 digits) or VID (16 digits)").fill(uin)
        page.get_by_role("button", name="Send me a code").click()
        code = re.search(r"\b(\d{6})\b", sms.messages(AMINA["phone"])[-1]["message"]).group(1)
        page.get_by_label("One-time code").fill(code)
        page.get_by_role("button", name="Log in").click()
        assert page.get_by_role("heading", name="Share your information?").is_visible()
        page.get_by_label("Your date of birth").check()
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(re.compile(re.escape(rp_url) + r"/callback"))
        assert page.get_by_role("heading").inner_text() == "Welcome, Amina Hassan"
        assert page.locator("#birthdate").inner_text() == AMINA["birth_date"]
