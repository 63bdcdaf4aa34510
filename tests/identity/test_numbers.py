"""UIN/VID number rules (MOSIP kernel UinFilterUtil / VidFilterUtils), Verhoeff, partner tokens.

Verhoeff is checked against published test vectors and against an independent implementation
built from the definition (the dihedral group D5 and the permutation (0 1 5 8 9 4 2 7)(3 6)),
not from the module's hand-written tables.
"""

from __future__ import annotations

import base64
import random
from collections import Counter

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dpistack.identity.numbers import (
    CYCLIC_NUMBERS,
    DEFAULT_UIN_POLICY,
    DEFAULT_VID_POLICY,
    FILTERS,
    PARTNER_TOKEN_LENGTH,
    UinPolicy,
    VidPolicy,
    generate_uin,
    generate_uins,
    generate_vid,
    generate_vids,
    is_valid_uin,
    is_valid_vid,
    pairwise_sub,
    partner_token,
    uin_acceptable,
    uin_filter_violations,
    verhoeff_check_digit,
    verhoeff_valid,
    vid_acceptable,
)
from dpistack.identity.numbers import _engine  # the bulk generator without de-duplication

DIGITS = "0123456789"

# ---------------------------------------------------------------------------------------------
# Independent Verhoeff: D5 from its definition, not from the module's tables.
# Elements 0-4 are the rotations r^k, 5-9 the reflections r^k s (Verhoeff's numbering).
# ---------------------------------------------------------------------------------------------


def d5_mul(j: int, k: int) -> int:
    if j < 5 and k < 5:
        return (j + k) % 5
    if j < 5:
        return 5 + (j + k) % 5
    if k < 5:
        return 5 + (j - k) % 5
    return (j - k) % 5


def d5_inv(j: int) -> int:
    return (5 - j) % 5 if j < 5 else j


SIGMA = {0: 1, 1: 5, 5: 8, 8: 9, 9: 4, 4: 2, 2: 7, 7: 0, 3: 6, 6: 3}


def perm_power(i: int, digit: int) -> int:
    for _ in range(i % 8):
        digit = SIGMA[digit]
    return digit


def ref_check_digit(digits: str) -> str:
    """a_0 such that prod_i sigma^i(a_i) = identity, a_1 = rightmost data digit."""
    c = 0
    for i, ch in enumerate(reversed(digits), 1):
        c = d5_mul(c, perm_power(i, int(ch)))
    return str(d5_inv(c))


def test_reference_group_is_d5() -> None:
    # Sanity of the reference itself: identity, inverses, associativity, non-commutativity.
    for a in range(10):
        assert d5_mul(0, a) == d5_mul(a, 0) == a
        assert d5_mul(a, d5_inv(a)) == 0
        for b in range(10):
            for c in range(10):
                assert d5_mul(d5_mul(a, b), c) == d5_mul(a, d5_mul(b, c))
    assert d5_mul(1, 5) != d5_mul(5, 1)


@pytest.mark.parametrize(
    ("data", "check"),
    [("236", "3"), ("12345", "1"), ("142857", "0"), ("75872", "2"), ("8473643095483728456789", "2")],
)
def test_verhoeff_published_vectors(data: str, check: str) -> None:
    assert verhoeff_check_digit(data) == check == ref_check_digit(data)
    assert verhoeff_valid(data + check)
    for wrong in DIGITS.replace(check, ""):
        assert not verhoeff_valid(data + wrong)


def test_mosip_sample_uin_is_verhoeff_valid() -> None:
    # 3029384756 is the valid UIN in mosip/commons idgenerator-service application-test.properties.
    assert verhoeff_valid("3029384756")


digit_strings = st.text(alphabet=DIGITS, min_size=1, max_size=40)


@given(digit_strings)
def test_verhoeff_matches_independent_implementation(data: str) -> None:
    check = verhoeff_check_digit(data)
    assert check == ref_check_digit(data)
    assert verhoeff_valid(data + check)


@given(digit_strings, st.data())
def test_verhoeff_detects_every_single_digit_error(data: str, draw: st.DataObject) -> None:
    number = data + verhoeff_check_digit(data)
    pos = draw.draw(st.integers(0, len(number) - 1))
    wrong = draw.draw(st.sampled_from(DIGITS.replace(number[pos], "")))
    assert not verhoeff_valid(number[:pos] + wrong + number[pos + 1 :])


@given(st.text(alphabet=DIGITS, min_size=1, max_size=40), st.data())
def test_verhoeff_detects_every_adjacent_transposition(data: str, draw: st.DataObject) -> None:
    number = data + verhoeff_check_digit(data)
    pos = draw.draw(st.integers(0, len(number) - 2))
    assume(number[pos] != number[pos + 1])
    swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    assert not verhoeff_valid(swapped)


def test_verhoeff_all_errors_exhaustively_for_one_number() -> None:
    number = "3029384756"
    for pos in range(len(number)):
        for d in DIGITS.replace(number[pos], ""):
            assert not verhoeff_valid(number[:pos] + d + number[pos + 1 :])
        if pos + 1 < len(number) and number[pos] != number[pos + 1]:
            assert not verhoeff_valid(number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :])


@pytest.mark.parametrize("bad", ["", "12a", "١٢٣", "１２３", "²³", " 123", "12 3", None, 123, b"123"])
def test_verhoeff_check_digit_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValueError):
        verhoeff_check_digit(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "0", "2363\n", "236३", "٢٣٦٣", "23-63", None, 2363, b"2363", ["2363"]])
def test_verhoeff_valid_never_raises(bad: object) -> None:
    assert verhoeff_valid(bad) is False  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Filters: crafted numbers violating exactly one filter (MOSIP UinFilterUtil semantics)
# ---------------------------------------------------------------------------------------------

VALID_UIN = "3029384756"  # passes every filter and Verhoeff (MOSIP's own test value)

SINGLE_VIOLATIONS = [
    # (number, policy, the one filter it violates)
    ("1029384756", DEFAULT_UIN_POLICY, "not_start_with"),
    ("0290384756", DEFAULT_UIN_POLICY, "not_start_with"),
    ("4329384756", DEFAULT_UIN_POLICY, "sequence_limit"),  # 432 descending
    ("4567890123", DEFAULT_UIN_POLICY, "sequence_limit"),  # MOSIP's "cyclic figure" example
    ("6543210987", DEFAULT_UIN_POLICY, "sequence_limit"),  # MOSIP's descending cyclic example
    ("3029384901", DEFAULT_UIN_POLICY, "sequence_limit"),  # 901 counts: UIN sequences wrap
    ("3023384756", DEFAULT_UIN_POLICY, "repeating_limit"),  # 33
    ("2029384756", DEFAULT_UIN_POLICY, "repeating_limit"),  # 202 (1x1)
    ("3029304756", DEFAULT_UIN_POLICY, "repeating_block_limit"),  # 30 … 30
    ("3029130290", DEFAULT_UIN_POLICY, "repeating_block_limit"),  # 302 … 302
    ("3948613752", DEFAULT_UIN_POLICY, "conjugative_even_digits_limit"),  # MOSIP's example (486)
    ("3024684756", DEFAULT_UIN_POLICY, "conjugative_even_digits_limit"),
    ("3029384786", DEFAULT_UIN_POLICY, "restricted_numbers"),  # 786
    # First five == last five always repeats a block, so that filter is switched off here.
    ("4725947259", UinPolicy(repeating_block_limit=0), "digits_limit"),
    # First five == last five reversed always puts two equal digits side by side.
    ("4725995274", UinPolicy(repeating_limit=0), "reverse_digits_limit"),
    # 142857 always holds "428" (three of 2, 4, 6, 8), so that filter is switched off here.
    ("3014285796", UinPolicy(conjugative_even_digits_limit=0), "cyclic_numbers"),
    ("302938475", DEFAULT_UIN_POLICY, "length"),
]


@pytest.mark.parametrize(("number", "policy", "name"), SINGLE_VIOLATIONS)
def test_each_filter_rejects_a_number_violating_only_it(number: str, policy: UinPolicy, name: str) -> None:
    assert name in FILTERS
    assert uin_filter_violations(number, policy) == (name,)
    assert not uin_acceptable(number, policy)
    assert not is_valid_uin(number, policy)
    # The same number is fine once that one filter is off (where the policy has a knob for it).
    knob = {
        "not_start_with": {"not_start_with": ()},
        "sequence_limit": {"sequence_limit": 0},
        "repeating_limit": {"repeating_limit": 0},
        "repeating_block_limit": {"repeating_block_limit": 0},
        "conjugative_even_digits_limit": {"conjugative_even_digits_limit": 0},
        "restricted_numbers": {"restricted_numbers": ()},
        "digits_limit": {"digits_limit": 0},
        "reverse_digits_limit": {"reverse_digits_limit": 0},
        "cyclic_numbers": {"reject_cyclic_numbers": False},
    }.get(name)
    if knob is not None:
        relaxed = UinPolicy(**{**policy.__dict__, **knob})
        assert uin_filter_violations(number, relaxed) == ()
        assert uin_acceptable(number, relaxed)


def test_crafted_valid_uin_passes() -> None:
    assert uin_filter_violations(VALID_UIN) == ()
    assert uin_acceptable(VALID_UIN)
    assert is_valid_uin(VALID_UIN)


def test_mosip_readme_examples() -> None:
    # kernel-idgenerator-service README: each example is rejected.
    for number in ("4345643456", "4345665434", "4567890123", "6543210987", "3434343434", "3948613752"):
        assert not uin_acceptable(number), number
    assert "digits_limit" in uin_filter_violations("4345643456")
    assert "reverse_digits_limit" in uin_filter_violations("4345665434")
    assert "repeating_block_limit" in uin_filter_violations("3434343434")


def test_sequences_wrap_for_uins_but_not_for_vids() -> None:
    assert uin_filter_violations("3890274635") == ("sequence_limit",)
    assert uin_filter_violations("3890274635", UinPolicy(sequence_wraps=False)) == ()
    assert vid_acceptable("3901725836402957")  # VidFilterUtils: SEQ_ASC = "0123456789"
    assert uin_filter_violations("3901725836402957", VidPolicy(sequence_wraps=True)) == ("sequence_limit",)


def test_restricted_numbers_and_prefixes_are_configurable() -> None:
    policy = UinPolicy(restricted_numbers="786,666,9384", not_start_with=["0", "1", "30"])
    assert policy.restricted_numbers == ("786", "666", "9384")
    assert uin_filter_violations(VALID_UIN, policy) == ("not_start_with", "restricted_numbers")
    assert UinPolicy(restricted_numbers="").restricted_numbers == ()  # MOSIP's [""] pitfall avoided


def test_cyclic_numbers_are_mosips() -> None:
    assert CYCLIC_NUMBERS[0] == "142857"
    assert all(len(c) in (6, 16, 18, 22, 28, 46, 58, 60, 96) for c in CYCLIC_NUMBERS)
    # 1/17's period, inside a 20-digit number, with the other filters off.
    policy = UinPolicy(
        length=20, sequence_limit=0, repeating_limit=0, repeating_block_limit=0,
        conjugative_even_digits_limit=0, restricted_numbers=(), not_start_with=(),
    )
    assert uin_filter_violations("90588235294117647123", policy) == ("cyclic_numbers",)


@pytest.mark.parametrize(
    "kwargs",
    [{"length": 2}, {"length": 65}, {"digits_limit": 11}, {"restricted_numbers": ("78a",)},
     {"not_start_with": ("١",)}, {"length": "10"}, {"sequence_limit": True}],
)
def test_bad_policies_are_refused(kwargs: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        UinPolicy(**kwargs)


POLICIES = [
    DEFAULT_UIN_POLICY,
    DEFAULT_VID_POLICY,
    UinPolicy(length=8),
    UinPolicy(length=12, repeating_block_limit=3, sequence_limit=4),
    UinPolicy(length=7, repeating_limit=3, conjugative_even_digits_limit=4, restricted_numbers=("2024", "99")),
    UinPolicy(length=10, repeating_limit=0, not_start_with=("0", "1", "97")),
    VidPolicy(length=20),
]


@settings(max_examples=300)
@given(st.sampled_from(POLICIES), st.data())
@example(DEFAULT_UIN_POLICY, None)
def test_fast_check_agrees_with_mosip_literal_check(policy: UinPolicy, data: st.DataObject | None) -> None:
    """uin_acceptable (fast) == no violation found by the filter-by-filter MOSIP-regex check."""
    if data is None:
        candidates = [VALID_UIN, "3434343434", "4345665434"]
    else:
        alphabet = data.draw(st.sampled_from([DIGITS, "2468", "0123", "13579", "786"]))
        candidates = [data.draw(st.text(alphabet=alphabet, min_size=policy.length, max_size=policy.length))]
        candidates.append(data.draw(st.text(alphabet=DIGITS, min_size=policy.length, max_size=policy.length)))
    for s in candidates:
        assert uin_acceptable(s, policy) == (uin_filter_violations(s, policy) == ()), s


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "count"),
    [(p, 3000) for p in POLICIES]
    + [(UinPolicy(length=4, digits_limit=0, reverse_digits_limit=0), 50), (UinPolicy(length=17), 3000),
       (UinPolicy(length=30), 100)],
)
def test_generated_numbers_pass_every_filter_and_verhoeff(policy: UinPolicy, count: int) -> None:
    numbers = generate_uins(count, policy)
    assert len(numbers) == len(set(numbers)) == count
    for s in numbers:
        assert len(s) == policy.length
        assert s.isascii() and s.isdigit()
        assert uin_filter_violations(s, policy) == (), s
        assert verhoeff_valid(s), s
        assert is_valid_uin(s, policy)
        assert not s.startswith(policy.not_start_with)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**64), st.sampled_from(POLICIES))
def test_generate_uin_with_any_seed(seed: int, policy: UinPolicy) -> None:
    s = generate_uin(policy, rng=random.Random(seed))
    assert uin_filter_violations(s, policy) == () and verhoeff_valid(s)
    assert s == generate_uin(policy, rng=random.Random(seed))  # reproducible with a seeded rng


def test_large_sample_of_default_uins() -> None:
    numbers = generate_uins(100_000)
    assert len(set(numbers)) == 100_000
    assert all(uin_acceptable(s) and verhoeff_valid(s) and s[0] not in "01" and len(s) == 10 for s in numbers)


@pytest.mark.parametrize("length", [8, 9, 10, 11, 12, 14, 16])
def test_configured_lengths(length: int) -> None:
    policy = UinPolicy(length=length)
    for s in [generate_uin(policy) for _ in range(50)] + generate_uins(500, policy):
        assert len(s) == length and s[0] not in "01" and verhoeff_valid(s) and uin_acceptable(s, policy)


def test_randomness_sanity() -> None:
    first = Counter(s[0] for s in generate_uins(10_000))
    assert set(first) == set("23456789")
    assert min(first.values()) > 500  # ~1,250 expected for each digit
    # Independent single draws: at 16 digits a repeat among 10,000 would mean a broken source.
    singles = [generate_uin(UinPolicy(length=16)) for _ in range(10_000)]
    assert len(set(singles)) == 10_000
    # Every position takes every digit (the check digit included).
    for pos in range(10):
        assert len({s[pos] for s in generate_uins(2000)}) >= (8 if pos == 0 else 10)


def _acceptable_set(policy: UinPolicy, first_digits: str) -> list[str]:
    out = []
    for first in first_digits:
        for rest in range(10 ** (policy.length - 2)):
            body = first + str(rest).zfill(policy.length - 2)
            number = body + verhoeff_check_digit(body)
            if uin_filter_violations(number, policy) == ():
                out.append(number)
    return out


def _chi2_ok(observed: Counter, expected: dict[str, float]) -> bool:
    df = len(expected) - 1
    stat = sum((observed.get(k, 0) - e) ** 2 / e for k, e in expected.items())
    return stat < df + 6 * (2 * df) ** 0.5 + 10


def test_generation_is_uniform_over_acceptable_numbers() -> None:
    """Rejection sampling keeps uniformity: compare with the enumerated acceptable set.

    Seven digits (two blocks of three, the table-driven fast path) and, to keep enumeration
    cheap, only numbers starting with 9.
    """
    policy = UinPolicy(length=7, not_start_with=tuple("012345678"))
    universe = _acceptable_set(policy, "9")
    assert len(universe) > 5000
    # Independent draws (repeats allowed), in bulk: generate_uins would de-duplicate each batch.
    drawn = _engine(policy).generate(20 * len(universe), random.Random(20240601), unique=False)
    members = set(universe)
    assert all(s in members for s in drawn)
    n = len(drawn)
    # Each position's digit distribution matches the exact one.
    for pos in range(policy.length):
        exact = Counter(s[pos] for s in universe)
        expected = {d: n * c / len(universe) for d, c in exact.items()}
        assert _chi2_ok(Counter(s[pos] for s in drawn), expected), pos
    # And the whole distribution (about 20 draws per number).
    expected_each = n / len(universe)
    assert _chi2_ok(Counter(drawn), {s: expected_each for s in universe})


def test_generation_covers_a_small_space_completely() -> None:
    policy = UinPolicy(length=4, digits_limit=0, reverse_digits_limit=0)
    universe = set(_acceptable_set(policy, "23456789"))
    rng = random.Random(7)
    seen = {generate_uin(policy, rng=rng) for _ in range(40 * len(universe))}
    assert seen == universe


def test_generate_uins_edge_cases() -> None:
    assert generate_uins(0) == []
    with pytest.raises(ValueError):
        generate_uins(-1)
    with pytest.raises(ValueError):
        generate_uins(1, UinPolicy(length=5, digits_limit=0, reverse_digits_limit=0, not_start_with=tuple(DIGITS)))
    tiny = UinPolicy(length=4, digits_limit=0, reverse_digits_limit=0)
    with pytest.raises(RuntimeError):  # asks for more distinct numbers than the policy allows
        generate_uins(5000, tiny)


# ---------------------------------------------------------------------------------------------
# VIDs
# ---------------------------------------------------------------------------------------------


def test_vid_format() -> None:
    for vid in [generate_vid() for _ in range(200)] + generate_vids(2000):
        assert len(vid) == 16 and vid.isascii() and vid.isdigit()
        assert vid[0] not in "01"
        assert verhoeff_valid(vid)
        assert vid_acceptable(vid)
        assert is_valid_vid(vid)
        assert uin_filter_violations(vid, DEFAULT_VID_POLICY) == ()
        assert not is_valid_uin(vid)  # wrong length for a UIN


def test_vid_filters_are_mosips_vid_filters() -> None:
    # VidFilterUtils has no even-digit, first/last-digits or cyclic-number filter.
    assert vid_acceptable("3948613752419507")  # "486" would fail a UIN
    assert uin_filter_violations("3948613752419507", DEFAULT_VID_POLICY) == ()
    assert uin_filter_violations("3948613752419577", DEFAULT_VID_POLICY) == ("repeating_limit",)


# ---------------------------------------------------------------------------------------------
# Input validation never raises and rejects anything malformed
# ---------------------------------------------------------------------------------------------

MALFORMED = [
    "", " ", "302938475", "30293847560", "302938475a", "3O29384756", "３０２９３８４７５６", "٣٠٢٩٣٨٤٧٥٦",
    "१२३४५६७८९०", "١٢٣", "+302938475", "-302938475", "3029384756\n", " 3029384756", "3029 384756",
    "3029384757", "3029384754", "0029384756", "²029384756", None, 3029384756, 3029384756.0,
    b"3029384756", ["3029384756"], object(),
]


BAD_CHECK_DIGIT = ("3029384757", "3029384754")


@pytest.mark.parametrize("bad", MALFORMED)
def test_validators_reject_malformed(bad: object) -> None:
    assert is_valid_uin(bad) is False
    assert is_valid_uin(bad, strict=False) is False
    assert is_valid_vid(bad) is False
    if bad not in BAD_CHECK_DIGIT:  # the filters do not look at the check digit (as in MOSIP)
        assert uin_acceptable(bad) is False  # type: ignore[arg-type]
        assert vid_acceptable(bad) is False  # type: ignore[arg-type]


@given(st.text())
def test_validators_never_raise(text: str) -> None:
    for f in (is_valid_uin, is_valid_vid, uin_acceptable, vid_acceptable, verhoeff_valid):
        assert f(text) in (True, False)
    uin_filter_violations(text)


def test_bad_check_digit_rejected_for_generated_numbers() -> None:
    for number, check in ((generate_uin(), is_valid_uin), (generate_vid(), is_valid_vid)):
        for d in DIGITS.replace(number[-1], ""):
            assert not check(number[:-1] + d)


def test_non_strict_validation_keeps_numbers_issued_under_an_older_policy() -> None:
    body = "302978629"
    number = body + verhoeff_check_digit(body)  # holds 786, a restricted number
    assert verhoeff_valid(number)
    assert not is_valid_uin(number)
    assert is_valid_uin(number, strict=False)
    assert not is_valid_uin("1" + number[1:], strict=False)  # the first-digit rule always holds


# ---------------------------------------------------------------------------------------------
# Partner-specific tokens and OIDC pairwise subjects
# ---------------------------------------------------------------------------------------------

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))


def test_partner_token_format_and_stability() -> None:
    token = partner_token(SECRET, VALID_UIN, "bank-a")
    assert len(token) == PARTNER_TOKEN_LENGTH == 36
    assert token.isascii() and token.isdigit()
    assert token == partner_token(SECRET, VALID_UIN, "bank-a")
    assert token == partner_token(bytearray(SECRET), VALID_UIN, "bank-a")


def test_partner_tokens_differ_across_partners_people_and_secrets() -> None:
    uins = generate_uins(50)
    partners = ["bank-a", "bank-b", "tax-office", "hospital-1", "Bank-A"]
    tokens = {(u, p): partner_token(SECRET, u, p) for u in uins for p in partners}
    assert len(set(tokens.values())) == len(tokens)
    for u in uins:
        for p in partners:
            assert partner_token(OTHER_SECRET, u, p) != tokens[(u, p)]


def test_partner_token_encoding_is_unambiguous() -> None:
    # Plain concatenation (as in MOSIP's salted hash) would make these equal.
    assert partner_token(SECRET, "30293", "84756x") != partner_token(SECRET, "3029384756", "x")
    assert partner_token(SECRET, "3029384756", "ab") != partner_token(SECRET, "3029384756a", "b")


@pytest.mark.parametrize(
    "args",
    [(b"short", VALID_UIN, "p"), ("not-bytes" * 4, VALID_UIN, "p"), (SECRET, "", "p"), (SECRET, VALID_UIN, ""),
     (SECRET, None, "p"), (SECRET, VALID_UIN, None)],
)
def test_partner_token_rejects_bad_arguments(args: tuple) -> None:
    with pytest.raises((ValueError, TypeError)):
        partner_token(*args)


def test_pairwise_sub() -> None:
    sub = pairwise_sub(SECRET, VALID_UIN, "rp.example.org")
    assert len(sub) == 43 and sub.isascii()
    assert base64.urlsafe_b64decode(sub + "=") and "=" not in sub
    assert sub == pairwise_sub(SECRET, VALID_UIN, "RP.Example.ORG")  # host names ignore case
    assert sub != pairwise_sub(SECRET, VALID_UIN, "other.example.org")
    assert sub != pairwise_sub(OTHER_SECRET, VALID_UIN, "rp.example.org")
    assert sub != pairwise_sub(SECRET, "3029384757", "rp.example.org")
    # Domain separation: not the partner token of the same pair in another encoding.
    token = int(partner_token(SECRET, VALID_UIN, "rp.example.org"))
    assert int.from_bytes(base64.urlsafe_b64decode(sub + "="), "big") % 10**36 != token
    with pytest.raises(ValueError):
        pairwise_sub(SECRET, VALID_UIN, "")
