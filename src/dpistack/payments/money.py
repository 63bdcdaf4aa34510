"""Money: decimal strings on the wire, integer minor units in the ledger (ISO 4217 exponents).

The FSPIOP ``Amount`` type is a canonical decimal string (no sign, no trailing zeros, at most
four decimals); an amount with more decimals than its currency has (``"1.005"`` USD) is
refused rather than rounded: money is never created or lost by conversion.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

AMOUNT_PATTERN = r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$"  # FSPIOP v1.1 Amount
_AMOUNT = re.compile(AMOUNT_PATTERN)


class MoneyError(ValueError):
    """An amount or currency the ledger cannot hold exactly."""


@lru_cache(maxsize=None)
def exponent(currency: str) -> int:
    """Minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, BHD 3)."""
    try:
        digits = Currency(currency).exponent
    except ValueError:
        raise MoneyError(f"{currency} is not a current ISO 4217 currency") from None
    if digits is None:  # gold, SDRs, testing codes: no minor unit defined
        raise MoneyError(f"{currency} has no minor unit in ISO 4217 and cannot be transferred")
    return digits


def to_minor(amount: str, currency: str) -> int:
    """``"12.5"`` USD → 1250. Raises MoneyError for a malformed amount or too many decimals."""
    if not isinstance(amount, str) or not _AMOUNT.match(amount):
        raise MoneyError(f"amount {amount!r} is not an FSPIOP Amount (e.g. \"12.5\")")
    digits = exponent(currency)
    whole, _, fraction = amount.partition(".")
    if len(fraction) > digits:
        raise MoneyError(f"{currency} has {digits} decimal digit(s); amount {amount} has {len(fraction)}")
    return int(whole) * 10 ** digits + int(fraction.ljust(digits, "0") or 0)


@lru_cache(maxsize=65_536)  # the ledger writes one per committed transfer into the log
def to_amount(minor: int, currency: str) -> str:
    """1250 USD → ``"12.5"``: the canonical FSPIOP string (no trailing zeros); signed if negative."""
    digits = exponent(currency)
    if not digits:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(-minor if sign else minor, 10 ** digits)
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{digits}d}".rstrip("0")  # a non-zero digit stops the strip


def number_to_minor(value: object, currency: str, *, allow_negative: bool = False) -> int:
    """A JSON number or numeric string in major units (the hub admin API's style) → minor units, exactly."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MoneyError(f"{value!r} is not a number")
    try:
        exact = Decimal(str(value))
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not a number") from None
    if not exact.is_finite() or (exact < 0 and not allow_negative):
        raise MoneyError(f"{value!r} must be a finite{'' if allow_negative else ', non-negative'} number")
    digits = exponent(currency)
    minor = exact.scaleb(digits)
    if minor != minor.to_integral_value():
        raise MoneyError(f"{currency} has {digits} decimal digit(s); {value} has more")
    if abs(minor) >= 10 ** (18 + digits):
        raise MoneyError(f"{value} is too large")
    return int(minor)


def minor_to_number(minor: int, currency: str) -> int | float:
    """Minor units → a JSON number in major units (exact for the amounts a ledger holds)."""
    digits = exponent(currency)
    if digits == 0 or minor % 10 ** digits == 0:
        return minor // 10 ** digits
    return float(Decimal(minor).scaleb(-digits))
