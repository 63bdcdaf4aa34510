"""My credentials (/me/credentials) through HTTP, as a browser without JavaScript: the portal
as the person's wallet gets the national ID credential by OpenID4VCI's authorization-code
flow, shows its claims, offers it for download with its holder key, and draws a QR code with
only the claims the person ticked, which verifies offline showing only those. CSRF, another
person's login, a declined consent and another language."""

from __future__ import annotations

import html
import json
import re

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from dpistack.credentials import qr, sdjwt
from dpistack.web import session as web_session

from .conftest import AMINA, BARAKA, citizen_login, hidden_fields
from .test_portal import browser_for, csrf_of


def get_credential(instance, b, who: str = "amina", decision: str = "allow", lang: str | None = None):
    """From the page's button through identity's login and consent pages back to the portal."""
    page = b.get("/me/credentials" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200 and 'id="get-credential"' in page.text, page.text
    login = b.post("/me/credentials", data={"csrf_token": csrf_of(page.text)})
    assert login.status_code == 200 and 'action="/authorize/otp"' in login.text, login.text
    assert f'<html lang="{lang or "en"}"' in login.text  # identity's page in the portal's language
    phone = AMINA["phone"] if who == "amina" else BARAKA["phone"]
    otp = b.post("/authorize/otp", data={**hidden_fields(login.text), "individual_id": instance.uins[who]})
    consent = b.post("/authorize/login", data={**hidden_fields(otp.text), "otp": instance.code_for(phone)})
    assert 'id="credential-national-id-sd-jwt"' in consent.text, consent.text  # what the credential holds
    return b.post("/authorize/consent", data={**hidden_fields(consent.text), "decision": decision})


def test_person_gets_downloads_and_shows_a_credential_as_qr(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = get_credential(instance, b)
        assert page.status_code == 200 and str(page.url).endswith("/me/credentials"), page.text
        assert "Your national ID credential is ready." in page.text
        assert 'id="credential-checked"' in page.text  # the verifier API checked it
        claims = re.search(r'id="credential-claims".*?</dl>', page.text, re.S).group(0)
        assert "Amina" in claims and "Hassan" in claims and "1990-04-12" in claims and "Harbour Road" in claims
        # The credential and its key stay in the browser, sealed: nothing readable in the cookie.
        sealed = b.cookies.get(web_session.WALLET_COOKIE)
        assert sealed and "Amina" not in sealed and len(sealed) < 4000

        # Download: the SD-JWT VC and the holder's private key, as JSON a wallet imports.
        raw = b.post("/me/credentials/download", data={"csrf_token": csrf_of(page.text)})
        assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
        assert "attachment" in raw.headers["content-disposition"]
        file = raw.json()
        assert file["format"] == "dc+sd-jwt" and file["credential_configuration_id"] == "national-id-sd-jwt"
        holder = ECKey.import_key(file["holder_key"])
        assert holder.is_private
        # The credential is bound to that key: a presentation signed with it verifies.
        private = holder.private_key
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        shown = sdjwt.present(file["credential"], ["given_name"], holder_key=private, audience="https://rp.example",
                              nonce="n-1")
        verified = instance.api.post("/credentials/v1/verify", json={
            "presentation": shown, "nonce": "n-1", "audience": "https://rp.example"}).json()
        assert verified["verified"] is True and verified["claims"]["given_name"] == "Amina", verified

        # A QR code with only the chosen claims.
        qr_page = b.post("/me/credentials/qr", data={"csrf_token": csrf_of(page.text),
                                                     "claims": ["age_over_18", "family_name"]})
        assert qr_page.status_code == 200, qr_page.text
        assert '<div class="dpi-qr" role="img"' in qr_page.text and "<svg" in qr_page.text
        text = html.unescape(re.search(r'id="qr-text">([^<]+)<', qr_page.text).group(1))
        assert text.startswith("DPI1:")
        presentation = qr.decode(text)
        assert presentation.endswith("~")  # a card: no key binding
        checked = instance.api.post("/credentials/v1/verify", json={"presentation": presentation,
                                                                    "require_key_binding": False}).json()
        assert checked["verified"] is True
        disclosed = {k for k in checked["claims"] if k not in ("iss", "iat", "exp", "vct", "status")}
        assert disclosed == {"age_over_18", "family_name"}, checked["claims"]
        assert checked["claims"]["age_over_18"] is True
        shown_claims = re.search(r'id="qr-claims".*?</dl>', qr_page.text, re.S).group(0)
        assert "Hassan" in shown_claims and "Amina" not in shown_claims  # the given name stays hidden
        assert "Amina" not in presentation

        # Nothing ticked: the form again, with the error.
        none = b.post("/me/credentials/qr", data={"csrf_token": csrf_of(page.text)})
        assert none.status_code == 422 and "govuk-error-summary" in none.text
        assert "Choose at least one thing to show in the QR code." in none.text

        # Remove it from the browser.
        gone = b.post("/me/credentials/remove", data={"csrf_token": csrf_of(page.text)})
        assert "The credential is removed from this browser." in gone.text and 'id="get-credential"' in gone.text


def test_forms_need_the_csrf_token_and_a_login(instance):
    with browser_for(instance) as b:
        assert b.get("/me/credentials", follow_redirects=False).headers["location"] == "/login"
        citizen_login(instance, b)
        page = get_credential(instance, b)
        for path in ("/me/credentials", "/me/credentials/download", "/me/credentials/qr", "/me/credentials/remove"):
            r = b.post(path, data={"csrf_token": "forged", "claims": ["given_name"]})
            assert r.status_code == 403 and "This form has expired" in r.text, path
            assert "application/json" not in r.headers["content-type"]
        # The credential is still there after the refused removal.
        assert 'id="credential-claims"' in b.get("/me/credentials").text
        # Logging out takes the credential with the login.
        out = b.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert web_session.WALLET_COOKIE in out.headers.get("set-cookie", "")
        assert b.cookies.get(web_session.WALLET_COOKIE) is None


def test_another_persons_login_or_a_refusal_gives_no_credential(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b, "amina")
        other = get_credential(instance, b, who="baraka")  # logged in to the portal as Amina
        assert other.status_code == 403 and "This is not your credential" in other.text
        assert b.cookies.get(web_session.WALLET_COOKIE) is None
        declined = get_credential(instance, b, decision="deny")
        assert declined.status_code == 400 and "You did not get the credential" in declined.text
        # The callback without the browser's pending request (forged state).
        forged = b.get("/me/credentials/callback?code=x&state=y")
        assert forged.status_code == 400 and "took too long" in forged.text
        # A credential left in the browser is not shown to the next person who logs in.
        page = get_credential(instance, b)
        assert 'id="credential-claims"' in page.text
    with browser_for(instance) as b2:
        citizen_login(instance, b2, "baraka")
        b2.cookies.set(web_session.WALLET_COOKIE, b.cookies.get(web_session.WALLET_COOKIE) or "",
                       domain="127.0.0.1", path="/me/credentials")
        page = b2.get("/me/credentials")
        assert 'id="get-credential"' in page.text and "Amina" not in page.text


def test_the_page_in_another_language(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b, lang="fr")
        page = get_credential(instance, b, lang="fr")
        assert 'lang="fr"' in page.text and "Mes justificatifs" in page.text
        assert "Votre justificatif d’identité nationale est prêt." in page.text
        none = b.post("/me/credentials/qr", data={"csrf_token": csrf_of(page.text)})
        assert none.status_code == 422 and "Cochez au moins une information" in none.text
        b.get("/?lang=ar")
        ar = b.get("/me/credentials")
        assert 'dir="rtl"' in ar.text and "وثائقي الرقمية" in ar.text
        json.dumps(ar.text)  # a page, not an error
