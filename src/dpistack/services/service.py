"""The catalogue of public services (institutions publish, anyone reads) and the finder:
a question in the person's words and language → the services that answer it."""

from __future__ import annotations

import json
import threading
import weakref
from importlib import resources
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.timeutil import utcnow
from dpistack.services import analysis
from dpistack.services.errors import NotThePublisher, UnknownService
from dpistack.services.interfaces import FIELDS, Ranker
from dpistack.services.models import PublicService
from dpistack.services.rank import Bm25Ranker, Fts5Ranker, fts5_available
from dpistack.services.schemas import LANGS, ServiceIn

DEFAULT_LANG = "en"


# -- the catalogue ---------------------------------------------------------------------------------

def publish(session: Session, publisher: str, service_id: str, body: ServiceIn) -> tuple[dict, bool]:
    """Create or replace a service; only its publisher may replace it. (view, created?)"""
    row = session.get(PublicService, service_id)
    now = utcnow()
    texts = {lang: text.model_dump() for lang, text in body.texts.items()}
    form = body.form.model_dump(exclude_none=True) if body.form is not None else None
    if row is None:
        row = PublicService(id=service_id, publisher=publisher, category=body.category, texts=texts, form=form,
                            revision=1, created_at=now, updated_at=now)
        session.add(row)
        created = True
    else:
        if row.publisher != publisher:
            raise NotThePublisher(service_id, row.publisher)
        row.category, row.texts, row.form, row.revision, row.updated_at = \
            body.category, texts, form, row.revision + 1, now
        created = False
    session.flush()
    return full_view(row), created


def _pick(row: PublicService, lang: str) -> str:
    """The language to show a service in: the one asked for, else English, else any it has."""
    if lang in row.texts:
        return lang
    return DEFAULT_LANG if DEFAULT_LANG in row.texts else sorted(row.texts)[0]


def view(row: PublicService, lang: str) -> dict[str, Any]:
    shown = _pick(row, lang)
    return {"id": row.id, "publisher": row.publisher, "category": row.category, "lang": shown,
            "languages": sorted(row.texts), **row.texts[shown], "form": row.form, "revision": row.revision,
            "updated_at": row.updated_at.isoformat()}


def full_view(row: PublicService) -> dict[str, Any]:
    return {"id": row.id, "publisher": row.publisher, "category": row.category, "texts": row.texts,
            "form": row.form, "revision": row.revision, "updated_at": row.updated_at.isoformat()}


def get(session: Session, service_id: str, lang: str) -> dict[str, Any]:
    row = session.get(PublicService, service_id)
    if row is None:
        raise UnknownService(service_id)
    return view(row, lang)


def list_services(session: Session, lang: str, category: str | None = None,
                  publisher: str | None = None) -> list[dict[str, Any]]:
    q = select(PublicService).order_by(PublicService.id)
    if category:
        q = q.where(PublicService.category == category)
    if publisher:
        q = q.where(PublicService.publisher == publisher)
    return [view(row, lang) for row in session.scalars(q)]


# -- the index -----------------------------------------------------------------------------------

class Index:
    """One process's index of the catalogue at one state of it."""

    def __init__(self, rows: list[PublicService], engine: str):
        docs = []
        self.vocabulary: dict[str, list[str]] = {}
        self.rows = {row.id: row for row in rows}  # the catalogue as indexed (hits are shown from it)
        for row in rows:
            for lang, text in row.texts.items():
                fields = {"name": text["name"], "description": text["description"],
                          "eligibility": text["eligibility"], "steps": " ".join(text["steps"]),
                          "keywords": " ".join(text.get("keywords", []))}
                docs.append((row.id, lang, {f: analysis.terms(fields[f], lang) for f in FIELDS}))
        for lang in LANGS:
            self.vocabulary[lang] = sorted({t for sid, dl, fields in docs if dl == lang
                                            for terms in fields.values() for t in terms})
        self._known = {lang: set(words) for lang, words in self.vocabulary.items()}
        self.ranker: Ranker = Fts5Ranker(docs) if engine == "fts5" else Bm25Ranker(docs)

    def correct(self, terms: list[str], lang: str) -> list[str]:
        """Typos: a term the catalogue does not know becomes the closest one it knows, if close."""
        out = []
        for term in terms:
            if term in self._known[lang] or len(term) < 4 or not self.vocabulary[lang]:
                out.append(term)
                continue
            match = process.extractOne(term, self.vocabulary[lang], scorer=fuzz.ratio, score_cutoff=80)
            out.append(match[0] if match else term)
        return out


_indexes: "weakref.WeakKeyDictionary[Any, dict[str, tuple[tuple, Index]]]" = weakref.WeakKeyDictionary()  # per engine
_lock = threading.Lock()


def default_engine(session: Session) -> str:
    return "fts5" if session.get_bind().dialect.name == "sqlite" and fts5_available() else "bm25"


def index_for(session: Session, engine: str | None = None) -> Index:
    """The index of the catalogue as it is now (rebuilt only when a service changed)."""
    engine = engine or default_engine(session)
    stamp = tuple(session.execute(select(func.count(), func.max(PublicService.updated_at),
                                         func.sum(PublicService.revision))).one())
    bind = session.get_bind().engine  # per database (a write binds a connection)
    with _lock:
        hit = _indexes.get(bind, {}).get(engine)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    rows = list(session.scalars(select(PublicService)))
    for row in rows:
        session.expunge(row)  # kept by the index, beyond this session
    index = Index(rows, engine)
    with _lock:
        _indexes.setdefault(bind, {})[engine] = (stamp, index)
    return index


CROSS_LANGUAGE_WEIGHT = 0.5  # a hit in another language's texts counts half


def search(session: Session, q: str, lang: str = DEFAULT_LANG, limit: int = 5,
           engine: str | None = None) -> dict[str, Any]:
    """Rank the catalogue for a question. The language is the question's own when lingua can
    tell, else the page's (``lang``); with nothing found in that language's texts, or when the
    language was a guess, the other languages' texts are searched too (a person may use a word
    of another language, or type without accents)."""
    index = index_for(session, engine)
    detected = analysis.detect(q)
    used = detected or lang
    scores: dict[str, float] = {}
    matched: dict[str, str] = {}

    def take(hits, weight):
        for sid, doc_lang, score in hits:
            if sid not in scores or score * weight > scores[sid]:
                scores[sid], matched[sid] = score * weight, doc_lang

    terms = index.correct(analysis.terms(q, used), used)
    take(index.ranker.rank(terms, (used,), limit * 4), 1.0)
    if not scores or detected is None:
        for other in LANGS:
            if other != used:
                other_terms = index.correct(analysis.terms(q, other), other)
                take(index.ranker.rank(other_terms, (other,), limit * 4), CROSS_LANGUAGE_WEIGHT)
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    hits = [{**view(index.rows[sid], used), "score": round(score, 6), "matched_lang": matched[sid]} for sid, score in best]
    return {"query": q, "lang": used, "detected_lang": detected, "page_lang": lang, "engine": index.ranker.name,
            "terms": terms, "hits": hits}


# -- demo data ---------------------------------------------------------------------------------

def demo_catalogue() -> list[dict[str, Any]]:
    """The demo's catalogue: real-world services in the five languages (``data/catalogue.json``)."""
    return json.loads((resources.files("dpistack.services") / "data" / "catalogue.json").read_text("utf-8"))


def load_demo(platform) -> int:
    """Publish the demo catalogue on behalf of the institutions it names (set-up data: straight
    into the catalogue, as the institutions' own ``PUT``s would). Idempotent. Returns the count."""
    items = demo_catalogue()
    with platform.db.uow(write=True) as session:
        for item in items:
            body = ServiceIn(category=item["category"], texts=item["texts"], form=item.get("form"))
            row = session.get(PublicService, item["id"])
            form = body.form.model_dump(exclude_none=True) if body.form is not None else None
            if row is not None and row.texts == {k: v.model_dump() for k, v in body.texts.items()} \
                    and row.category == body.category and row.form == form:
                continue
            publish(session, row.publisher if row is not None else item["publisher"], item["id"], body)
    return len(items)
