"""The platform's languages, for every block that shows pages to people (the portal, identity's
login pages): which languages are offered, the choice of one for a request, and each block's
Babel catalogue (``<package>/locale/<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo`` form
in memory the first time a language is used, so no compiled file is kept in the repository).

A request's language: what it asks for (the portal's ``?lang=``, OpenID Connect's
``ui_locales``), else the ``dpi_lang`` cookie, else the browser's ``Accept-Language``, else
English. The language of the page being made is a context variable, so that a block's
``gettext`` (and Jinja's ``_``) answer in it.
"""

from __future__ import annotations

import io
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "fr": "Français", "es": "Español", "pt": "Português", "ar": "العربية"}
DEFAULT = "en"
RTL = {"ar"}
COOKIE = "dpi_lang"

_catalogues: dict[tuple[str, str], NullTranslations] = {}
_lock = threading.Lock()
_current: ContextVar[str] = ContextVar("dpi_language", default=DEFAULT)


def catalogue(package: str, lang: str) -> NullTranslations:
    """The compiled catalogue of ``package`` in a language (English: the messages themselves)."""
    if lang == DEFAULT or lang not in LANGUAGES:
        return NullTranslations()
    with _lock:
        if (package, lang) not in _catalogues:
            po = resources.files(package) / "locale" / lang / "LC_MESSAGES" / "messages.po"
            with po.open("rb") as f:
                parsed = read_po(f, locale=lang)
            compiled = io.BytesIO()
            write_mo(compiled, parsed)
            compiled.seek(0)
            _catalogues[(package, lang)] = Translations(compiled)
        return _catalogues[(package, lang)]


class Messages:
    """A block's gettext and ngettext, in the language of the page being made."""

    def __init__(self, package: str):
        self.package = package

    def gettext(self, message: str) -> str:
        return catalogue(self.package, _current.get()).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return catalogue(self.package, _current.get()).ngettext(singular, plural, n)


@dataclass(frozen=True)
class Choice:
    lang: str
    asked: str | None  # a language asked for that is not offered
    remember: bool  # set the cookie (the person chose it)


def choose(asked_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> Choice:
    asked = (asked_lang or "").strip().lower()[:16] or None
    if asked in LANGUAGES:
        return Choice(asked, None, True)
    if cookie_lang in LANGUAGES:
        return Choice(cookie_lang, asked, False)
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in (accept_language or "").split(",")]
    found = negotiate_locale([p for p in preferred if p], list(LANGUAGES), sep="_")
    return Choice(found.split("_")[0] if found else DEFAULT, asked, False)


def first_offered(ui_locales: str | None) -> str | None:
    """The first language of an OpenID Connect ``ui_locales`` (space-separated BCP 47 tags) that
    is offered, e.g. ``ar-EG fr`` → ``ar``; None if none is."""
    for tag in (ui_locales or "").split()[:10]:
        lang = tag.split("-")[0].lower()
        if lang in LANGUAGES:
            return lang
    return None


def activate(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else DEFAULT)


def current() -> str:
    return _current.get()


def direction(lang: str | None = None) -> str:
    return "rtl" if (lang or current()) in RTL else "ltr"
