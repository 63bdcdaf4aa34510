"""Text analysis shared by both rankers, for the indexed texts and the questions alike:
words, stop words dropped, Snowball stems, diacritics folded (so that "pensión", "pension"
and a question typed without accents meet), and the language of a question (lingua)."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

LANGS = ("en", "fr", "es", "pt", "ar")
_STEMMER_NAMES = {"en": "english", "fr": "french", "es": "spanish", "pt": "portuguese", "ar": "arabic"}
_WORD = re.compile(r"\w+", re.UNICODE)
_ARABIC = re.compile(r"[\u0600-\u06FF]")
_ARABIC_MARKS = re.compile(r"[\u064B-\u065F\u0670\u0640]")  # harakat, dagger alif, tatweel

# Short lists: question words and glue that say nothing about which service is meant.
STOP = {
    "en": set("""a an the and or of to in on for with by at from is are was be been am i me my we our you your he she
        his her it its they them their this that these those what how where when who which do does did can could should
        would want need get got have has had there here about please help so if not no yes just now new as up out one
        an into any some""".split()),
    "fr": set("""le la les l un une des du de d et ou à a au aux en dans sur pour par avec est sont suis je j me m mon ma
        mes nous notre vous votre il elle son sa ses ils elles leur ce cet cette ces que qu qui quoi comment où quand
        faire fait dois doit peux peut veux voudrais besoin ai as avoir être y ne pas plus se s c est-ce bonjour svp
        merci moi""".split()),
    "es": set("""el la los las lo un una unos unas de del y o a al en por para con es son soy estoy yo me mi mis nos
        nuestro nuestra usted su sus él ella ellos ellas este esta estos estas ese esa que qué quien cómo como dónde
        donde cuándo cuando hacer hago debo puedo quiero necesito tengo hay se le les si no más muy hola gracias""".split()),
    "pt": set("""o a os as um uma uns umas de do da dos das e ou em no na nos nas por para com é são sou estou eu me meu
        minha meus minhas nós nosso nossa você seu sua seus suas ele ela eles elas este esta isso esse essa que quem
        como onde quando fazer faço devo posso quero preciso tenho há se lhe não mais muito olá obrigado pra pro""".split()),
    "ar": set("""في من على إلى الى عن مع هل ما ماذا كيف أين اين متى من هذا هذه ذلك التي الذي أنا انا نحن أنت انت هو هي
        لي لدي عندي أريد اريد أحتاج احتاج يجب أستطيع استطيع أن ان أو او و ثم كل لا نعم قد لقد كان كانت يا""".split()),
}


def fold(word: str) -> str:
    """Lower case, without diacritics (Latin accents; Arabic short vowels and letter variants)."""
    word = word.lower()
    if _ARABIC.search(word):
        word = _ARABIC_MARKS.sub("", word)
        return word.translate(str.maketrans("أإآٱىة", "اااايه"))
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


_local = threading.local()  # Snowball stemmers keep state: one per thread and language


def _stemmer(lang: str):
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    if lang not in stemmers:
        stemmers[lang] = snowballstemmer.stemmer(_STEMMER_NAMES[lang])
    return stemmers[lang]


_STOP_FOLDED = {lang: {fold(w) for w in words} for lang, words in STOP.items()}


@lru_cache(maxsize=65536)
def term(word: str, lang: str) -> str | None:
    """The index term of one lower-case word (None: a stop word, a number or too short).
    Memoised: Snowball is pure Python, and people's words repeat."""
    if word.isdigit() or fold(word) in _STOP_FOLDED[lang]:
        return None
    stem = fold(_stemmer(lang).stemWord(word))
    return stem if len(stem) > 1 else None


def terms(text: str, lang: str) -> list[str]:
    """The index terms of a text in one language."""
    return [t for t in (term(word, lang) for word in _WORD.findall(text.lower())) if t is not None]


# -- the language of a question ------------------------------------------------------------------

_detector = None
_detector_lock = threading.Lock()


def _lingua():
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                from lingua import Language, LanguageDetectorBuilder

                _detector = LanguageDetectorBuilder.from_languages(
                    Language.ENGLISH, Language.FRENCH, Language.SPANISH, Language.PORTUGUESE, Language.ARABIC,
                ).with_minimum_relative_distance(0.05).build()
    return _detector


_ISO = {"ENGLISH": "en", "FRENCH": "fr", "SPANISH": "es", "PORTUGUESE": "pt", "ARABIC": "ar"}


@lru_cache(maxsize=4096)
def detect(text: str) -> str | None:
    """The language of a question among the five, or None when it is too short or ambiguous
    to tell (the caller then keeps the page's language)."""
    letters = sum(c.isalpha() for c in text)
    if _ARABIC.search(text) and sum(bool(_ARABIC.match(c)) for c in text) * 2 >= letters:
        return "ar"
    words = [w for w in _WORD.findall(text) if not w.isdigit()]
    if letters < 8 or len(words) < 2:
        return None
    language = _lingua().detect_language_of(text)
    return _ISO[language.name] if language is not None else None
