"""Demographic deduplication: name normalisation, phonetic keys, blocking keys, scoring.

Pure functions, no database and no I/O. The identity service calls:

* :func:`blocking_keys` on a new enrolment, stores the keys (as keyed HMAC blind indexes) for
  every issued person, and fetches the people who share at least one key with the new one;
* :func:`score` on each candidate pair and :func:`classify` on the result: ``"duplicate"`` is
  refused with a pointer to the existing record, ``"review"`` goes to an operator, ``"distinct"``
  is ignored.

Pipeline for a name (:func:`normalise_name`, then :func:`phonetic_key`)::

    "Mohammed Al-Hassan"  -> "mohammed hassan"  -> MHMT  HSN
    "محمد الحسن"          -> "mhmd hsn"         -> MHMT  HSN
    "Muhammad al Hasan"   -> "muhammad hasan"   -> MHMT  HSN

Transliteration uses ``anyascii`` (ISC licence, per-code-point tables for every script, no
native dependency). ``Unidecode`` is GPL-2.0 and ``text-unidecode`` is Artistic/GPL, both awkward
for an Apache-2.0 project; ICU is a large native library. ``anyascii`` renders abjads and
abugidas without the vowels the script does not write (Arabic "محمد" -> "mhmd", Devanagari
"रवि" -> "rvi"), so English-oriented phonetic codes (Soundex, Metaphone, NYSIIS in
``jellyfish``) disagree across scripts: Metaphone gives "AMT" for "Ahmed" but "HMT" for "أحمد",
"YSF" for "Youssef" but "SF" for "يوسف". :func:`phonetic_key` is therefore a small
*consonant skeleton* designed for transliterated names: vowels (and y, medial w) dropped, Latin
digraphs folded (ph→f, kh→h, sh→s, th→t, ...), near consonants merged (b/p, f/v, c/k/q/g, d/t,
s/z), double letters collapsed. It is deliberately coarse: it is used to *find* candidates and
as one signal of several in the score, never alone to decide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from typing import Any, Iterable, Literal, Mapping, NamedTuple, Sequence

from anyascii import anyascii
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

__all__ = [
    "Name",
    "Demographics",
    "MatchResult",
    "Thresholds",
    "DEFAULT_THRESHOLDS",
    "WEIGHTS",
    "Decision",
    "Match",
    "normalise_name",
    "phonetic_key",
    "name_key",
    "blocking_keys",
    "score",
    "classify",
    "rank",
]

Decision = Literal["duplicate", "review", "distinct"]

# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """One written form of a person's name: ``language`` is a BCP 47 / ISO 639 tag (``en``,
    ``ar``, ``ru-Cyrl``, ``hin``); it is informational, the script is detected from the text."""

    language: str
    given: str
    family: str = ""


_SEX = {
    "m": "M", "male": "M", "man": "M",
    "f": "F", "female": "F", "woman": "F",
    "x": "X", "o": "X", "other": "X", "intersex": "X",
}


@dataclass(frozen=True)
class Demographics:
    """A person's demographics as the identity service passes them.

    ``names`` is one :class:`Name` per script/language (the same person written in Latin and
    Arabic, say); dicts ``{language, given, family}`` are accepted too. ``birth_date`` must be a
    full ISO date ``YYYY-MM-DD`` (a ``datetime.date`` is accepted): a partial date would make the
    date-based blocking keys impossible, so the service records unknown days/months by its own
    convention (commonly 1 January) and the day/month-swap tolerance absorbs some of that.
    ``sex`` is ``male``/``female``/``other`` (or M/F/X; empty = unknown). ``parents`` are UINs.
    """

    names: Sequence[Name]
    birth_date: str
    sex: str | None = None
    birth_place: str | None = None
    parents: Sequence[str] = ()

    def __post_init__(self) -> None:
        names = tuple(_as_name(n) for n in self.names)
        if not names:
            raise ValueError("at least one name is required")
        object.__setattr__(self, "names", names)
        bd = self.birth_date
        if isinstance(bd, date):
            bd = bd.isoformat()
        if not (isinstance(bd, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", bd)):
            raise ValueError(f"birth_date must be a full ISO date YYYY-MM-DD, got {self.birth_date!r}")
        date.fromisoformat(bd)  # raises ValueError on 2001-02-30
        object.__setattr__(self, "birth_date", bd)
        sex = (self.sex or "").strip().casefold()
        object.__setattr__(self, "sex", _SEX.get(sex, "X") if sex else None)
        object.__setattr__(self, "parents", tuple(p for p in (self.parents or ()) if p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Demographics":
        return cls(
            names=[_as_name(n) for n in data["names"]],
            birth_date=data["birth_date"],
            sex=data.get("sex"),
            birth_place=data.get("birth_place"),
            parents=tuple(data.get("parents") or ()),
        )

    @cached_property
    def _features(self) -> "_Features":
        return _features(self)


def _as_name(n: Name | Mapping[str, Any]) -> Name:
    if isinstance(n, Name):
        return n
    return Name(str(n.get("language", "")), str(n.get("given", "") or ""), str(n.get("family", "") or ""))


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

# Titles and honorifics dropped from names (after transliteration, so "г-н" etc. would need
# adding in transliterated form). Dropped only when the name has another token left.
_HONORIFICS = frozenset(
    "mr mrs ms miss mx dr prof sir madam mme mlle sheikh shaikh sheik haji hajji hadji alhaji "
    "sri shri shree smt jr sr ii iii iv".split()
)
# Arabic connectives: the article (al/el/ul, written separately) and "son/daughter of".
_PARTICLES = frozenset("al el ul bin ibn bint binti bn bnt".split())
# Arabic article joined by a hyphen, including sun-letter assimilations (ar-Rashid, as-Sayed).
_HYPHEN_ARTICLE = re.compile(r"\b(?:al|el|ul|ar|as|ad|at|az|an|ash|ad|ud|ur|us|un)-(?=[a-z])")
_ARABIC_ABD_ARTICLE = re.compile(r"عبد\s*ال")  # عبدالله / عبد الرحمن -> عبد له / عبد رحمن
_ARABIC_ARTICLE = re.compile(r"(?<![\u0621-\u064A])ال(?=[\u0621-\u064A]{2})")
# Devanagari letters that anyascii renders in a way Latin spellings never use.
_DEVANAGARI = str.maketrans({"च": "ch", "छ": "chh", "ं": "n", "ँ": "n"})
_ARABIC_H = frozenset("هح")
_FORMS_DIGRAPH = frozenset("sztdkbgjcp")
_APOSTROPHES = str.maketrans("", "", "'`")
_NON_LETTERS = re.compile(r"[^a-z]+")


def _transliterate(s: str) -> str:
    """anyascii, but a caseless script written syllable by syllable (Chinese, Korean) gets a
    space between syllables ("GimMinJun" -> "Gim Min Jun"), so tokens line up with Latin."""
    if s.isascii():
        return s
    if "\u0600" <= max(s) and ("ال" in s or "عبد" in s):
        s = _ARABIC_ABD_ARTICLE.sub("عبد ", s)
        s = _ARABIC_ARTICLE.sub("", s)
    s = s.translate(_DEVANAGARI)
    out: list[str] = []
    last = ""  # last letter written
    for ch in s:
        t = ch if ch.isascii() else anyascii(ch)
        if len(t) > 1 and t[0].isupper() and ch.lower() == ch.upper():
            t = f" {t} "
        elif ch in _ARABIC_H and last in _FORMS_DIGRAPH:
            t = "a" + t  # ز+ه is "zah" (Zahra), not the digraph "zh"
        out.append(t)
        if t:
            last = t[-1]
    return "".join(out)


@lru_cache(maxsize=1 << 17)
def normalise_name(text: str) -> str:
    """Normalise a name (or place) written in any script to lower-case ASCII words.

    NFKC, casefold, transliterate to ASCII with ``anyascii`` (which also strips diacritics),
    drop apostrophes (O'Brien, Ol'ga, hamza/ayn marks), turn every other non-letter (digits,
    punctuation, hyphens) into a space, drop the Arabic article (``al-``, ``el-``, ``ال``) and
    "bin/ibn", drop honorifics (Mr, Dr, Sheikh, Shri, ...) unless nothing else is left, collapse
    whitespace. Idempotent; the result matches ``[a-z]+( [a-z]+)*`` or is empty.

    Spelling variants (Mohammed/Muhammad, ph/f, double letters) are *not* rewritten here: that
    is the job of :func:`phonetic_key`, so the normalised text keeps the evidence that two
    spellings are identical rather than merely alike.
    """
    s = unicodedata.normalize("NFKC", text).casefold()
    s = _transliterate(s).lower().translate(_APOSTROPHES)
    s = _HYPHEN_ARTICLE.sub("", s)
    tokens = _NON_LETTERS.sub(" ", s).split()
    kept = [t for t in tokens if t not in _HONORIFICS and t not in _PARTICLES]
    return " ".join(kept or tokens)


# --------------------------------------------------------------------------------------------
# Phonetic key (consonant skeleton)
# --------------------------------------------------------------------------------------------

_ABD = re.compile(r"^abd(?:[aeiou]{1,2}[lrsntdz])(?=[a-z]{2}|$)")  # abdul-, abdel-, abdur-, abdus-
_DIGRAPHS = (
    ("ngh", "n"),  # Singh ~ सिंह (sinh)
    ("sch", "s"), ("shch", "s"), ("sh", "s"), ("zh", "j"), ("ch", "C"),
    ("ph", "f"), ("th", "t"), ("dh", "d"), ("kh", "H"), ("gh", "g"), ("bh", "b"), ("jh", "j"),
    ("ck", "k"), ("x", "ks"), ("q", "k"),
)
_SOFT_C = re.compile(r"c(?=[eiy])")
_FINAL_H = re.compile(r"h+$")
_VOWELS = re.compile(r"[aeiouyw]")
_CLASSES = str.maketrans({
    "b": "B", "p": "B", "f": "F", "v": "F", "c": "K", "k": "K", "g": "K", "d": "T", "t": "T",
    "s": "S", "z": "S", "j": "J", "l": "L", "m": "M", "n": "N", "r": "R", "h": "H",
})
_RUNS = re.compile(r"(.)\1+")


@lru_cache(maxsize=1 << 17)
def phonetic_key(token: str) -> str:
    """Consonant skeleton of one normalised name token (see the module docstring).

    Classes: B (b p), F (f v ph, initial w), K (c k q g gh), T (d t th dh), S (s z sh sch),
    J (j zh jh), C (ch, Devanagari च), H (h kh), L, M, N, R. Vowels, y and non-initial w are
    dropped (abjads and abugidas do not write them consistently), a final h is dropped (ة, the
    silent h of Sarah/Fatimah), the Arabic article after "abd" is dropped (Abdul Rahman ~
    عبد الرحمن), runs of one class collapse (double letters, Popov -> BF).
    """
    t = _ABD.sub("abd", token)
    for a, b in _DIGRAPHS:
        if a in t:
            t = t.replace(a, b)
    t = _SOFT_C.sub("s", t)
    t = _FINAL_H.sub("", t) or t
    if t.startswith("w"):
        t = "v" + t[1:]
    t = _VOWELS.sub("", t)
    return _RUNS.sub(r"\1", t.translate(_CLASSES))


@lru_cache(maxsize=1 << 17)
def name_key(normalised: str) -> str:
    """Skeleton of a whole normalised name field: tokens keyed one by one, then joined, so
    "abdul rahman", "abdulrahman" and "abd rahman" agree; runs collapse across the joins."""
    return _RUNS.sub(r"\1", "".join(phonetic_key(t) for t in normalised.split()))


# --------------------------------------------------------------------------------------------
# Features (computed once per Demographics object)
# --------------------------------------------------------------------------------------------


class _Field(NamedTuple):
    norm: str  # normalised words
    compact: str  # without spaces
    key: str  # consonant skeleton


class _Version(NamedTuple):
    script: str
    given: _Field
    family: _Field


class _Features(NamedTuple):
    versions: tuple[_Version, ...]
    ymd: tuple[int, int, int]
    sex: str | None
    place: _Field | None
    parents: frozenset[str]


def _field(text: str) -> _Field:
    norm = normalise_name(text or "")
    return _Field(norm, norm.replace(" ", ""), name_key(norm))


def _script(text: str) -> str:
    for ch in text:
        if ch.isalpha():
            if ch.isascii():
                return "LATIN"
            try:
                return unicodedata.name(ch).split(" ", 1)[0]
            except ValueError:
                return "?"
    return "?"


def _features(d: Demographics) -> _Features:
    versions: dict[tuple, _Version] = {}
    for n in d.names:
        g, f = _field(n.given), _field(n.family)
        if not g.norm and not f.norm:
            continue
        if not g.norm:  # a mononym put in the family slot
            g, f = f, g
        v = _Version(_script(n.given + n.family), g, f)
        versions.setdefault((v.script, g, f), v)
    y, m, dd = (int(x) for x in d.birth_date.split("-"))
    place = _field(d.birth_place) if d.birth_place and normalise_name(d.birth_place) else None
    return _Features(tuple(versions.values()), (y, m, dd), d.sex, place, frozenset(d.parents))


# --------------------------------------------------------------------------------------------
# Blocking
# --------------------------------------------------------------------------------------------

_KEY_LEN = 8  # skeleton characters kept in a key


def blocking_keys(d: Demographics) -> set[str]:
    """Short strings such that a true duplicate very likely shares at least one with the original.

    For each written form of the name (deduplicated; forms in different scripts usually give
    the same skeletons), with ``G``/``F`` the consonant skeletons of the given and family names
    (first 8 classes), ``P`` the pair ``min(G,F).max(G,F)`` (order-free), ``Y``/``M``/``D`` the
    birth year, month and day, ``DM`` day and month in ascending numeric order (1990-03-07 and
    1990-07-03 agree) and ``S`` the sex::

        m:{P}:{Y}-{M}            name + year and month        (survives a wrong day)
        y:{P}:{Y}:{D}            name + year and day          (survives a wrong month)
        d:{P}:{DM}               name + day and month, any year (a wrong year; a 1 January
                                 placeholder date adds the decade, see below)
        b:{G}:{Y}{DM}            given name + birth date
        b:{F}:{Y}{DM}            family name + birth date (same prefix: a given/family swap
                                 turns one into the other)
        i:{Y}{DM}:{S}:{G0}{F0}   birth date + sex + first consonant class of each name (sorted)

    What each survives besides script changes and spelling variants that keep the skeleton
    (Mohammed/Muhammad, Olga/Ольга, Singh/सिंह): a given/family swap and a day/month swap
    (all of them); one wrong digit or a day/year off by one in the birth date (``m:``, ``y:``
    or ``d:``); a given or family name spelt beyond the skeleton or changed, e.g. by marriage
    (the ``b:`` of the other name); both names spelt differently but with the same first
    consonants (``i:``). Not survived: an error in the date *and* one in a name skeleton at
    once, or a 1 January placeholder date against the real one.

    Breadth at 1,000,000 people born over 80 years (~29,000 dates, ~34 people a day): ``b:``
    holds the people born that day whose given or family name sounds the same; ``i:`` those
    born that day with the same sex and initials (~34 / 2 / ~50 pairs); ``m:``/``y:`` the
    namesakes born that month / on that day number of the year; ``d:`` the namesakes born on
    that day of the year over all years, the broadest for very common names (~1/366 of the
    namesakes). 1 January gathers the unknown birthdays, so for that date ``d:`` also carries
    the decade. No key is a bare year, date or name. Six keys per distinct name form: usually
    six in all, up to twelve for a person whose scripts disagree.
    """
    f = d._features
    y, m, dd = f.ymd
    lo, hi = sorted((m, dd))
    dm = f"{lo:02d}{hi:02d}"
    any_year = f"{dm}:{y // 10}" if dm == "0101" else dm
    sex = f.sex or "U"
    keys: set[str] = set()
    for v in f.versions:
        g = _short(v.given)
        fam = _short(v.family) if v.family.norm else ""
        pair = ".".join(sorted((g, fam))) if fam else g
        initials = "".join(sorted(g[0] + (fam[:1] or "_")))
        keys.add(f"m:{pair}:{y}-{m:02d}")
        keys.add(f"y:{pair}:{y}:{dd:02d}")
        keys.add(f"d:{pair}:{any_year}")
        keys.add(f"i:{y}{dm}:{sex}:{initials}")
        for part in (g, fam):
            if part:
                keys.add(f"b:{part}:{y}{dm}")
    if not keys:  # no name left after normalisation (digits, punctuation): date and sex only
        keys.add(f"i:{y}{dm}:{sex}:__")
    return keys


def _short(fld: _Field) -> str:
    # A name with no consonant at all ("Ai", "Eya") keys on its letters instead.
    return fld.key[:_KEY_LEN] if fld.key else "~" + fld.compact[:4]


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------

#: Weight of each field in the total. A field missing on either side is left out and the
#: remaining weights renormalised, so a missing birth place neither helps nor hurts.
WEIGHTS: Mapping[str, float] = {
    "name": 0.55,
    "birth_date": 0.22,
    "parents": 0.13,
    "sex": 0.05,
    "birth_place": 0.05,
}

_SWAP_PENALTY = 0.97  # given/family swapped: a little weaker than the fields in their slots


@dataclass(frozen=True)
class MatchResult:
    """``total`` in [0, 1] and its components (each in [0, 1], ``None`` when a side lacks the
    field). ``flags`` explain the decision:

    * ``cross-script`` - the best name agreement is between different scripts;
    * ``name-swapped`` - given and family names are swapped;
    * ``day-month-swapped`` - the birth dates agree once day and month are swapped;
    * ``sex-differs``;
    * ``shared-parent`` / ``parents-disjoint`` - both list parents, and share one / none;
    * ``possible-sibling`` - a shared parent but given names that are not spelt the same:
      twins and siblings, never a duplicate without an operator.
    """

    total: float
    name: float
    birth_date: float
    sex: float | None = None
    birth_place: float | None = None
    parents: float | None = None
    flags: frozenset[str] = field(default_factory=frozenset)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": round(self.total, 4),
            "name": round(self.name, 4),
            "birth_date": round(self.birth_date, 4),
            "sex": self.sex,
            "birth_place": None if self.birth_place is None else round(self.birth_place, 4),
            "parents": self.parents,
            "flags": sorted(self.flags),
        }


def _phon_credit(a: str, b: str) -> float:
    """Agreement of two skeletons, discounted: equal skeletons are good but not proof of the
    same name, and short skeletons (Ali -> L) prove least. Unequal skeletons earn credit only
    when they are close (MHMT/MHT), none when half differs (HN/HSN)."""
    if not a or not b:
        return 0.0
    n = min(len(a), len(b))
    credit = 0.97 if n >= 3 else 0.93 if n == 2 else 0.88
    if a == b:
        return credit
    return credit * max(0.0, 2.0 * Levenshtein.normalized_similarity(a, b) - 1.0)


def _text_sim(a: _Field, b: _Field) -> float:
    """Mean of Jaro-Winkler (generous to short names) and Levenshtein (strict); for names of
    several words, also the token-sort ratio (reordered words) and, discounted, the token-set
    ratio (a middle name on one side only)."""
    if a.compact == b.compact:
        return 1.0
    sim = _strict_sim(a.compact, b.compact)
    if " " in a.norm or " " in b.norm:
        sim = max(sim, fuzz.token_sort_ratio(a.norm, b.norm) / 100, 0.9 * fuzz.token_set_ratio(a.norm, b.norm) / 100)
    return sim


def _strict_sim(a: str, b: str) -> float:
    return 1.0 if a == b else (JaroWinkler.normalized_similarity(a, b) + Levenshtein.normalized_similarity(a, b)) / 2


def _field_sim(a: _Field, b: _Field) -> float:
    if not a.norm and not b.norm:
        return 1.0
    if not a.norm or not b.norm:
        return 0.5  # one side has no family name: no evidence either way
    return max(_text_sim(a, b), _phon_credit(a.key, b.key))


def _name_score(fa: _Features, fb: _Features) -> tuple[float, set[str], float]:
    """Best name agreement over all written forms and both orders, the flags it raises, and
    how exactly the given names agree in the same script (for the sibling guard)."""
    best, flags = 0.0, set()
    given_exact_same, given_exact_cross = -1.0, 0.0
    for va in fa.versions:
        for vb in fb.versions:
            straight = _field_sim(va.given, vb.given) * _field_sim(va.family, vb.family)
            swapped = _field_sim(va.given, vb.family) * _field_sim(va.family, vb.given) * _SWAP_PENALTY
            s = max(straight, swapped)
            if s > best:
                best = s
                flags = set()
                if swapped > straight:
                    flags.add("name-swapped")
                if va.script != vb.script:
                    flags.add("cross-script")
            # The sibling guard: is the given name spelt the same, not merely alike?
            if va.script == vb.script:
                exact = max(_strict_sim(va.given.compact, vb.given.compact),
                            _strict_sim(va.given.compact, vb.family.compact))
                given_exact_same = max(given_exact_same, exact)
            else:
                same_key = len(va.given.key) >= 3 and va.given.key in (vb.given.key, vb.family.key)
                given_exact_cross = max(given_exact_cross, 1.0 if same_key else 0.0)
    exact = given_exact_same if given_exact_same >= 0 else given_exact_cross
    return best, flags, exact


def _date_score(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[float, set[str]]:
    """1 exact; 0.85 day and month swapped; 0.6 one slip (a digit of the day, month or year,
    the day or the year off by one); 0.5 swapped and one slip, or same year (±1) when one date
    is 1 January, the usual placeholder for an unknown birthday; 0.2 same year and month;
    0.1 same year; else 0."""
    (ya, ma, da), (yb, mb, db) = a, b
    if a == b:
        return 1.0, set()
    if ya == yb and ma == db and da == mb:
        return 0.85, {"day-month-swapped"}
    if _one_slip(a, b):
        return 0.6, set()
    if db <= 12 and _one_slip((ya, ma, da), (yb, db, mb)):
        return 0.5, {"day-month-swapped"}  # swapped and one slip
    if abs(ya - yb) <= 1 and ((ma, da) == (1, 1) or (mb, db) == (1, 1)):
        return 0.5, {"placeholder-date"}
    if ya == yb:
        return (0.2 if ma == mb else 0.1), set()
    return 0.0, set()


def _one_slip(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    (ya, ma, da), (yb, mb, db) = a, b
    same_y, same_m, same_d = ya == yb, ma == mb, da == db
    return bool(
        (same_m and same_d and (abs(ya - yb) == 1 or _one_digit_apart(ya, yb)))
        or (same_y and same_m and (abs(da - db) == 1 or _one_digit_apart(da, db)))
        or (same_y and same_d and _one_digit_apart(ma, mb))
    )


def _one_digit_apart(x: int, y: int) -> bool:
    sx, sy = f"{x:02d}", f"{y:02d}"
    return len(sx) == len(sy) and sum(c1 != c2 for c1, c2 in zip(sx, sy)) == 1


def score(a: Demographics, b: Demographics) -> MatchResult:
    """Compare two people field by field (see :data:`WEIGHTS`).

    * name: over every pair of written forms and both given/family orders, the product of the
      given-name and family-name similarities, each the larger of the text similarity of the
      normalised forms (``rapidfuzz`` Jaro-Winkler, token-sort ratio, token-set ratio for
      middle names) and the discounted agreement of the consonant skeletons (which is what
      makes "محمد" and "Mohammed" comparable). The product makes a shared common given name
      alone worth little;
    * birth date: 1 exact, 0.85 day/month swapped, 0.6 one slip of a digit or by one, 0.5 same
      year against a 1 January placeholder, 0.2 same month, 0.1 same year, else 0;
    * sex: 1 or 0; birth place: text or skeleton similarity; parents: 1 if a parent UIN is
      shared, 0 if both list parents and none is shared.
    """
    fa, fb = a._features, b._features
    name, flags, given_exact = _name_score(fa, fb)
    bd, date_flags = _date_score(fa.ymd, fb.ymd)
    flags |= date_flags
    parts: dict[str, float] = {"name": name, "birth_date": bd}
    sex = place = parents = None
    if fa.sex and fb.sex:
        sex = 1.0 if fa.sex == fb.sex else 0.0
        parts["sex"] = sex
        if not sex:
            flags.add("sex-differs")
    if fa.place and fb.place:
        place = max(_text_sim(fa.place, fb.place), _phon_credit(fa.place.key, fb.place.key))
        parts["birth_place"] = place
    if fa.parents and fb.parents:
        if fa.parents & fb.parents:
            parents = 1.0
            flags.add("shared-parent")
            if given_exact < 0.9:
                flags.add("possible-sibling")
        else:
            parents = 0.0
            flags.add("parents-disjoint")
        parts["parents"] = parents
    weight = sum(WEIGHTS[k] for k in parts)
    total = sum(WEIGHTS[k] * v for k, v in parts.items()) / weight
    return MatchResult(total, name, bd, sex, place, parents, frozenset(flags))


# --------------------------------------------------------------------------------------------
# Decision
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When a scored pair is a duplicate, worth an operator's look, or distinct.

    ``"duplicate"``: ``total >= duplicate``, ``name >= duplicate_name``, ``birth_date >=
    duplicate_birth_date`` (by default: the same date) and none of the flags in
    :attr:`BLOCKS_DUPLICATE`.
    ``"review"``: ``total >= review``, ``name >= review_name`` and ``birth_date >=
    review_birth_date``: the dates must be equal, swapped, one slip apart, or one of them a
    1 January placeholder. Namesakes born on other days of the same year are common (at a
    million people, most people with a common name have one) and are not sent to review.

    Tuned on the test data (tests/identity/test_matching.py; scores with the default weights):

    * the same person - Latin spelling variant, other script, given/family swap, birth place in
      another script - scores 0.93-1.0, name >= 0.85; the hardest cases, a cross-script-only
      pair whose given name has a one-class skeleton (Aisha -> S, Layla -> L) and a two-class
      family name, 0.88 with name 0.82: review, by design;
    * a day/month swap ~0.96: review, not duplicate - a namesake born on the swapped date is
      as likely as the typo (set ``duplicate_birth_date=0.85`` to refuse those too);
    * different people born the same day: at most 0.87, name at most 0.79 (same given name,
      similar family name: Priya Sharma / Priya Verma), so ``duplicate_name`` = 0.85 is the
      gate that keeps them out of "duplicate"; most score under 0.75;
    * namesakes born another day of the same year: distinct by ``review_birth_date``; with a
      one-slip date (a typo) ~0.9: review; twins and siblings are capped at review by the
      ``possible-sibling`` flag.
    """

    duplicate: float = 0.90
    review: float = 0.75
    duplicate_name: float = 0.85
    duplicate_birth_date: float = 1.0
    review_name: float = 0.6
    review_birth_date: float = 0.5

    BLOCKS_DUPLICATE = frozenset({"possible-sibling", "parents-disjoint", "sex-differs"})


DEFAULT_THRESHOLDS = Thresholds()


def classify(result: MatchResult, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Decision:
    """``"duplicate"`` (refuse, point at the existing record), ``"review"`` or ``"distinct"``.

    Twins and siblings (a shared parent, same birth date and family name, different given
    names) are kept out of ``"duplicate"`` by the ``possible-sibling`` flag even when their
    given names sound alike (Hassan/Hussein have one skeleton); different sexes and disjoint
    parents likewise go to review at most, as these may be data-entry errors.
    """
    t = thresholds
    if result.total < t.review or result.name < t.review_name or result.birth_date < t.review_birth_date:
        return "distinct"
    if (
        result.total >= t.duplicate
        and result.name >= t.duplicate_name
        and result.birth_date >= t.duplicate_birth_date
        and not (result.flags & t.BLOCKS_DUPLICATE)
    ):
        return "duplicate"
    return "review"


class Match(NamedTuple):
    reference: Any
    result: MatchResult
    decision: Decision


def rank(
    query: Demographics,
    candidates: Iterable[tuple[Any, Demographics]],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    include_distinct: bool = False,
) -> list[Match]:
    """Score ``query`` against ``(reference, demographics)`` candidates; duplicates first, then
    reviews, each by descending total; distinct ones are left out unless asked for."""
    order = {"duplicate": 0, "review": 1, "distinct": 2}
    out = []
    for ref, other in candidates:
        r = score(query, other)
        decision = classify(r, thresholds)
        if include_distinct or decision != "distinct":
            out.append(Match(ref, r, decision))
    out.sort(key=lambda m: (order[m.decision], -m.result.total))
    return out
