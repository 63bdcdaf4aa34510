"""The later portal pages in a real browser (Chromium, headless): a person answers a consent
request and revokes the consent again, by keyboard only and in Arabic, the data tracker
showing each access's proof checked; an identity-authority operator compares an enrolment
with its possible duplicate and decides it with a reason; a person gets the national ID
credential into the portal's wallet and shows two of its claims as a QR code. Both journeys use the HTMX
enhancement (the main content is replaced without a page load), every page is checked with
axe-core (zero WCAG 2.2 A/AA violations) and weighed (at most 200 KB), and screenshotted."""

from __future__ import annotations

import json

import httpx
import pytest

from dpistack.governance import credentials

from ..conftest import Actors
from .conftest import AMINA
from .test_browser import (LOGIN_WORDS, Visit, axe_source, browser, code_for, national_id_login,  # noqa: F401
                           shots, site, tab_to)

NO_RELOAD = "() => window.__sameDocument === true"


def keyboard_login(page, site, uin: str, phone: str) -> None:
    """The OpenID provider's pages, by keyboard (in Arabic, as the portal asks)."""
    page.wait_for_url(lambda url: "/authorize" in url)
    words = LOGIN_WORDS["ar"]
    tab_to(page, words["id"])
    page.keyboard.type(uin)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"text={words['code_page']}")
    tab_to(page, words["code"])
    page.keyboard.type(code_for(site, phone))
    page.keyboard.press("Enter")
    page.wait_for_selector("#resident-scope")
    tab_to(page, words["allow"])
    page.keyboard.press("Enter")


@pytest.mark.e2e
def test_arabic_keyboard_only_consent_given_then_revoked(browser, site, axe_source, shots):  # noqa: F811
    with httpx.Client(base_url=site.url) as http:
        ministry = Actors(site.platform, http).onboard("ministry-of-health", "ministry", ["data-consumer"],
                                                       ["digital-agency"])
        r = ministry.post("/consent/v1/consents", json={
            "provider": "civil-registry", "services": [], "purpose": {"code": "care", "text": "treating the patient"},
            "data_types": ["birth-record"], "valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z"})
        assert r.status_code == 201, r.text
        consent_id = r.json()["id"]
    v = Visit(browser, site, axe_source, shots, "consent-ar-keyboard")
    page = v.page
    v.goto("/?lang=ar")
    tab_to(page, "سجّل الدخول بهويتك الوطنية")
    page.keyboard.press("Enter")
    keyboard_login(page, site, site.uins["amina"], AMINA["phone"])
    page.wait_for_url(site.url + "/me")

    tab_to(page, "الموافقات", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/me/consents")
    assert page.get_by_role("heading", level=1).inner_text() == "موافقاتي"
    v.check("consents-none")
    tab_to(page, "الرد على طلب موافقتك")
    page.keyboard.type(consent_id)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + f"/me/consents/{consent_id}")
    assert "ministry-of-health" in page.locator("#consent").inner_text()
    v.check("request")

    page.evaluate("() => { window.__sameDocument = true; }")
    tab_to(page, "نعم، أمنح موافقتي")
    page.keyboard.press("Space")
    tab_to(page, "أرسل ردي", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash")
    assert "منحت موافقتك لـ ministry-of-health" in page.locator("#flash").inner_text()
    assert page.locator("#consent-status").inner_text() == "ممنوحة"
    assert page.evaluate(NO_RELOAD)  # HTMX replaced the main content, no page load
    v.check("given")

    tab_to(page, "اسحب هذه الموافقة", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("#revoke-confirm")
    assert page.evaluate(NO_RELOAD)
    v.check("confirm")
    tab_to(page, "نعم، اسحب موافقتي", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash")
    assert "سُحبت موافقتك" in page.locator("#flash").inner_text()
    assert page.locator("#consent-status").inner_text() == "ملغى"
    assert page.evaluate(NO_RELOAD) and page.url == site.url + f"/me/consents/{consent_id}"
    v.check("revoked")
    with httpx.Client(base_url=site.url) as http:
        ministry.http = http
        check = ministry.post("/consent/v1/check", json={
            "consent_id": consent_id, "consumer": "ministry-of-health", "provider": "civil-registry",
            "service": "DPI/GOV/civil-registry/registry/persons"}).json()
    assert check["allowed"] is False and check["reason"] == "revoked"

    tab_to(page, "استخدام البيانات", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/me/data-usage")
    rows = page.locator("#usage tbody tr")
    assert rows.count() >= 1
    for n in range(rows.count()):
        assert "تم التحقق من الإثبات" in rows.nth(n).inner_text()
    v.check("data-usage")
    v.close()


@pytest.mark.e2e
def test_operator_decides_a_review_with_a_reason(browser, site, axe_source, shots):  # noqa: F811
    with httpx.Client(base_url=site.url) as http:
        office = Actors(site.platform, http).onboard("district-office", "registry", ["registration"],
                                                     ["identity-authority"])
        r = office.post("/identity/v1/enrolments", json={**AMINA, "birth_date": "1990-05-12", "phone": None,
                                                          "address": "3 Hill Street, Nairobi"}).json()
        assert r["status"] == "review", r
    key = json.dumps(credentials.load_private_jwk(site.platform.settings.data_dir, "identity-authority")
                     .as_dict(private=True))
    v = Visit(browser, site, axe_source, shots, "review-en")
    page = v.page
    v.goto("/operator/login")
    page.get_by_label("Participant ID").fill("identity-authority")
    page.get_by_label("Private key (JWK)").fill(key)
    page.locator("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + "/operator/proposals")
    page.get_by_role("link", name="Enrolment reviews").click()
    v.check("queue")
    page.get_by_role("link", name=r["enrolment_id"][:8]).click()
    comparison = page.locator("#comparison").inner_text()
    assert "3 Hill Street, Nairobi" in comparison and "12 Harbour Road, Mombasa" in comparison
    v.check("comparison")

    page.evaluate("() => { window.__sameDocument = true; }")
    same = f"The same person as record {site.uins['amina']}: issue nothing"
    page.get_by_label(same).check()
    page.get_by_role("button", name="Record my decision").click()
    page.wait_for_selector(".govuk-error-summary")
    assert "Give the reason for your decision" in page.locator(".govuk-error-summary").inner_text()
    assert page.get_by_label(same).is_checked()  # the choice is kept
    assert page.evaluate(NO_RELOAD)
    v.check("no-reason")
    page.get_by_label("Reason").fill("same person: moved house, birth certificate checked")
    page.get_by_role("button", name="Record my decision").click()
    page.wait_for_selector("#flash")
    assert f"the same person as {site.uins['amina']}" in page.locator("#flash").inner_text()
    assert page.evaluate(NO_RELOAD) and page.url == site.url + "/operator/reviews"  # HX-Replace-Url
    assert page.locator("#no-reviews").is_visible()
    v.check("decided")
    v.close()


@pytest.mark.e2e
def test_verifier_page_checks_cards_on_the_device_offline(browser, site, axe_source, shots):  # noqa: F811
    """verify.js keeps the signed trust list and checks a card's QR text with WebCrypto: with
    the network gone, a genuine card verifies (showing only what it discloses) and a forged one
    is refused — no request leaves the page; the service worker serves the page offline."""
    from .test_verifier_page import card, forged_copy

    genuine, revoked = card(site.platform, status="valid"), card(site.platform, status="revoked")  # before the page keeps the lists
    v = Visit(browser, site, axe_source, shots, "verify-offline")
    page = v.page
    v.goto("/verify")
    page.wait_for_selector("#verify-offline:not([hidden])")  # the trust list arrived and verified
    assert "Ready to check without a network" in page.locator("#verify-offline").inner_text()
    assert page.evaluate("async () => { await navigator.serviceWorker.ready; return true; }")
    v.check("ready")

    sent = []
    page.on("request", lambda request: sent.append(request.url))
    v.context.set_offline(True)
    page.get_by_label("Text read from the QR code").fill(genuine)
    page.get_by_role("button", name="Check the credential").click()
    page.wait_for_selector("#verify-result[data-checked-on=device]")
    answer = page.locator("#verify-result").inner_text()
    assert "Genuine credential" in answer and "Amina" in answer and "Over 18" in answer
    assert "Hassan" not in answer and "Checked on this device." in answer
    v.check("genuine")
    assert "could not be checked on this device" not in answer  # its status list was kept and read

    page.get_by_label("Text read from the QR code").fill(revoked)
    page.get_by_role("button", name="Check the credential").click()
    page.wait_for_selector("#verify-detail")
    answer = page.locator("#verify-result").inner_text()
    assert "Do not accept this credential." in answer and "revoked" in answer and "Its issuer revoked" in answer
    v.check("revoked")

    page.get_by_label("Text read from the QR code").fill(forged_copy(genuine))
    page.get_by_role("button", name="Check the credential").click()
    page.wait_for_selector("#verify-detail")
    answer = page.locator("#verify-result").inner_text()
    assert "Do not accept this credential." in answer and "bad_signature" in answer
    assert sent == []  # nothing left the device

    page.reload()  # offline: the service worker's copy
    assert page.get_by_role("heading", level=1).inner_text() == "Check a credential"
    page.wait_for_selector("#verify-offline:not([hidden])")  # the kept list still verifies
def test_person_gets_the_credential_and_shows_a_qr_code(browser, site, axe_source, shots):  # noqa: F811
    v = Visit(browser, site, axe_source, shots, "credentials-en")
    page = v.page
    v.goto("/login")
    national_id_login(page, site, site.uins["amina"], AMINA["phone"])
    page.wait_for_url(site.url + "/me")
    page.get_by_role("link", name="Credentials", exact=True).click()
    page.wait_for_url(site.url + "/me/credentials")
    v.check("none")
    page.get_by_role("button", name="Get my national ID credential").click()
    page.get_by_label("Your UIN (10 digits) or VID (16 digits)").fill(site.uins["amina"])
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("One-time code").fill(code_for(site, AMINA["phone"]))
    page.get_by_role("button", name="Log in").click()
    assert page.locator("#credential-national-id-sd-jwt").is_visible()  # what the credential will hold
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(site.url + "/me/credentials")
    assert "Amina" in page.locator("#credential-claims").inner_text()
    v.check("held")
    page.get_by_label("Over 18").check()
    page.get_by_label("Family name").check()
    page.get_by_role("button", name="Show the QR code").click()
    page.wait_for_selector("#qr-code svg")
    shown = page.locator("#qr-claims").inner_text()
    assert "Hassan" in shown and "Amina" not in shown
    v.check("qr")
    v.close()
def test_arabic_child_benefit_form_prefilled_checked_and_sent(browser, site, axe_source, shots):  # noqa: F811
    """The once-only journey in Arabic: the form prefilled from her ID record and the
    population register (through the mediator), an error kept, checked, sent."""
    from dpistack.core.server import serve_in_thread
    from dpistack.services import registry_demo, service
    from dpistack.web import setup as web_setup

    service.load_demo(site.platform)
    uin = site.uins["amina"]
    records = {uin: registry_demo.demo_records(uin, AMINA["address"])}
    with serve_in_thread(registry_demo.app(records)) as register_url, httpx.Client(base_url=site.url) as http:
        registry_demo.setup(site.platform, http, register_url, web_setup.PARTICIPANT)
        v = Visit(browser, site, axe_source, shots, "apply-ar")
        page = v.page
        v.goto("/login?lang=ar")
        national_id_login(page, site, uin, AMINA["phone"], "ar")
        page.wait_for_url(site.url + "/me")
        v.goto("/services/child-benefit?lang=ar")
        v.check("service")
        page.get_by_role("button", name="قدّم الطلب عبر الإنترنت").click()
        page.wait_for_url(site.url + "/services/child-benefit/apply")
        assert page.locator("#child_name").input_value() == "Zawadi Hassan"
        assert page.locator("#child_name-source").inner_text() == "من سجل السكان"
        assert page.locator("#full_name-source").inner_text() == "من سجل هويتك الوطنية"
        v.check("form")
        page.locator("#child_birth_date").fill("2019/06/02")
        page.get_by_role("button", name="متابعة").click()
        assert page.locator("#error-summary").is_visible()
        assert page.locator("#child_birth_date").input_value() == "2019/06/02"  # the entry kept
        v.check("error")
        page.locator("#child_birth_date").fill("2019-06-02")
        page.locator("#payment_account").fill("0712 345 678")
        page.get_by_role("button", name="متابعة").click()
        assert page.get_by_role("heading", level=1).inner_text() == "راجع إجاباتك"
        assert "Zawadi Hassan" in page.locator("#answers").inner_text()
        v.check("check-answers")
        page.get_by_role("button", name="موافقة وإرسال").click()
        page.wait_for_url(lambda url: "/apply/sent/" in url)
        assert page.locator("#reference").inner_text().startswith("CB-")
        v.check("sent")
        v.close()
