"""The catalogues: every message of the portal and of identity's login pages is translated in
each language, with the same placeholders, and each catalogue compiles; the login pages speak
the language the portal asks for (``ui_locales``) through every step."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from babel.messages.pofile import read_po

from dpistack.web import i18n

from dpistack.core import i18n as core_i18n

from .conftest import AMINA, hidden_fields
from .test_portal import browser_for

PACKAGES = ["dpistack.web", "dpistack.identity"]


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{[a-z_]+\}|%\([a-z_]+\)[ds]", text))


@pytest.mark.parametrize("package", PACKAGES)
@pytest.mark.parametrize("lang", [code for code in i18n.LANGUAGES if code != i18n.DEFAULT])
def test_catalogue_is_complete(lang, package):
    LOCALE = resources.files(package) / "locale"
    template = read_po((LOCALE / "messages.pot").open("rb"))
    catalogue = read_po((LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb"), locale=lang)
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id)
        assert translated is not None and translated.string and not translated.fuzzy, f"{lang}: {message.id!r}"
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        assert all(strings), f"{lang}: {message.id!r} has an empty plural form"
        if not isinstance(message.id, tuple):
            assert placeholders(strings[0]) == placeholders(ids[0]), f"{lang}: {message.id!r}"
    i18n.activate(lang)
    assert core_i18n.catalogue(package, lang).gettext("Log in") != "Log in"
    i18n.activate(i18n.DEFAULT)


def test_choice_of_language():
    assert i18n.choose("ar", None, None) == i18n.Choice("ar", None, True)
    assert i18n.choose("xx", "fr", None) == i18n.Choice("fr", "xx", False)
    assert i18n.choose(None, None, "es-MX,es;q=0.8,en;q=0.5").lang == "es"
    assert i18n.choose(None, None, "de-DE") == i18n.Choice("en", None, False)


def test_login_pages_speak_the_portals_language(instance):
    """The portal asks identity's OpenID Provider for its language (``ui_locales``); every
    step of the login keeps it, right to left for Arabic."""
    with browser_for(instance) as b:
        page = b.get("/login?lang=ar")
        assert 'lang="ar" dir="rtl"' in page.text and "سجّل الدخول بهويتك الوطنية" in page.text, page.text
        assert "رقمك الوطني (10 أرقام)" in page.text and page.headers["content-language"] == "ar"
        fields = hidden_fields(page.text)
        assert fields["ui_locales"] == "ar"
        wrong = b.post("/authorize/otp", data={**fields, "individual_id": "12"})
        assert wrong.status_code == 422 and "أدخل رقمك الوطني" in wrong.text  # the error in Arabic too
        otp = b.post("/authorize/otp", data={**fields, "individual_id": instance.uins["amina"]})
        assert "أدخل رمزك لمرة واحدة" in otp.text and 'dir="rtl"' in otp.text
        consent = b.post("/authorize/login", data={**hidden_fields(otp.text), "otp": instance.code_for(AMINA["phone"])})
        assert "هل تشارك معلوماتك؟" in consent.text and "السماح" in consent.text and "اسمك الكامل" in consent.text

    with browser_for(instance) as b:  # a language not offered: English
        page = b.get("/authorize", params={**dict(_authorize_query(b)), "ui_locales": "de-DE sw"})
        assert 'lang="en"' in page.text and "Log in with your national ID" in page.text


def _authorize_query(b) -> list[tuple[str, str]]:
    """The query of the portal's own /authorize redirect (a real client's request)."""
    from urllib.parse import parse_qsl, urlsplit

    redirect = b.get("/login", follow_redirects=False)
    return parse_qsl(urlsplit(redirect.headers["location"]).query)
