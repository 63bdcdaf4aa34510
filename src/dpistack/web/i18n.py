"""The portal's languages: Babel catalogues (``locale/<lang>/LC_MESSAGES/messages.po``,
compiled to ``.mo`` form in memory the first time a language is used, so no compiled file is
kept in the repository), the choice of language for a request, and dates and numbers per
locale.

A request's language: ``?lang=`` (remembered in a cookie), else the cookie, else the
browser's ``Accept-Language``, else English. A language that is not offered falls back to
that order without it, and the page says so.
"""

from __future__ import annotations

import io
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "fr": "Français", "es": "Español", "pt": "Português", "ar": "العربية"}
DEFAULT = "en"
RTL = {"ar"}
COOKIE = "dpi_lang"

_catalogues: dict[str, NullTranslations] = {}
_lock = threading.Lock()
_current: ContextVar[str] = ContextVar("dpi_web_language", default=DEFAULT)


def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of a language (English: the messages themselves)."""
    if lang == DEFAULT or lang not in LANGUAGES:
        return NullTranslations()
    with _lock:
        if lang not in _catalogues:
            po = resources.files("dpistack.web") / "locale" / lang / "LC_MESSAGES" / "messages.po"
            with po.open("rb") as f:
                parsed = read_po(f, locale=lang)
            compiled = io.BytesIO()
            write_mo(compiled, parsed)
            compiled.seek(0)
            _catalogues[lang] = Translations(compiled)
        return _catalogues[lang]


def gettext(message: str) -> str:
    return catalogue(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(_current.get()).ngettext(singular, plural, n)


_ = gettext


@dataclass(frozen=True)
class Choice:
    lang: str
    asked: str | None  # a language asked for with ?lang= that is not offered
    remember: bool  # set the cookie (the person chose with ?lang=)


def choose(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> Choice:
    asked = (query_lang or "").strip().lower()[:16] or None
    if asked in LANGUAGES:
        return Choice(asked, None, True)
    if cookie_lang in LANGUAGES:
        return Choice(cookie_lang, asked, False)
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in (accept_language or "").split(",")]
    found = negotiate_locale([p for p in preferred if p], list(LANGUAGES), sep="_")
    return Choice(found.split("_")[0] if found else DEFAULT, asked, False)


def activate(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else DEFAULT)


def current() -> str:
    return _current.get()


def direction(lang: str | None = None) -> str:
    return "rtl" if (lang or current()) in RTL else "ltr"


def format_time(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return format_datetime(value, format="medium", tzinfo=None, locale=Locale.parse(current()))


def format_day(value: date | str | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return format_date(value, format="long", locale=Locale.parse(current()))


def format_number(value: int | float | str) -> str:
    try:
        return format_decimal(value, locale=Locale.parse(current()))
    except (ValueError, TypeError, ArithmeticError):
        return str(value)


def format_amount(value: int | float | str | None, currency: str) -> str:
    """An amount in its currency, as the locale writes it (the API's number read as a decimal)."""
    if value is None:
        return "–"
    try:
        from decimal import Decimal

        return format_currency(Decimal(str(value)), currency, locale=Locale.parse(current()))
    except (ValueError, TypeError, ArithmeticError):
        return f"{value} {currency}"
