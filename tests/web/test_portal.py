"""The portal through HTTP (no browser): login with the national ID, the citizen's pages, the
operator console, and bad input — forged or missing CSRF tokens, another person's data,
unsupported languages, forms that fail validation, expired sessions."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from dpistack.app import create_app
from dpistack.web import session as web_session

from .conftest import BASE, citizen_login


def browser_for(inst) -> TestClient:
    return TestClient(create_app(inst.platform), base_url=BASE, raise_server_exceptions=False)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_citizen_logs_in_sees_data_locks_and_history(instance):
    with browser_for(instance) as b:
        me = citizen_login(instance, b)
        assert me.status_code == 200 and str(me.url).endswith("/me"), me.text
        assert "Amina Hassan" in me.text and instance.uins["amina"] in me.text
        assert f'<span class="dpi-mono">{instance.uins["amina"]}</span>' in me.text and "&lt;span" not in me.text
        assert '<span lang="ar">أمينة حسن</span>' in me.text
        cookie = b.cookies.get(web_session.COOKIE)
        assert cookie and "Amina" not in cookie  # sealed, not readable
        set_cookie = me.history[-1].headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Secure" not in set_cookie

        locks = b.get("/me/locks")
        r = b.post("/me/locks", data={"csrf_token": csrf_of(locks.text), "auth_type": "demographics",
                                      "action": "lock"})
        assert r.status_code == 200 and "is locked" in r.text
        row = re.search(r'<tr class="govuk-table__row" id="lock-demographics">.*?</tr>', r.text, re.S).group(0)
        assert "Locked" in row and 'value="unlock"' in row
        history = b.get("/me/history")
        assert history.status_code == 200
        assert "citizen-portal" in history.text and "Succeeded" in history.text

        vids = b.get("/me/vids")
        r = b.post("/me/vids", data={"csrf_token": csrf_of(vids.text), "vid_type": "perpetual"})
        vid = re.search(r"Your new virtual ID is (\d{16})", r.text).group(1)
        r = b.post(f"/me/vids/{vid}/revoke", data={"csrf_token": csrf_of(r.text)})
        assert f"The virtual ID {vid} is revoked" in r.text

        r = b.post("/logout", data={"csrf_token": csrf_of(r.text)})
        assert "You are logged out" in r.text
        assert b.get("/me", follow_redirects=False).headers["location"] == "/login"


def test_csrf_missing_or_forged_gets_a_clear_page(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get("/me/locks")
        for data in ({"auth_type": "otp", "action": "lock"},
                     {"csrf_token": "forged", "auth_type": "otp", "action": "lock"}):
            r = b.post("/me/locks", data=data)
            assert r.status_code == 403 and "This form has expired" in r.text
        # nothing was locked
        assert 'value="lock"' in b.get("/me/locks").text.split('id="lock-otp"')[1].split("</tr>")[0]
        # a POST from a browser without the portal's cookie at all
        with browser_for(instance) as other:
            r = other.post("/me/locks", data={"csrf_token": csrf_of(page.text), "auth_type": "otp", "action": "lock"})
            assert r.status_code == 403 and "This form has expired" in r.text


def test_csrf_page_in_the_persons_language(instance):
    with browser_for(instance) as b:
        b.get("/?lang=fr")
        r = b.post("/operator/login", data={"participant_id": "x"})
        assert r.status_code == 403 and 'lang="fr"' in r.text and "Ce formulaire a expiré" in r.text


def test_another_persons_vid_is_not_reachable(instance):
    with browser_for(instance) as b:
        r = citizen_login(instance, b, "baraka")
        r = b.post("/me/vids", data={"csrf_token": csrf_of(b.get("/me/vids").text), "vid_type": "perpetual"})
        barakas_vid = re.search(r"Your new virtual ID is (\d{16})", r.text).group(1)
    with browser_for(instance) as b:
        citizen_login(instance, b, "amina")
        me = b.get("/me")
        assert "Baraka" not in me.text and instance.uins["baraka"] not in me.text
        r = b.post(f"/me/vids/{barakas_vid}/revoke", data={"csrf_token": csrf_of(me.text)})
        assert r.status_code == 404 and "Not found" in r.text
    with browser_for(instance) as b:
        citizen_login(instance, b, "baraka")
        row = b.get("/me/vids").text.split(f'<td class="govuk-table__cell dpi-mono">{barakas_vid}</td>')[1]
        assert "Active" in row.split("</tr>")[0]  # Amina could not revoke it


def test_unsupported_language_falls_back_with_a_notice(instance):
    with browser_for(instance) as b:
        r = b.get("/?lang=de")
        assert r.status_code == 200 and 'lang="en"' in r.text and 'id="language-notice"' in r.text
        assert "The language you asked for (de) is not offered" in r.text
        r = b.get("/?lang=ar")
        assert 'lang="ar" dir="rtl"' in r.text and "بوابة" in r.text
        r = b.get("/audit")  # remembered in the cookie
        assert 'dir="rtl"' in r.text
        r = b.get("/?lang=zz")  # not offered: falls back to the remembered language, with the notice
        assert 'lang="ar"' in r.text and 'id="language-notice"' in r.text
    with browser_for(instance) as b:
        r = b.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
        assert 'lang="pt"' in r.text


def test_numbers_and_dates_per_locale(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        assert "April 12, 1990" in b.get("/me?lang=en").text
        assert "12 avril 1990" in b.get("/me?lang=fr").text
        assert "أبريل" in b.get("/me?lang=ar").text


def test_operator_login_validation_keeps_entries_but_never_the_key(instance):
    with browser_for(instance) as b:
        page = b.get("/operator/login")
        r = b.post("/operator/login", data={"csrf_token": csrf_of(page.text), "participant_id": "identity-authority",
                                            "key": "not a key"})
        assert r.status_code == 422 and "There is a problem" in r.text
        assert 'value="identity-authority"' in r.text and "not a key" not in r.text
        wrong = instance.key_text("digital-agency")
        r = b.post("/operator/login", data={"csrf_token": csrf_of(page.text), "participant_id": "identity-authority",
                                            "key": wrong})
        assert r.status_code == 422 and "does not belong" in r.text and '"d"' not in r.text


def test_operator_approves_a_proposal_and_a_refused_approval_is_explained(instance):
    from dpistack.governance import credentials
    from dpistack.governance.client import ParticipantClient, onboarding_payload
    from dpistack.governance.oauth import token_endpoint

    agency = ParticipantClient(instance.api, "digital-agency",
                               credentials.load_private_jwk(instance.platform.settings.data_dir, "digital-agency"),
                               token_endpoint(instance.platform.settings))
    proposal = agency.propose("participant.onboard", onboarding_payload(
        "pension-portal", "Pension Fund Portal", "relying-party", ["relying-party"], credentials.new_key())).json()
    with browser_for(instance) as b:
        page = b.get("/operator/login")
        r = b.post("/operator/login", data={"csrf_token": csrf_of(page.text), "participant_id": "central-bank",
                                            "key": instance.key_text("central-bank")})
        assert r.status_code == 200 and proposal["id"][:8] in r.text
        page = b.get(f"/operator/proposals/{proposal['id']}")
        r = b.post(f"/operator/proposals/{proposal['id']}/decision", data={
            "csrf_token": csrf_of(page.text), "decision": "approve", "key": instance.key_text("central-bank")})
        assert r.status_code == 422 and "Your decision was not accepted" in r.text
        assert 'value="approve" checked' in r.text  # the choice is kept
        r = b.post("/operator/logout", data={"csrf_token": csrf_of(r.text)})
    with browser_for(instance) as b:
        page = b.get("/operator/login")
        r = b.post("/operator/login", data={"csrf_token": csrf_of(page.text), "participant_id": "identity-authority",
                                            "key": instance.key_text("identity-authority")})
        page = b.get(f"/operator/proposals/{proposal['id']}")
        r = b.post(f"/operator/proposals/{proposal['id']}/decision", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 422 and "Choose whether you approve" in r.text
        r = b.post(f"/operator/proposals/{proposal['id']}/decision", data={
            "csrf_token": csrf_of(page.text), "decision": "approve", "key": instance.key_text("identity-authority")})
        assert r.status_code == 200 and "the proposal is enacted" in r.text
        assert "pension-portal" in b.get("/operator/participants").text
    assert agency.get(f"/governance/v1/proposals/{proposal['id']}").json()["status"] == "enacted"


def test_expired_session_asks_to_log_in_again(instance, monkeypatch):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        assert b.get("/me").status_code == 200
        later = time.time() + 3600
        monkeypatch.setattr(time, "time", lambda: later)
        r = b.get("/me")
        assert r.status_code == 401 and "Your session has ended" in r.text and 'href="/login"' in r.text


def test_audit_page_checks_a_proof_and_rejects_bad_numbers(instance):
    with browser_for(instance) as b:
        r = b.get("/audit?index=1")
        assert r.status_code == 200 and "Verified" in r.text and "proposal" in r.text
        r = b.get("/audit?index=abc")
        assert r.status_code == 422 and 'value="abc"' in r.text and "Enter an entry number" in r.text


def test_the_portal_does_not_shadow_the_apis(instance):
    assert instance.api.get("/healthz").status_code == 200
    assert instance.api.get("/.well-known/openid-configuration").json()["issuer"] == BASE
    assert "/me" not in instance.api.get("/openapi.json").json()["paths"]


def test_unknown_portal_addresses_get_a_page(instance):
    with browser_for(instance) as b:
        r = b.get("/me/someone-else")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html") and "Not found" in r.text
        r = b.delete("/operator/proposals")
        assert r.status_code == 404 and "Not found" in r.text
    assert instance.api.get("/governance/v1/nothing").headers["content-type"] == "application/problem+json"


def test_a_person_who_locked_otp_can_still_log_in_here_to_unlock_it(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        r = b.post("/me/locks", data={"csrf_token": csrf_of(b.get("/me/locks").text), "auth_type": "otp",
                                      "action": "lock"})
        assert "is locked" in r.text
        b.post("/logout", data={"csrf_token": csrf_of(r.text)})
        me = citizen_login(instance, b)  # the portal's own login (scope resident) ignores the lock
        assert me.status_code == 200 and str(me.url).endswith("/me")
        r = b.post("/me/locks", data={"csrf_token": csrf_of(me.text), "auth_type": "otp", "action": "unlock"})
        assert "is unlocked" in r.text


def test_cookies_are_secure_when_the_public_url_is_https(tmp_path):
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.governance.setup import init_instance

    platform = Platform.open(Settings(data_dir=tmp_path / "data", public_url="https://portal.example"))
    try:
        init_instance(platform)
        with TestClient(create_app(platform), base_url="https://portal.example") as b:
            r = b.get("/?lang=fr")
            cookies = r.headers.get_list("set-cookie")
            assert len(cookies) == 2 and all("Secure" in c and "HttpOnly" in c for c in cookies)
    finally:
        platform.close()


def test_a_forged_login_callback_gets_a_page(instance):
    with browser_for(instance) as b:
        assert b.get("/login", follow_redirects=False).status_code == 303  # a login under way
        for query in ({"code": "x", "state": "wrong"}, {"code": "x", "state": "é😀"}, {"state": "x"},
                      {"error": "access_denied", "state": "x"}):
            r = b.get("/login/callback", params=query)
            assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), query
            assert 'href="/login"' in r.text


def operator_login(inst, b, participant_id: str):
    page = b.get("/operator/login")
    r = b.post("/operator/login", data={"csrf_token": csrf_of(page.text), "participant_id": participant_id,
                                        "key": inst.key_text(participant_id)})
    assert r.status_code == 200, r.text
    return r


def put_bank_on_the_switch(inst, name: str = "first-bank", cap: float = 1234.5):
    from dpistack.governance import credentials
    from dpistack.governance.client import ParticipantClient, onboarding_payload
    from dpistack.governance.oauth import token_endpoint

    data_dir, token_url = inst.platform.settings.data_dir, token_endpoint(inst.platform.settings)
    agency = ParticipantClient(inst.api, "digital-agency", credentials.load_private_jwk(data_dir, "digital-agency"),
                               token_url)
    hub = ParticipantClient(inst.api, "central-bank", credentials.load_private_jwk(data_dir, "central-bank"),
                            token_url)
    p = agency.propose("participant.onboard", onboarding_payload(name, "First Bank", "bank", ["fsp"],
                                                                 credentials.new_key())).json()
    assert hub.decide(p).json()["status"] == "enacted"
    assert hub.post("/payments/admin/participants", json={"name": name, "currency": "USD"}).status_code == 201
    r = hub.post(f"/payments/admin/participants/{name}/initialPositionAndLimits", json={
        "currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": cap}, "initialPosition": 0})
    assert r.status_code == 201, r.text


def test_payments_view_is_for_the_payments_regulator_with_amounts_per_locale(instance):
    put_bank_on_the_switch(instance)
    with browser_for(instance) as b:
        r = operator_login(instance, b, "central-bank")
        assert 'href="/operator/payments"' in r.text
        page = b.get("/operator/payments")
        row = page.text.split('id="positions"')[1].split("</table>")[0]
        assert "first-bank" in row and "$1,234.50" in row and "$0.00" in row
        assert "1 234,50 $US" in b.get("/operator/payments?lang=fr").text.replace("\u202f", " ").replace("\xa0", " ")
    with browser_for(instance) as b:
        r = operator_login(instance, b, "identity-authority")
        assert 'href="/operator/payments"' not in r.text
        page = b.get("/operator/payments")
        assert page.status_code == 403 and "Not allowed" in page.text
