"""The service finder page (/services): a GET form that works without JavaScript; the answer in
the question's language, saying so; bad input as a page in the person's language."""

from __future__ import annotations

from html import unescape

import pytest

from dpistack.services import service


@pytest.fixture
def api(instance):
    service.load_demo(instance.platform)
    return instance.api


def test_finder_lists_the_catalogue_and_answers_a_question(api):
    r = api.get("/services", params={"lang": "en"})
    assert r.status_code == 200 and 'id="all-services"' in unescape(r.text) and "Register a birth" in unescape(r.text)
    r = api.get("/services", params={"q": "my wife had a baby, what do I do?"})
    assert r.status_code == 200
    assert "Register a birth" in unescape(r.text) and "Who can use it" in unescape(r.text) and "civil registration office" in unescape(r.text)
    assert 'id="answer-language"' not in unescape(r.text)  # the page's own language: nothing to say


def test_a_question_in_another_language_is_answered_in_it_saying_so(api):
    r = api.get("/services", params={"q": "¿cómo pido la pensión de jubilación?", "lang": "en"})
    assert r.status_code == 200 and 'lang="en"' in unescape(r.text)
    assert 'id="answer-language"' in unescape(r.text) and "Español" in unescape(r.text)
    assert 'lang="es"' in unescape(r.text) and "Solicitar la pensión de vejez" in unescape(r.text)
    # The Arabic page answers a French question in French, and says so in Arabic.
    r = api.get("/services", params={"q": "j'ai perdu ma carte d'identité", "lang": "ar"})
    assert 'dir="rtl"' in unescape(r.text) and "Remplacer une carte d'identité" in unescape(r.text)
    assert "يبدو أن سؤالك باللغة Français" in unescape(r.text)


def test_one_service_and_bad_input(api):
    r = api.get("/services/passport", params={"lang": "ar"})
    assert r.status_code == 200 and "استخراج جواز سفر أو تجديده" in unescape(r.text) and "الخطوات" in unescape(r.text)
    r = api.get("/services/no-such-thing", params={"lang": "fr"})
    assert r.status_code == 404 and "Ce service n'existe pas" in unescape(r.text) and 'href="/services"' in unescape(r.text)
    assert api.get("/services/Not_An_Id").status_code == 404
    r = api.get("/services", params={"q": "   ", "lang": "es"})
    assert r.status_code == 422 and "govuk-error-summary" in unescape(r.text) and "Escriba su pregunta" in unescape(r.text)
    long = "passport " * 40
    r = api.get("/services", params={"q": long, "lang": "en"})
    assert r.status_code == 422 and "at most 300 characters" in unescape(r.text) and long.strip() in unescape(r.text)  # entry kept
    r = api.get("/services", params={"q": "zzzz qqqq"})
    assert r.status_code == 200 and "No service found" in unescape(r.text)


def test_home_page_has_the_search_box(api):
    r = api.get("/", params={"lang": "pt"})
    assert 'action="/services"' in unescape(r.text) and "O que precisa de fazer?" in unescape(r.text)
