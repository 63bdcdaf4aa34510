"""The catalogue of public services: institutions publish (services:publish), anyone reads and
searches; on SQLite (FTS5) and PostgreSQL (pure-Python BM25)."""

from __future__ import annotations

import pytest

from dpistack.services import service
from dpistack.services.rank import Bm25Ranker, Fts5Ranker

SERVICE = {"category": "health", "texts": {
    "en": {"name": "Get a free eye test", "description": "Free eye examination at a public clinic.",
           "eligibility": "Children and people over 60.", "steps": ["Book online.", "Come with your ID card."],
           "keywords": ["glasses", "optician", "sight"]},
    "fr": {"name": "Faire un examen de la vue gratuit", "description": "Examen des yeux gratuit dans un centre public.",
           "eligibility": "Enfants et personnes de plus de 60 ans.", "steps": ["Réservez en ligne."],
           "keywords": ["lunettes", "opticien"]}}}


@pytest.fixture
def ministry(actors):
    return actors.onboard("ministry-of-health", "ministry", ["data-provider"], ["digital-agency"])


def test_an_institution_publishes_and_anyone_reads_and_finds(client, ministry):
    r = ministry.put("/services/v1/services/eye-test", json=SERVICE)
    assert r.status_code == 201, r.text
    assert r.json()["publisher"] == "ministry-of-health" and r.json()["revision"] == 1
    one = client.get("/services/v1/services/eye-test", params={"lang": "fr"}).json()
    assert one["name"] == "Faire un examen de la vue gratuit" and one["lang"] == "fr"
    # A language the service is not written in: English, saying so.
    assert client.get("/services/v1/services/eye-test", params={"lang": "ar"}).json()["lang"] == "en"
    assert [s["id"] for s in client.get("/services/v1/services", params={"category": "health"}).json()] == ["eye-test"]
    found = client.get("/services/v1/search", params={"q": "I need new glasses for my sight"}).json()
    assert found["hits"][0]["id"] == "eye-test" and found["hits"][0]["score"] > 0
    assert found["detected_lang"] == "en"
    # An update is seen by the next search (the index is rebuilt when the catalogue changes).
    changed = {**SERVICE, "texts": {**SERVICE["texts"], "en": {**SERVICE["texts"]["en"], "keywords": ["spectacles"]}}}
    r = ministry.put("/services/v1/services/eye-test", json=changed)
    assert r.status_code == 200 and r.json()["revision"] == 2
    found = client.get("/services/v1/search", params={"q": "spectacles"}).json()
    assert [h["id"] for h in found["hits"]] == ["eye-test"]


def test_only_institutions_publish_and_only_their_own(client, actors, ministry):
    assert client.put("/services/v1/services/eye-test", json=SERVICE).status_code == 401
    app = actors.onboard("clinic-app", "relying-party", ["relying-party"], ["identity-authority"])
    r = app.put("/services/v1/services/eye-test", json=SERVICE)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert ministry.put("/services/v1/services/eye-test", json=SERVICE).status_code == 201
    other = actors.onboard("social-agency", "agency", ["data-consumer"], ["digital-agency"])
    r = other.put("/services/v1/services/eye-test", json=SERVICE)
    assert r.status_code == 403 and r.json()["publisher"] == "ministry-of-health"


def test_bad_input_is_a_clear_4xx(client, ministry):
    assert ministry.put("/services/v1/services/eye-test", json={**SERVICE, "category": "nope"}).status_code == 422
    assert ministry.put("/services/v1/services/eye-test", json={**SERVICE, "texts": {"de": SERVICE["texts"]["en"]}}).status_code == 422
    assert ministry.put("/services/v1/services/Bad_Id", json=SERVICE).status_code == 422
    r = client.get("/services/v1/services/no-such-service")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/services/v1/search", params={"q": ""}).status_code == 422
    assert client.get("/services/v1/search", params={"q": "x" * 301}).status_code == 422
    assert client.get("/services/v1/search", params={"q": "passport", "lang": "de"}).status_code == 422
    # Punctuation and FTS5 syntax in a question are words or nothing, never an error.
    for q in ['"', "NEAR(a b)", "a OR", "*", "-", "()"]:
        r = client.get("/services/v1/search", params={"q": q})
        assert r.status_code == 200, (q, r.text)


def test_demo_catalogue_five_languages_and_both_rankers(platform, client):
    assert service.load_demo(platform) >= 30
    assert service.load_demo(platform) >= 30  # idempotent
    services = client.get("/services/v1/services", params={"lang": "ar"}).json()
    assert len(services) >= 30 and all(s["lang"] == "ar" and s["steps"] for s in services)
    engine = "fts5" if platform.db.engine.dialect.name == "sqlite" else "bm25"
    cases = [("my wife had a baby, what do I do?", "en", "birth-registration"),
             ("¿cómo pido la pensión de jubilación?", "es", "old-age-pension"),
             ("كيف أجدد جواز سفري", "ar", "passport"),
             ("j'ai perdu ma carte d'identité", "fr", "national-id-replacement"),
             ("quero tirar a carta de condução", "pt", "driving-licence")]
    for q, lang, expected in cases:
        found = client.get("/services/v1/search", params={"q": q, "lang": "en"}).json()
        assert found["engine"] == engine and found["detected_lang"] == lang, found
        assert expected in [h["id"] for h in found["hits"][:3]], (q, found["hits"])
        assert found["hits"][0]["lang"] == lang  # shown in the person's language


def test_short_question_keeps_the_page_language(sqlite_platform):
    service.load_demo(sqlite_platform)
    with sqlite_platform.db.uow() as session:
        found = service.search(session, "pasaporte", "es")
    assert found["detected_lang"] is None and found["lang"] == "es"
    assert found["hits"][0]["id"] == "passport" and found["hits"][0]["name"].startswith("Solicitar")


def test_the_two_rankers_agree_on_a_small_index():
    docs = [("a", "en", {"name": ["passport"], "description": ["travel", "abroad"]}),
            ("b", "en", {"name": ["pension"], "description": ["retir"]}),
            ("c", "fr", {"name": ["passeport"], "description": ["voyag"]})]
    for ranker in (Fts5Ranker(docs), Bm25Ranker(docs)):
        assert [h[0] for h in ranker.rank(["passport", "travel"], ("en",), 5)] == ["a"], ranker.name
        assert [h[0] for h in ranker.rank(["passeport"], None, 5)] == ["c"], ranker.name
        assert ranker.rank(["nothing"], None, 5) == []
