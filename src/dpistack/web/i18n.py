"""The portal's languages: its Babel catalogue (``locale/<lang>/LC_MESSAGES/messages.po``) and
dates, numbers and amounts per locale. The languages offered and the choice of one for a
request are the platform's (``core/i18n.py``): ``?lang=`` (remembered in a cookie), else the
cookie, else the browser's ``Accept-Language``, else English. A language that is not offered
falls back to that order without it, and the page says so.
"""

from __future__ import annotations

from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations

from dpistack.core import i18n as core
from dpistack.core.i18n import COOKIE, DEFAULT, LANGUAGES, RTL, Choice, activate, choose, current, direction  # noqa: F401

PACKAGE = "dpistack.web"
_messages = core.Messages(PACKAGE)
gettext = _messages.gettext
ngettext = _messages.ngettext
_ = gettext


def catalogue(lang: str) -> NullTranslations:
    """The portal's compiled catalogue of a language (English: the messages themselves)."""
    return core.catalogue(PACKAGE, lang)


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
