"""Identity numbers: UIN and VID rules, Verhoeff check digits, partner-specific tokens.

Pure functions: no database, no HTTP. The identity service stores what these functions make and
enforces "never reused" with a unique constraint (insert, and on a collision draw again).

Where the rules come from (facts read from MOSIP's sources; the code here is written anew):

* ``mosip/commons`` ``kernel/kernel-idgenerator-service/src/main/java/io/mosip/kernel/uingenerator/``
  ``util/UinFilterUtil.java`` (the UIN filters) and ``generator/UinGeneratorImpl.java`` (how a UIN is
  made: a random body of ``length - 1`` digits, its Verhoeff check digit appended, and only then the
  filters applied to the *whole* number, check digit included; a rejected number is discarded and a
  new body drawn).
* ``mosip/commons`` ``kernel/kernel-idgenerator-vid/src/main/java/io/mosip/kernel/idgenerator/vid/``
  ``util/VidFilterUtils.java`` and ``impl/VidGeneratorImpl.java`` (VID filters, same order: body,
  check digit, filters on the whole number).
* ``mosip/commons`` ``kernel/kernel-idvalidator-uin/.../UinValidatorImpl.java`` and
  ``kernel-idvalidator-vid/.../VidValidatorImpl.java`` (input validation: digits, length, filters,
  Verhoeff).
* ``mosip/commons`` ``kernel/kernel-core/src/main/java/io/mosip/kernel/core/util/ChecksumUtils.java``
  (Verhoeff, the standard dihedral-group D5 scheme).
* ``mosip/mosip-config`` ``application-default.properties`` (tag v1.3.0): the defaults used below —
  ``mosip.kernel.uin.length=10``, ``...uin.length.sequence-limit=3``, ``...repeating-limit=2``,
  ``...repeating-block-limit=2``, ``...conjugative-even-digits-limit=3``, ``...digits-limit=5``,
  ``...reverse-digits-limit=5``, ``mosip.kernel.uin.restricted-numbers=786,666``,
  ``mosip.kernel.uin.not-start-with=0,1``; ``mosip.kernel.vid.length=16`` with sequence-limit 3,
  repeating-limit 2, repeating-block-limit 2, not-start-with 0,1, restricted-numbers 786,666;
  ``mosip.kernel.tokenid.length=36``.
* ``mosip/id-repository`` class ``io.mosip.idrepository.core.util.TokenIDGenerator``: MOSIP's partner token
  ID, a 36-digit decimal derived from the UIN and the partner code with salted SHA-256.

Deliberate differences from MOSIP, each noted where it applies:

* Bodies are drawn uniformly with the OS CSPRNG. MOSIP takes the leading digits of
  ``BigInteger(randomBytes).abs().toString()``, which favours small leading digits (Benford).
  Here every acceptable number is equally likely.
* A limit of ``0`` or less switches its filter off (MOSIP's configuration comments say so; in
  ``UinFilterUtil`` itself a 0 would reject every number). A ``sequence_limit`` of 1 also switches
  the sequence filter off ("to disable sequence limit validation assign 1").
* Empty entries in ``restricted_numbers`` / ``not_start_with`` are ignored (MOSIP's
  ``"".split(",")`` would yield ``[""]`` and then reject every number).
* Partner tokens use HMAC-SHA256 with a secret key over a length-prefixed encoding instead of
  salted SHA-256 over plain concatenation.
"""

from __future__ import annotations

import base64
import hmac
import os
import random
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from operator import eq
from collections.abc import Callable, Iterable

__all__ = [
    "CYCLIC_NUMBERS",
    "DEFAULT_UIN_POLICY",
    "DEFAULT_VID_POLICY",
    "FILTERS",
    "NumberPolicy",
    "PARTNER_TOKEN_LENGTH",
    "UinPolicy",
    "VidPolicy",
    "generate_uin",
    "generate_uins",
    "generate_vid",
    "generate_vids",
    "is_valid_uin",
    "is_valid_vid",
    "pairwise_sub",
    "partner_token",
    "uin_acceptable",
    "uin_filter_violations",
    "verhoeff_check_digit",
    "verhoeff_valid",
    "vid_acceptable",
]

# ---------------------------------------------------------------------------------------------
# Verhoeff (J. Verhoeff, "Error Detecting Decimal Codes", 1969; MOSIP kernel ChecksumUtils).
# _D is the multiplication table of the dihedral group D5, _P the position permutations
# (row k = the base permutation applied k times, period 8), _INV the group inverses.
# It detects every single-digit error and every transposition of adjacent digits.
# ---------------------------------------------------------------------------------------------

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)
# _STEP[k][c * 10 + digit] == _D[c][_P[k][digit]]: one look-up per digit.
_STEP = tuple(tuple(_D[c][_P[k][d]] for c in range(10) for d in range(10)) for k in range(8))
_DIGIT_CHARS = "0123456789"


def _is_ascii_digits(s: object) -> bool:
    """True for a non-empty ``str`` of ASCII 0-9 only (``str.isdigit`` alone accepts '١', '²')."""
    return isinstance(s, str) and s.isascii() and s.isdigit()


def verhoeff_check_digit(digits: str) -> str:
    """The Verhoeff check digit to append to ``digits`` (MOSIP ChecksumUtils.generateChecksumDigit).

    Raises ``ValueError`` unless ``digits`` is a non-empty string of ASCII digits.
    """
    if not _is_ascii_digits(digits):
        raise ValueError("a Verhoeff check digit needs a non-empty string of ASCII digits 0-9")
    c = 0
    step = _STEP
    # Rightmost data digit sits at position 1 once the check digit is appended at position 0.
    for i, ch in enumerate(reversed(digits), 1):
        c = step[i & 7][c * 10 + ord(ch) - 48]
    return _DIGIT_CHARS[_INV[c]]


def verhoeff_valid(number: str) -> bool:
    """True when ``number`` (data digits followed by their check digit) passes Verhoeff.

    MOSIP ChecksumUtils.validateChecksum. Needs at least two ASCII digits (one data digit and the
    check digit); anything else, including non-strings, is ``False``. Never raises.
    """
    if not _is_ascii_digits(number) or len(number) < 2:
        return False
    c = 0
    step = _STEP
    for i, ch in enumerate(reversed(number)):
        c = step[i & 7][c * 10 + ord(ch) - 48]
    return c == 0


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------

#: MOSIP UinFilterUtil CYCLIC_NUM: the repeating periods of 1/7, 1/17, 1/19, 1/23, 1/29, 1/47,
#: 1/59, 1/61 and 1/97. A number containing one (that fits in its length) is rejected.
CYCLIC_NUMBERS: tuple[str, ...] = (
    "142857",
    "0588235294117647",
    "052631578947368421",
    "0434782608695652173913",
    "0344827586206896551724137931",
    "0212765957446808510638297872340425531914893617",
    "0169491525423728813559322033898305084745762711864406779661",
    "016393442622950819672131147540983606557377049180327868852459",
    "010309278350515463917525773195876288659793814432989690721649484536082474226804123711340206185567",
)

#: Names of the filters, as reported by :func:`uin_filter_violations`; each is named after the
#: MOSIP property that configures it (``mosip.kernel.uin.length.<name>`` etc.).
FILTERS: tuple[str, ...] = (
    "length",  # exactly `length` characters
    "numeric",  # ASCII digits only
    "not_start_with",  # must not start with any of `not_start_with`
    "sequence_limit",  # no run of `sequence_limit` ascending/descending digits
    "repeating_limit",  # a digit may not recur within `repeating_limit` places (11, 1x1)
    "repeating_block_limit",  # no block of >= `repeating_block_limit` digits occurring twice
    "conjugative_even_digits_limit",  # no run of that many digits from 2, 4, 6, 8
    "digits_limit",  # first `digits_limit` digits != last `digits_limit` digits
    "reverse_digits_limit",  # first n digits != last n digits reversed
    "restricted_numbers",  # contains none of the restricted numbers
    "cyclic_numbers",  # contains none of CYCLIC_NUMBERS
)

_MIN_LENGTH = 3
_MAX_LENGTH = 64


def _digit_strings(value: object, field_name: str) -> tuple[str, ...]:
    if isinstance(value, str):  # a MOSIP-style property value: "786,666"
        value = value.split(",")
    if not isinstance(value, Iterable):
        raise TypeError(f"{field_name} must be a sequence of digit strings")
    items = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{field_name} must hold strings, got {item!r}")
        item = item.strip()
        if not item:
            continue  # MOSIP's "".split(",") == [""] would reject everything; ignore instead.
        if not _is_ascii_digits(item):
            raise ValueError(f"{field_name} entries must be ASCII digits, got {item!r}")
        items.append(item)
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class NumberPolicy:
    """The configurable filters shared by UINs and VIDs (MOSIP ``mosip.kernel.{uin,vid}.*``).

    A limit of 0 or less switches its filter off. Field ↔ MOSIP property:

    * ``length`` ↔ ``length`` (the check digit is the last of these digits)
    * ``sequence_limit`` ↔ ``length.sequence-limit``: no ``n`` consecutive ascending or descending
      digits ("123", "987"); with ``sequence_wraps`` (UinFilterUtil) "890" and "901" count too,
      which is what rules out cyclic figures such as 4567890123. VidFilterUtils does not wrap.
    * ``repeating_limit`` ↔ ``length.repeating-limit``: regex ``(\\d)\\d{0,n-1}\\1`` — for 2, no "11"
      and no "1x1".
    * ``repeating_block_limit`` ↔ ``length.repeating-block-limit``: regex ``(\\d{n,}).*?\\1`` — for
      2, no block of two digits occurring twice ("4834" … "48"), which also rules out 3434343434.
    * ``conjugative_even_digits_limit`` ↔ ``length.conjugative-even-digits-limit`` (UIN only):
      regex ``[2468]{n}``. Note that, as in MOSIP's regex, 0 does not count as even.
    * ``digits_limit`` ↔ ``length.digits-limit`` (UIN only): the first ``n`` digits must differ
      from the last ``n`` (4345643456 is rejected for 5).
    * ``reverse_digits_limit`` ↔ ``length.reverse-digits-limit`` (UIN only): the first ``n`` digits
      must differ from the last ``n`` reversed (4345665434 is rejected for 5).
    * ``restricted_numbers`` ↔ ``restricted-numbers``: substrings that may not occur anywhere.
    * ``not_start_with`` ↔ ``not-start-with``: prefixes that are not allowed.
    * ``reject_cyclic_numbers``: UinFilterUtil's fixed list :data:`CYCLIC_NUMBERS` (UIN only).
    """

    length: int
    sequence_limit: int = 3
    repeating_limit: int = 2
    repeating_block_limit: int = 2
    conjugative_even_digits_limit: int = 0
    digits_limit: int = 0
    reverse_digits_limit: int = 0
    restricted_numbers: tuple[str, ...] = ("786", "666")
    not_start_with: tuple[str, ...] = ("0", "1")
    reject_cyclic_numbers: bool = False
    sequence_wraps: bool = False

    def __post_init__(self) -> None:
        for name in (
            "length",
            "sequence_limit",
            "repeating_limit",
            "repeating_block_limit",
            "conjugative_even_digits_limit",
            "digits_limit",
            "reverse_digits_limit",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if not _MIN_LENGTH <= self.length <= _MAX_LENGTH:
            raise ValueError(f"length must be between {_MIN_LENGTH} and {_MAX_LENGTH}, got {self.length}")
        for name in ("digits_limit", "reverse_digits_limit"):
            if getattr(self, name) > self.length:
                raise ValueError(f"{name} ({getattr(self, name)}) cannot exceed length ({self.length})")
        object.__setattr__(self, "restricted_numbers", _digit_strings(self.restricted_numbers, "restricted_numbers"))
        object.__setattr__(self, "not_start_with", _digit_strings(self.not_start_with, "not_start_with"))
        object.__setattr__(self, "reject_cyclic_numbers", bool(self.reject_cyclic_numbers))
        object.__setattr__(self, "sequence_wraps", bool(self.sequence_wraps))


@dataclass(frozen=True)
class UinPolicy(NumberPolicy):
    """UIN rules with MOSIP's defaults (UinFilterUtil + mosip-config application-default.properties)."""

    length: int = 10
    conjugative_even_digits_limit: int = 3
    digits_limit: int = 5
    reverse_digits_limit: int = 5
    reject_cyclic_numbers: bool = True
    sequence_wraps: bool = True


@dataclass(frozen=True)
class VidPolicy(NumberPolicy):
    """VID rules with MOSIP's defaults (VidFilterUtils + mosip-config): 16 digits, Verhoeff last.

    VidFilterUtils applies only sequence (not wrapping), repeating, repeating-block,
    not-start-with, length and restricted-number filters.
    """

    length: int = 16


DEFAULT_UIN_POLICY = UinPolicy()
DEFAULT_VID_POLICY = VidPolicy()


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------

_EVEN_MARKS = str.maketrans("0123456789", "ooeoeoeoeo")  # 2, 4, 6, 8 -> 'e' (0 is not even here)


class _Rules:
    """A policy compiled into fast checks (``filters_ok``) and MOSIP-literal ones (``violations``)."""

    def __init__(self, policy: NumberPolicy) -> None:
        p = policy
        self.policy = p
        self.length = p.length
        self.prefixes = p.not_start_with

        seq: set[str] = set()
        self.seq_asc = self.seq_desc = ""
        if p.sequence_limit > 1:
            self.seq_asc = "0123456789" * 2 if p.sequence_wraps else "0123456789"
            self.seq_desc = "9876543210" * 2 if p.sequence_wraps else "9876543210"
            n = p.sequence_limit
            for src in (self.seq_asc, self.seq_desc):
                seq.update(src[i : i + n] for i in range(len(src) - n + 1))
        self.sequences = frozenset(seq)
        self.restricted = p.restricted_numbers
        self.cyclic = tuple(c for c in CYCLIC_NUMBERS if len(c) <= p.length) if p.reject_cyclic_numbers else ()
        literals = sorted(self.sequences | set(self.restricted) | set(self.cyclic), key=lambda s: (-len(s), s))
        self.literals = tuple(literals)
        self.literal_re = re.compile("|".join(literals)) if literals else None

        self.repeat_distances = tuple(range(1, p.repeating_limit + 1)) if p.repeating_limit > 0 else ()
        self.block = p.repeating_block_limit if p.repeating_block_limit > 0 else 0
        self.even_run = "e" * p.conjugative_even_digits_limit if p.conjugative_even_digits_limit > 0 else ""
        self.first_last = p.digits_limit if p.digits_limit > 0 else 0
        self.first_last_rev = p.reverse_digits_limit if p.reverse_digits_limit > 0 else 0

        # MOSIP's own regular expressions, used by the reference check `violations`.
        self.repeat_re = None
        if p.repeating_limit > 0:
            self.repeat_re = re.compile(r"(\d)\d{0,%d}\1" % (p.repeating_limit - 1), re.ASCII)
        self.block_re = re.compile(r"(\d{%d,}).*?\1" % self.block, re.ASCII) if self.block else None
        self.even_re = re.compile("[2468]{%d}" % p.conjugative_even_digits_limit) if self.even_run else None

    # -- fast path ------------------------------------------------------------------------------

    def block_repeats(self, s: str) -> bool:
        """True if some block of ``self.block`` digits occurs twice without overlapping."""
        b = self.block
        count = len(s) - b + 1
        if count < 2:
            return False
        grams = [s[i : i + b] for i in range(count)]
        if len(set(grams)) == count:
            return False
        first: dict[str, int] = {}
        for i, g in enumerate(grams):
            j = first.setdefault(g, i)
            if i - j >= b:
                return True
        return False

    def monotone_ok(self, s: str) -> bool:
        """The "contains a bad pattern" filters; if a substring fails, so does the whole number."""
        for d in self.repeat_distances:
            if any(map(eq, s, s[d:])):
                return False
        if self.literal_re is not None and self.literal_re.search(s):
            return False
        if self.even_run and self.even_run in s.translate(_EVEN_MARKS):
            return False
        if self.block and self.block_repeats(s):
            return False
        return True

    def filters_ok(self, s: str) -> bool:
        """Every filter, for ``s`` already known to be ``length`` ASCII digits."""
        if s.startswith(self.prefixes):
            return False
        k = self.first_last
        if k and s[:k] == s[-k:]:
            return False
        k = self.first_last_rev
        if k and s[:k] == s[: -k - 1 : -1]:
            return False
        return self.monotone_ok(s)

    def acceptable(self, s: object) -> bool:
        return isinstance(s, str) and len(s) == self.length and _is_ascii_digits(s) and self.filters_ok(s)

    # -- reference path: one check per MOSIP filter, written the way MOSIP writes it ------------

    def violations(self, s: str) -> tuple[str, ...]:
        out = []
        if len(s) != self.length:
            out.append("length")
        if not _is_ascii_digits(s):
            out.append("numeric")
            return tuple(out)
        if any(s.startswith(x) for x in self.prefixes):
            out.append("not_start_with")
        n = self.policy.sequence_limit
        if self.seq_asc and any(
            s[i : i + n] in self.seq_asc or s[i : i + n] in self.seq_desc for i in range(len(s) - n + 1)
        ):
            out.append("sequence_limit")
        if self.repeat_re is not None and self.repeat_re.search(s):
            out.append("repeating_limit")
        if self.block_re is not None and self.block_re.search(s):
            out.append("repeating_block_limit")
        if self.even_re is not None and self.even_re.search(s):
            out.append("conjugative_even_digits_limit")
        k = self.first_last
        if k and len(s) >= k and s[:k] == s[len(s) - k :]:
            out.append("digits_limit")
        k = self.first_last_rev
        if k and len(s) >= k and s[:k] == s[len(s) - k :][::-1]:
            out.append("reverse_digits_limit")
        if any(r in s for r in self.restricted):
            out.append("restricted_numbers")
        if any(c in s for c in self.cyclic):
            out.append("cyclic_numbers")
        return tuple(out)


@lru_cache(maxsize=32)
def _rules(policy: NumberPolicy) -> _Rules:
    return _Rules(policy)


def uin_acceptable(candidate: str, policy: NumberPolicy = DEFAULT_UIN_POLICY) -> bool:
    """True when ``candidate`` passes every filter of ``policy`` (MOSIP UinFilterUtil.isValidId).

    As in MOSIP the filters look at the whole number, check digit included; the check digit's
    validity itself is not a filter (see :func:`is_valid_uin`). Never raises.
    """
    return _rules(policy).acceptable(candidate)


def vid_acceptable(candidate: str, policy: NumberPolicy = DEFAULT_VID_POLICY) -> bool:
    """True when ``candidate`` passes every filter of ``policy`` (MOSIP VidFilterUtils.isValidId)."""
    return _rules(policy).acceptable(candidate)


def uin_filter_violations(candidate: str, policy: NumberPolicy = DEFAULT_UIN_POLICY) -> tuple[str, ...]:
    """Names (from :data:`FILTERS`) of every filter ``candidate`` fails; ``()`` if it passes.

    A straightforward, slower implementation that follows MOSIP's code filter by filter, with
    MOSIP's own regular expressions; useful for error messages and as the reference the fast
    check is tested against. Works for VID policies too.
    """
    if not isinstance(candidate, str):
        return ("numeric",)
    return _rules(policy).violations(candidate)


def is_valid_uin(s: object, policy: NumberPolicy = DEFAULT_UIN_POLICY, *, strict: bool = True) -> bool:
    """Input validation for a UIN: ``length`` ASCII digits, allowed first digits, Verhoeff.

    With ``strict`` (the default) every filter of ``policy`` must pass too, as in MOSIP's
    UinValidatorImpl; numbers this module generated always do. Pass ``strict=False`` for numbers
    issued before a policy change (e.g. a restricted number added later). Never raises.
    """
    try:
        r = _rules(policy)
        if not (isinstance(s, str) and len(s) == r.length and _is_ascii_digits(s)):
            return False
        if s.startswith(r.prefixes):
            return False
        if strict and not r.filters_ok(s):
            return False
        return verhoeff_valid(s)
    except Exception:  # noqa: BLE001 - a validator answers False, it does not raise
        return False


def is_valid_vid(s: object, policy: NumberPolicy = DEFAULT_VID_POLICY, *, strict: bool = True) -> bool:
    """Input validation for a VID (MOSIP VidValidatorImpl): 16 ASCII digits, filters, Verhoeff."""
    return is_valid_uin(s, policy, strict=strict)


# ---------------------------------------------------------------------------------------------
# Generation
#
# Rejection sampling exactly as MOSIP does it (uniform body, append Verhoeff digit, reject if any
# filter fails), made fast by rejecting most bad bodies before building any string:
#
# * the body is cut into 2..5-digit blocks; for every block position a table lists the blocks
#   that pass the "contains a bad pattern" filters on their own (a number containing a bad block
#   is bad, so no acceptable number is lost). A candidate is one uniform pick per block.
# * junction tables say whether the 2 digits either side of a block boundary pass those filters,
#   and a tail table does the same for the last 2 body digits and the check digit; every bad
#   pattern up to 3 digits wide that crosses a boundary lies inside such a window.
# * each block carries its Verhoeff partial product (Verhoeff is a product in D5, so the check
#   digit is _INV[product of the blocks' partial products]).
# * whatever the tables cannot see (repeated blocks across positions, wider patterns, the
#   first/last-digit filters, long prefixes) is checked on the finished string.
#
# Rejection steps are deterministic functions of the candidate, so accepted numbers are uniform
# over all acceptable numbers.
# ---------------------------------------------------------------------------------------------

_JUNCTION = 2  # digits either side of a block boundary that the tables look at
_NARROW = _JUNCTION + 1  # patterns up to this width are fully covered by the tables


def _block_sizes(body: int) -> list[int]:
    count = -(-body // 5)
    base, extra = divmod(body, count)
    return [base + 1] * extra + [base] * (count - extra)


class _Slot:
    __slots__ = ("strings", "seg", "head", "tail", "size", "pairs", "first", "last", "seg10", "tail10", "tail100")

    def __init__(self, strings: list[str], seg: list[int], head: list[int], tail: list[int]) -> None:
        self.strings = tuple(strings)
        self.seg = tuple(seg)
        self.head = tuple(head)
        self.tail = tuple(tail)
        self.size = len(strings)
        # Bit 10*x+y set when the digit pair "xy" occurs inside the block (repeated-block filter).
        self.pairs = tuple(sum(1 << int(b[k : k + 2]) for k in range(len(b) - 1)) for b in strings)
        self.first = tuple(ord(b[0]) - 48 for b in strings)
        self.last = tuple(10 * (ord(b[-1]) - 48) for b in strings)
        # Pre-scaled copies, so the candidate loops index flat tables without multiplying.
        self.seg10 = tuple(x * 10 for x in seg)
        self.tail10 = tuple(t * 10 for t in tail)
        self.tail100 = tuple(t * 100 for t in tail)


class _Engine:
    """Fast uniform generator of acceptable numbers for one policy (see the comment above)."""

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        length = rules.length
        body = length - 1
        sizes = _block_sizes(body)
        valid_by_size = self._valid_blocks(rules, max(sizes))

        slots = []
        start = 0
        for index, size in enumerate(sizes):
            blocks = valid_by_size[size]
            if index == 0 and rules.prefixes:
                short = tuple(x for x in rules.prefixes if len(x) <= size)
                if short:
                    blocks = [b for b in blocks if not b.startswith(short)]
            strings, segs, heads, tails = [], [], [], []
            for b in blocks:
                seg = 0
                # body index j sits at Verhoeff position body - j (the check digit is position 0);
                # the running product goes from the rightmost digit leftwards.
                for j in range(start + size - 1, start - 1, -1):
                    seg = _D[seg][_P[(body - j) & 7][ord(b[j - start]) - 48]]
                strings.append(b)
                segs.append(seg)
                heads.append(int(b[:_JUNCTION]))
                tails.append(int(b[-_JUNCTION:]))
            if not strings:
                raise ValueError(f"policy admits no numbers: {rules.policy!r}")
            slots.append(_Slot(strings, segs, heads, tails))
            start += size
        self.slots = slots

        ok = rules.monotone_ok
        self.junction = bytes(ok(f"{t:02d}{h:02d}") for t in range(100) for h in range(100))
        self.tail_ok = bytes(ok(f"{t:02d}{c}") for t in range(100) for c in range(10))
        # check[s * 10 + g]: the check digit when the partial products are s (right part), g (left).
        self.check = tuple(_INV[_D[s][g]] for s in range(10) for g in range(10))
        self.mul = tuple(_D[s][g] for s in range(10) for g in range(10))

        total = 1
        for slot in slots:
            total *= slot.size
        self.total = total
        self.word_bits = 64 * -(-(total.bit_length() + 16) // 64)
        self.limit = ((1 << self.word_bits) // total) * total  # exact: reject words >= limit
        # With repeating_block_limit 2 and adjacent repeats banned (the defaults), a repeated digit
        # pair can never overlap itself, so "no repeated block" == "all digit pairs distinct",
        # which the candidate loops check on bit masks instead of on the finished string.
        self.pair_masks = rules.block == 2 and 1 in rules.repeat_distances
        self.residual = self._residual(rules, sizes[0], check_blocks=not self.pair_masks)
        self.residual_all = self._residual(rules, sizes[0], check_blocks=True)
        self.yield_rate = 0.05  # refined as numbers are generated

    @staticmethod
    def _valid_blocks(rules: _Rules, max_size: int) -> dict[int, list[str]]:
        """All digit strings of each size up to ``max_size`` that pass the monotone filters."""
        ok = rules.monotone_ok
        level = [d for d in _DIGIT_CHARS if ok(d)]
        out = {1: level}
        for size in range(2, max_size + 1):
            level = [s + d for s in level for d in _DIGIT_CHARS if ok(s + d)]
            out[size] = level
        return out

    @staticmethod
    def _residual(rules: _Rules, first_size: int, check_blocks: bool) -> Callable[[str], bool]:
        """The checks the tables do not cover, on the finished number."""
        long_prefixes = tuple(x for x in rules.prefixes if len(x) > first_size)
        wide_distances = tuple(d for d in rules.repeat_distances if d + 1 > _NARROW)
        wide_literals = tuple(x for x in rules.literals if len(x) > _NARROW)
        wide_even = rules.even_run if len(rules.even_run) > _NARROW else ""
        block = rules.block if check_blocks else 0
        block_repeats = rules.block_repeats
        first_last = rules.first_last
        first_last_rev = rules.first_last_rev

        def residual(s: str) -> bool:
            if block and block_repeats(s):
                return False
            if first_last and s[:first_last] == s[-first_last:]:
                return False
            if first_last_rev and s[:first_last_rev] == s[: -first_last_rev - 1 : -1]:
                return False
            if wide_literals and any(map(s.__contains__, wide_literals)):
                return False
            if long_prefixes and s.startswith(long_prefixes):
                return False
            for d in wide_distances:
                if any(map(eq, s, s[d:])):
                    return False
            if wide_even and wide_even in s.translate(_EVEN_MARKS):
                return False
            return True

        return residual

    # -- random words ---------------------------------------------------------------------------

    def _words(self, count: int, rng: random.Random | None) -> list[int]:
        nbytes = self.word_bits // 8
        if rng is None:
            raw = os.urandom(nbytes * count)
        else:
            raw = rng.getrandbits(8 * nbytes * count).to_bytes(nbytes * count, "little")
        if nbytes == 8:
            return memoryview(raw).cast("Q").tolist()
        return [int.from_bytes(raw[i : i + nbytes], "little") for i in range(0, len(raw), nbytes)]

    # -- candidate loops, one per block count (2 and 3 cover lengths 7..16) ----------------------

    def _run(self, words: list[int]) -> list[str]:
        if self.pair_masks and len(self.slots) == 2:
            return self._run2(words)
        if self.pair_masks and len(self.slots) == 3:
            return self._run3(words)
        return self._run_any(words)

    def _run2(self, words: list[int]) -> list[str]:
        a, b = self.slots
        a_str, a_seg, a_tail, na = a.strings, a.seg, a.tail100, a.size
        b_str, b_seg10, b_head, b_tail, nb = b.strings, b.seg10, b.head, b.tail10, b.size
        a_pairs, a_last, b_pairs, b_first, b_last = a.pairs, a.last, b.pairs, b.first, b.last
        junction, tail_ok, check, limit, residual = self.junction, self.tail_ok, self.check, self.limit, self.residual
        digits = _DIGIT_CHARS
        out: list[str] = []
        append = out.append
        for r in words:
            if r >= limit:
                continue
            i = r % na
            j = (r // na) % nb
            if not junction[a_tail[i] + b_head[j]]:
                continue
            pa = a_pairs[i]
            pb = b_pairs[j]
            if pa & pb:
                continue
            c = check[b_seg10[j] + a_seg[i]]
            if not tail_ok[b_tail[j] + c]:
                continue
            p1 = a_last[i] + b_first[j]  # the digit pair across the block boundary
            p2 = b_last[j] + c  # the pair ending in the check digit
            pairs = pa | pb
            if p1 == p2 or (pairs >> p1) & 1 or (pairs >> p2) & 1:
                continue
            s = a_str[i] + b_str[j] + digits[c]
            if residual(s):
                append(s)
        return out

    def _run3(self, words: list[int]) -> list[str]:
        a, b, c3 = self.slots
        a_str, a_seg, a_tail, na = a.strings, a.seg, a.tail100, a.size
        b_str, b_seg10, b_head, b_tail, nb = b.strings, b.seg10, b.head, b.tail100, b.size
        c_str, c_seg10, c_head, c_tail, nc = c3.strings, c3.seg10, c3.head, c3.tail10, c3.size
        nab = na * nb
        junction, tail_ok, check, mul = self.junction, self.tail_ok, self.check, self.mul
        limit, residual, digits = self.limit, self.residual, _DIGIT_CHARS
        out: list[str] = []
        append = out.append
        a_pairs, a_last, b_pairs, b_first, b_last = a.pairs, a.last, b.pairs, b.first, b.last
        c_pairs, c_first, c_last = c3.pairs, c3.first, c3.last
        for r in words:
            if r >= limit:
                continue
            i = r % na
            j = (r // na) % nb
            if not junction[a_tail[i] + b_head[j]]:
                continue
            pa = a_pairs[i]
            pb = b_pairs[j]
            if pa & pb:
                continue
            k = (r // nab) % nc
            if not junction[b_tail[j] + c_head[k]]:
                continue
            pc = c_pairs[k]
            pairs = pa | pb
            if pairs & pc:
                continue
            c = check[c_seg10[k] + mul[b_seg10[j] + a_seg[i]]]
            if not tail_ok[c_tail[k] + c]:
                continue
            pairs |= pc
            p1 = a_last[i] + b_first[j]
            p2 = b_last[j] + c_first[k]
            p3 = c_last[k] + c
            if (
                p1 == p2
                or p1 == p3
                or p2 == p3
                or (pairs >> p1) & 1
                or (pairs >> p2) & 1
                or (pairs >> p3) & 1
            ):
                continue
            s = a_str[i] + b_str[j] + c_str[k] + digits[c]
            if residual(s):
                append(s)
        return out

    def _run_any(self, words: list[int]) -> list[str]:
        slots, junction, tail_ok, limit = self.slots, self.junction, self.tail_ok, self.limit
        residual = self.residual_all
        out: list[str] = []
        for r in words:
            if r >= limit:
                continue
            picks = []
            for slot in slots:
                r, i = divmod(r, slot.size)
                picks.append(i)
            good = True
            for n in range(len(slots) - 1):
                if not junction[slots[n].tail[picks[n]] * 100 + slots[n + 1].head[picks[n + 1]]]:
                    good = False
                    break
            if not good:
                continue
            g = 0
            for slot, i in zip(reversed(slots), reversed(picks)):
                g = _D[g][slot.seg[i]]
            c = _INV[g]
            last = slots[-1]
            if not tail_ok[last.tail[picks[-1]] * 10 + c]:
                continue
            s = "".join(slot.strings[i] for slot, i in zip(slots, picks)) + _DIGIT_CHARS[c]
            if residual(s):
                out.append(s)
        return out

    def generate(self, n: int, rng: random.Random | None, unique: bool) -> list[str]:
        found: dict[str, None] = {}
        plain: list[str] = []
        tried = accepted = 0
        while (len(found) if unique else len(plain)) < n:
            missing = n - (len(found) if unique else len(plain))
            count = min(max(8, int(missing / self.yield_rate * 1.1)), 1 << 16)
            batch = self._run(self._words(count, rng))
            tried += count
            accepted += len(batch)
            if unique:
                for s in batch:
                    found[s] = None
            else:
                plain.extend(batch)
            if not accepted and tried >= 1 << 22:
                raise RuntimeError(f"no acceptable number in {tried} candidates; policy too strict: {self.rules.policy!r}")
            if unique and accepted > 20 * n + 100_000 and len(found) < n:
                raise RuntimeError(f"fewer than {n} distinct numbers seem to exist under {self.rules.policy!r}")
        if tried >= 1024:
            self.yield_rate = max(accepted / tried, 1e-6)
        return list(found)[:n] if unique else plain[:n]


@lru_cache(maxsize=16)
def _engine(policy: NumberPolicy) -> _Engine:
    return _Engine(_rules(policy))


_SYSTEM_RANDOM = secrets.SystemRandom()


def generate_uin(policy: NumberPolicy = DEFAULT_UIN_POLICY, rng: random.Random = _SYSTEM_RANDOM) -> str:
    """One random UIN: a uniform body of ``length - 1`` digits, its Verhoeff digit, all filters.

    MOSIP UinGeneratorImpl.generateId + UinFilterUtil, drawn from the OS CSPRNG (``rng`` exists
    for reproducible tests; production code leaves it alone). Uniqueness is the caller's: insert
    under a unique constraint and call again on a collision.
    """
    return _engine(policy).generate(1, None if rng is _SYSTEM_RANDOM else rng, unique=False)[0]


def generate_uins(n: int, policy: NumberPolicy = DEFAULT_UIN_POLICY, rng: random.Random | None = None) -> list[str]:
    """``n`` distinct random UINs (as :func:`generate_uin`), fast: random bytes are read in bulk.

    Distinct within the batch only; the database's unique constraint still decides reuse.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative int")
    if n == 0:
        return []
    return _engine(policy).generate(n, None if rng is _SYSTEM_RANDOM else rng, unique=True)


def generate_vid(policy: NumberPolicy = DEFAULT_VID_POLICY, rng: random.Random = _SYSTEM_RANDOM) -> str:
    """One random VID (MOSIP VidGeneratorImpl + VidFilterUtils): 16 digits, Verhoeff digit last.

    MOSIP derives VIDs by AES-encrypting a random seed under an incrementing counter key; here the
    15-digit body is drawn uniformly from the OS CSPRNG, which is at least as unpredictable.
    Revocation, expiry and "one active VID per type" are the identity service's job (database).
    """
    return _engine(policy).generate(1, None if rng is _SYSTEM_RANDOM else rng, unique=False)[0]


def generate_vids(n: int, policy: NumberPolicy = DEFAULT_VID_POLICY, rng: random.Random | None = None) -> list[str]:
    """``n`` distinct random VIDs."""
    return generate_uins(n, policy, rng)


# ---------------------------------------------------------------------------------------------
# Partner-specific tokens
# ---------------------------------------------------------------------------------------------

#: MOSIP ``mosip.kernel.tokenid.length``: token IDs are 36 decimal digits (~119.6 bits).
PARTNER_TOKEN_LENGTH = 36
_MIN_SECRET = 16
_PARTNER_LABEL = b"dpistack/identity/partner-token/v1"
_PAIRWISE_LABEL = b"dpistack/identity/oidc-pairwise-sub/v1"


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _keyed_digest(secret: bytes, label: bytes, uin: str, other: str, other_name: str) -> bytes:
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise TypeError("secret must be bytes")
    if len(secret) < _MIN_SECRET:
        raise ValueError(f"secret must be at least {_MIN_SECRET} bytes (32 random bytes recommended)")
    if not isinstance(uin, str) or not uin:
        raise ValueError("uin must be a non-empty string")
    if not isinstance(other, str) or not other:
        raise ValueError(f"{other_name} must be a non-empty string")
    message = _lp(label) + _lp(uin.encode("utf-8")) + _lp(other.encode("utf-8"))
    return hmac.digest(bytes(secret), message, "sha256")


def partner_token(secret: bytes, uin: str, partner_id: str) -> str:
    """The partner-specific token for (person, partner): 36 decimal digits, like MOSIP's token ID.

    MOSIP's TokenIDGenerator (id-repository, IDA, keymanager) computes
    ``SHA-256(partnerCodeSalt + partnerCode + hex(SHA-256(uin + uinSalt)))`` and keeps 36 decimal
    digits; eSignet hands such a token to a relying party as the "partner specific user token"
    (PSUT, the OIDC ``sub``). Here it is ``HMAC-SHA256(secret, label || len||uin || len||partner)``
    reduced mod 10^36 (zero-padded; the reduction bias is below 2^-135): the same pair always gives
    the same token, different partners get unrelated tokens, and without ``secret`` nobody can
    link two tokens or recover the UIN by trying all ~10^9 UINs. Pass the UIN, never a VID (a
    person has many VIDs). Rotating ``secret`` changes every token.
    """
    mac = _keyed_digest(secret, _PARTNER_LABEL, uin, partner_id, "partner_id")
    return str(int.from_bytes(mac, "big") % 10**PARTNER_TOKEN_LENGTH).zfill(PARTNER_TOKEN_LENGTH)


def pairwise_sub(secret: bytes, uin: str, sector_identifier: str) -> str:
    """OIDC pairwise Subject Identifier (OpenID Connect Core 1.0 §8.1).

    §8.1 requires a value that differs per sector identifier (the host of the client's
    ``sector_identifier_uri``, or of its ``redirect_uri``), stays the same for the same sector, and
    cannot be reversed by anyone but the OP; it suggests a salted hash of sector identifier and
    local account id. Here: the partner-token construction with its own domain-separation label,
    keyed with ``secret``; the host is lower-cased (host names are case-insensitive). The result
    is base64url without padding, 43 ASCII characters (§2 allows up to 255).
    """
    if not isinstance(sector_identifier, str):
        raise ValueError("sector_identifier must be a non-empty string")
    mac = _keyed_digest(secret, _PAIRWISE_LABEL, uin, sector_identifier.lower(), "sector_identifier")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
