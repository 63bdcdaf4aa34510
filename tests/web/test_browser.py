"""The portal in a real browser (Debian's Chromium, headless, through Playwright) against a
real server on loopback: a person logs in with the national ID, sees their data, locks a
factor and sees their history, in English and — by keyboard only — in Arabic; an operator
approves a proposal; the transparency page checks a proof; the same login works with
JavaScript turned off. Every portal page is checked with axe-core (WCAG 2.2 A/AA rules:
zero violations) and weighed (at most 200 KB transferred, as sent: compressed where the
browser accepts it). Screenshots go to a temporary
folder (printed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dpistack.app import create_app
from dpistack.core.server import free_port, serve_in_thread
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.oauth import token_endpoint

from ..identity.test_oidc_browser import CHROMIUM, CHROMIUM_ARGS
from .conftest import AMINA, Instance, make_instance

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MAX_PAGE_BYTES = 200 * 1024


def _missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: `make test` installs it")
    pytest.skip(f"{what} is missing (make test installs it)")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists() and shutil.which("npm"):  # the committed lock file, as `make test` does
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=False, capture_output=True)
    if not AXE.exists():
        _missing("axe-core (npm ci in tests/web)")
    return AXE.read_text()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        _missing("Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One instance served on loopback for the module's journeys."""
    port = free_port()
    platform, uins = make_instance(tmp_path_factory.mktemp("portal"), f"http://127.0.0.1:{port}")
    with serve_in_thread(create_app(platform), port=port) as url:
        inst = Instance(platform, None)
        inst.uins, inst.url = uins, url
        yield inst
    platform.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nportal screenshots: {folder}")
    return folder


class Visit:
    """A browser tab that checks every portal page it lands on (axe, weight) and screenshots it."""

    def __init__(self, browser, site, axe_source: str, shots: Path, name: str, javascript: bool = True):
        self.context = browser.new_context(java_script_enabled=javascript, locale="en-GB")
        self.page = self.context.new_page()
        self.site, self.axe, self.shots, self.name, self.javascript = site, axe_source, shots, name, javascript
        self.count = 0
        self.bytes = 0
        self.page.on("response", self._weigh)
        self.page.on("request", self._new_page)

    def _new_page(self, request):
        if request.resource_type == "document" and request.frame == self.page.main_frame:
            self.bytes = 0  # what one page load transfers (assets the browser kept are not fetched again)

    def _weigh(self, response):
        try:  # what came over the wire (assets are sent compressed; from the cache: nothing, < 0 here)
            size = response.request.sizes()["responseBodySize"]
            if size <= 0 and response.request.resource_type == "document" and response.status < 300:
                size = len(response.body())  # pages are never cached; after a redirect Chromium may say 0
            self.bytes += max(0, size)
        except Exception:  # noqa: BLE001 - redirects have no body
            pass

    def goto(self, path: str):
        self.page.goto(self.site.url + path)

    def check(self, label: str):
        """Axe finds no WCAG 2.2 A/AA violation; the page weighs at most 200 KB; a screenshot."""
        self.page.wait_for_load_state("load")
        self.count += 1
        self.page.screenshot(path=str(self.shots / f"{self.name}-{self.count:02d}-{label}.png"), full_page=True)
        if self.javascript:
            self.page.evaluate(self.axe + "\n;undefined")
            result = self.page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: "
                                        "tags}, resultTypes: ['violations']})", AXE_TAGS)
            problems = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
            assert problems == [], f"{label}: {json.dumps(problems, ensure_ascii=False)}"
        assert 0 < self.bytes <= MAX_PAGE_BYTES, f"{label}: {self.bytes} bytes"

    def close(self):
        self.context.close()


def code_for(site, phone: str) -> str:
    return re.search(r"\b(\d{6})\b", site.sms.messages(phone)[-1]["message"]).group(1)


# What identity's login pages say, in the language the portal asks for (ui_locales).
LOGIN_WORDS = {
    "en": {"id": "Your UIN (10 digits) or VID (16 digits)", "send": "Send me a code", "code_page": "Enter your one-time code",
           "code": "One-time code", "log_in": "Log in", "allow": "Allow"},
    "ar": {"id": "رقمك الوطني (10 أرقام) أو رقمك الافتراضي (16 رقماً)", "send": "أرسل لي رمزاً",
           "code_page": "أدخل رمزك لمرة واحدة", "code": "رمز لمرة واحدة", "log_in": "تسجيل الدخول", "allow": "السماح"},
}


def national_id_login(page, site, uin: str, phone: str, lang: str = "en", consent: str = "#resident-scope"):
    """The OpenID provider's pages (identity's own, in the portal's language)."""
    words = LOGIN_WORDS[lang]
    assert page.locator("html").get_attribute("lang") == lang
    page.get_by_label(words["id"]).fill(uin)
    page.get_by_role("button", name=words["send"]).click()
    page.get_by_label(words["code"]).fill(code_for(site, phone))
    page.get_by_role("button", name=words["log_in"], exact=True).click()
    assert page.locator(consent).first.is_visible()
    page.get_by_role("button", name=words["allow"]).click()


@pytest.mark.e2e
def test_citizen_logs_in_sees_data_locks_a_factor_and_sees_history(browser, site, axe_source, shots):
    v = Visit(browser, site, axe_source, shots, "citizen-en")
    page = v.page
    v.goto("/")
    v.check("home")
    page.get_by_role("link", name="Log in with your national ID").first.click()
    national_id_login(page, site, site.uins["amina"], AMINA["phone"])
    page.wait_for_url(site.url + "/me")
    assert page.get_by_role("heading", level=1).inner_text() == "My identity data"
    assert "Amina Hassan" in page.locator("#record").inner_text()
    assert "April 12, 1990" in page.locator("#record").inner_text()
    v.check("my-data")

    page.get_by_role("link", name="Locks").click()
    v.check("locks")
    page.get_by_role("button", name="Lock Fingerprints, face or iris").click()
    assert "is locked" in page.locator("#flash").inner_text()
    assert "Locked" in page.locator("#lock-biometrics").inner_text()
    v.check("locked")

    page.get_by_role("link", name="History").click()
    rows = page.locator("#history tbody tr")
    assert rows.count() >= 1 and "citizen-portal" in rows.first.inner_text()
    assert "Succeeded" in rows.first.inner_text()
    v.check("history")

    page.get_by_role("link", name="Virtual IDs").click()
    page.get_by_label("Permanent").check()
    page.get_by_role("button", name="Create virtual ID").click()
    assert re.search(r"\d{16}", page.locator("#flash").inner_text())
    v.check("vids")
    page.get_by_role("button", name="Log out").click()
    assert "You are logged out" in page.locator("#flash").inner_text()
    v.close()


def tab_to(page, name: str, limit: int = 60, exact: bool = False) -> None:
    """Press Tab until the focused element's text (or its label) contains ``name``, or is
    ``name`` with ``exact`` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if exact:
            if page.evaluate("() => (document.activeElement.innerText || '').trim()") == name:
                return
            continue
        focused = page.evaluate("() => { const e = document.activeElement; const l = e.labels && e.labels[0]; "
                                "return (e.innerText || '') + ' ' + (l ? l.innerText : '') + ' ' + "
                                "(e.getAttribute('aria-label') || '') + ' ' + (e.value || ''); }")
        if name in focused:
            return
    raise AssertionError(f"no focusable element named {name!r} within {limit} Tabs")


@pytest.mark.e2e
def test_arabic_keyboard_only_login_and_lock(browser, site, axe_source, shots):
    v = Visit(browser, site, axe_source, shots, "citizen-ar-keyboard")
    page = v.page
    v.goto("/?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl" and page.locator("html").get_attribute("lang") == "ar"
    v.check("home")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main-content"
    tab_to(page, "سجّل الدخول بهويتك الوطنية")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/authorize\?.*"))
    words = LOGIN_WORDS["ar"]  # identity's login pages in Arabic too, right to left
    assert page.locator("html").get_attribute("dir") == "rtl"
    tab_to(page, words["id"])
    page.keyboard.type(site.uins["baraka"])
    page.keyboard.press("Enter")
    page.wait_for_selector(f"text={words['code_page']}")
    tab_to(page, words["code"])
    page.keyboard.type(code_for(site, "+254700000002"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#resident-scope")
    tab_to(page, words["allow"])
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/me")
    assert page.get_by_role("heading", level=1).inner_text() == "بيانات هويتي"
    assert "Baraka Otieno" in page.locator("#record").inner_text()
    v.check("my-data")
    tab_to(page, "الأقفال", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/me/locks")
    tab_to(page, "رمز لمرة واحدة")
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash")
    assert "مقفل" in page.locator("#lock-otp").inner_text()
    v.check("locked")
    tab_to(page, "السجل", exact=True)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/me/history")
    assert "citizen-portal" in page.locator("#history").inner_text()
    v.check("history")
    v.close()


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_operator_approves_a_proposal(browser, site, axe_source, shots, lang):
    data_dir = site.platform.settings.data_dir
    import httpx

    with httpx.Client(base_url=site.url) as http:
        agency = ParticipantClient(http, "digital-agency", credentials.load_private_jwk(data_dir, "digital-agency"),
                                   token_endpoint(site.platform.settings))
        proposal = agency.propose("participant.onboard", onboarding_payload(
            f"clinic-{lang}", "Clinic", "relying-party", ["relying-party"], credentials.new_key())).json()
    key = json.dumps(credentials.load_private_jwk(data_dir, "identity-authority").as_dict(private=True))
    v = Visit(browser, site, axe_source, shots, f"operator-{lang}")
    page = v.page
    v.goto(f"/operator/login?lang={lang}")
    v.check("login")
    words = {"en": ("Participant ID", "Private key (JWK)", "Log in", "Approve", "Sign and send my decision",
                    "the proposal is enacted", "Participants"),
             "ar": ("معرّف المشارك", "المفتاح الخاص (JWK)", "تسجيل الدخول", "موافقة", "وقّع وأرسل قراري",
                    "اعتُمد المقترح", "المشاركون")}[lang]
    page.get_by_label(words[0]).fill("identity-authority")
    page.get_by_label(words[1]).fill(key)
    page.locator("main").get_by_role("button", name=words[2]).click()
    page.wait_for_url(site.url + "/operator/proposals")
    v.check("proposals")
    page.get_by_role("link", name=proposal["id"][:8]).click()
    v.check("proposal")
    page.get_by_label(words[3], exact=True).check()
    page.get_by_label(words[1]).fill(key)
    page.get_by_role("button", name=words[4]).click()
    assert words[5] in page.locator("#flash").inner_text()
    v.check("enacted")
    page.get_by_role("link", name=words[6]).click()
    assert f"clinic-{lang}" in page.locator("#participants").inner_text()
    v.check("participants")
    v.close()


@pytest.mark.e2e
def test_transparency_page_checks_a_proof(browser, site, axe_source, shots):
    v = Visit(browser, site, axe_source, shots, "audit")
    v.goto("/audit")
    v.check("checkpoint")
    v.page.get_by_label("Entry number").fill("2")
    v.page.get_by_role("button", name="Check the proof").click()
    assert "Verified" in v.page.locator("#proof-result").inner_text()
    v.check("verified")
    v.page.get_by_label("Entry number").fill("two")
    v.page.get_by_role("button", name="Check the proof").click()
    assert v.page.get_by_label("Entry number").input_value() == "two"
    assert "There is a problem" in v.page.locator(".govuk-error-summary").inner_text()
    v.check("invalid")
    v.close()


@pytest.mark.e2e
def test_login_and_lock_work_without_javascript(browser, site, axe_source, shots):
    v = Visit(browser, site, axe_source, shots, "no-javascript", javascript=False)
    page = v.page
    v.goto("/login")
    national_id_login(page, site, site.uins["amina"], AMINA["phone"])
    page.wait_for_url(site.url + "/me")
    v.check("my-data")
    page.get_by_role("link", name="Locks").click()
    page.get_by_role("button", name="Lock Name, date of birth and sex").click()
    assert "Locked" in page.locator("#lock-demographics").inner_text()
    v.check("locked")
    v.close()


@pytest.mark.e2e
def test_payments_regulator_sees_positions_and_limits(browser, site, axe_source, shots):
    import httpx

    from .test_portal import put_bank_on_the_switch

    with httpx.Client(base_url=site.url) as http:
        site.api = http
        put_bank_on_the_switch(site, "second-bank", 500)
    key = json.dumps(credentials.load_private_jwk(site.platform.settings.data_dir, "central-bank").as_dict(private=True))
    v = Visit(browser, site, axe_source, shots, "payments")
    page = v.page
    v.goto("/operator/login?lang=ar")
    page.get_by_label("معرّف المشارك").fill("central-bank")
    page.get_by_label("المفتاح الخاص (JWK)").fill(key)
    page.locator("main").get_by_role("button", name="تسجيل الدخول").click()
    page.get_by_role("link", name="المدفوعات").click()
    assert "second-bank" in page.locator("#positions").inner_text()
    v.check("positions")
    # a new net debit cap, through the form (no script needed)
    page.locator('#limit-form input[value="second-bank|USD"]').check()
    page.locator("#limit-value").fill("750")
    page.locator("#limit-form").get_by_role("button", name="تغيير سقف صافي المدين").click()
    page.wait_for_load_state("load")
    assert page.locator("#flash").count() == 1
    v.check("limit-changed")
    from dpistack.governance.client import ParticipantClient
    from dpistack.governance.oauth import token_endpoint

    with httpx.Client(base_url=site.url) as http:
        hub = ParticipantClient(http, "central-bank", credentials.load_private_jwk(
            site.platform.settings.data_dir, "central-bank"), token_endpoint(site.platform.settings))
        [limit] = hub.get("/payments/admin/participants/second-bank/limits").json()
    assert limit["limit"]["value"] == 750
    # an amount with too many decimals: the error summary, the entries kept
    page.locator('#funds-form input[value="second-bank|USD"]').check()
    page.locator("#funds-amount").fill("1.005")
    page.locator("#funds-form").get_by_role("button", name="متابعة").click()
    page.wait_for_load_state("load")
    assert page.locator(".govuk-error-summary").count() == 1 and page.locator("#funds-amount").input_value() == "1.005"
    v.check("funds-error")
    v.close()


@pytest.mark.e2e
def test_service_finder_in_english_and_arabic(browser, site, axe_source, shots):
    from dpistack.services import service

    service.load_demo(site.platform)
    v = Visit(browser, site, axe_source, shots, "finder")
    v.goto("/?lang=en")
    v.page.get_by_label("What do you need to do?").fill("my wife had a baby, what do I do?")
    v.page.get_by_role("button", name="Search").click()
    assert "Register a birth" in v.page.locator("#results").inner_text()
    v.check("results-en")
    v.goto("/services?lang=ar")
    v.check("list-ar")
    v.page.get_by_label("ماذا تريد أن تفعل؟").fill("كيف أجدد جواز سفري")
    v.page.get_by_role("button", name="بحث").click()
    assert "استخراج جواز سفر أو تجديده" in v.page.locator("#results").inner_text()
    v.check("results-ar")
    v.page.get_by_label("ماذا تريد أن تفعل؟").fill("¿cómo pido la pensión de jubilación?")
    v.page.get_by_role("button", name="بحث").click()
    assert v.page.locator("#answer-language").is_visible()
    v.check("results-es-on-ar")
    v.close()
