"""The finder's optional language model on an OpenAI-compatible endpoint (a fake one here, on
loopback: a stand-in for the operator's server). Off by default and then never called; on, it
reranks the BM25 candidates and summarises them, sent only the question and public catalogue
text, the question's personal data redacted unless the operator's policy allows it — and then
each call is in the transparency log (the categories, not the content); an endpoint that is
down, failing, slow or talking nonsense leaves the BM25 answer; the key is never logged."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from html import unescape

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dpistack.core.server import free_port, serve_in_thread
from dpistack.services import llm, service
from dpistack.transparency import service as tlog

from ..conftest import open_platform
from ..web.conftest import citizen_login, instance  # noqa: F401 - the fixture
from ..web.test_portal import browser_for

KEY = "sk-test-7f3c9a-do-not-log"
QUESTION = ("I am Amina Hassan, ID 4769536230, phone +254 700 000 001, mail amina.h@example.org: "
            "how do I get money for my children?")


@pytest.fixture
def platform(request, tmp_path):
    p = open_platform(tmp_path, "sqlite", request)
    service.load_demo(p)
    yield p
    p.close()


class FakeModel:
    """An OpenAI-compatible chat completions server: records what it is sent, answers as told."""

    def __init__(self):
        self.calls: list[dict] = []
        self.mode = "ok"
        self.lock = threading.Lock()

        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            with self.lock:
                self.calls.append({"headers": dict(request.headers), "body": body})
            if self.mode == "fail":
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=500)
            if self.mode == "slow":
                await asyncio.sleep(3)
            candidates = json.loads(body["messages"][1]["content"])["candidates"]
            ids = [c["id"] for c in candidates]
            content = "Sure! Here it is." if self.mode == "garbage" else json.dumps(
                {"order": list(reversed(ids)) + ["invented-service"],
                 "summary": "Apply for the child benefit: bring your children's birth certificates."})
            return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}]})

        self.app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    def last_question(self) -> str:
        return json.loads(self.calls[-1]["body"]["messages"][1]["content"])["question"]


@pytest.fixture
def model():
    fake = FakeModel()
    with serve_in_thread(fake.app) as url:
        fake.url = url
        yield fake


def use(platform, url, personal_data=False, timeout=5.0):
    s = platform.settings
    s.llm_url, s.llm_model, s.llm_api_key = url, "tiny-instruct", SecretStr(KEY)
    s.llm_personal_data, s.llm_timeout_seconds = personal_data, timeout


def search(client, q=QUESTION, names="Amina,Hassan"):
    r = client.get("/services/v1/search", params={"q": q, "lang": "en"},
                   headers={"X-Redact-Terms": names} if names else {})
    assert r.status_code == 200, r.text
    return r.json()


def disclosures(platform):
    out = []
    for i in range(tlog.tree(platform).size):
        entry = json.loads(tlog.get_entry(platform, i))
        if entry.get("type") == "llm.disclosure":
            out.append((entry, tlog.get_entry(platform, i)))
    return out


def test_off_by_default_the_model_is_never_called(platform, client, model):
    assert platform.settings.llm_url is None  # the default
    found = search(client)
    assert found["assist"] is None and found["hits"][0]["id"] == "child-benefit"
    assert model.calls == []


def test_on_the_question_is_redacted_and_the_candidates_reranked(platform, client, model, caplog):
    bm25 = [h["id"] for h in search(client)["hits"]]
    use(platform, model.url)
    caplog.set_level(logging.DEBUG)
    found = search(client)
    assert len(model.calls) == 1
    call = model.calls[0]
    assert call["headers"]["authorization"] == f"Bearer {KEY}" and call["body"]["model"] == "tiny-instruct"
    sent = json.dumps(call["body"], ensure_ascii=False)
    for personal in ("4769536230", "700 000 001", "amina.h@example.org", "Amina", "Hassan"):
        assert personal not in sent
    assert model.last_question() == ("I am [name] [name], ID [ID number], phone [phone number], mail [e-mail]: "
                                     "how do I get money for my children?")
    # only public catalogue text besides: the candidates' names, descriptions, eligibility, first step
    candidates = json.loads(call["body"]["messages"][1]["content"])["candidates"]
    assert set(candidates[0]) == {"id", "name", "description", "eligibility", "first_step"}
    assert [c["id"] for c in candidates] == bm25[:5]
    assist = found["assist"]
    assert assist["used"] and assist["redacted"] == ["e-mail", "name", "national-id-number", "phone-number"]
    assert assist["sent_personal_data"] == [] and "birth certificates" in assist["summary"]
    assert [h["id"] for h in found["hits"]] == list(reversed(bm25[:5])) + bm25[5:]  # invented ids dropped
    assert disclosures(platform) == []  # nothing personal was sent, nothing to log
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_allowed_by_policy_personal_data_is_sent_and_logged(platform, client, model, caplog):
    use(platform, model.url, personal_data=True)
    caplog.set_level(logging.DEBUG)
    found = search(client)
    assert model.last_question() == QUESTION
    assert found["assist"]["sent_personal_data"] == ["e-mail", "name", "national-id-number", "phone-number"]
    [(entry, raw)] = disclosures(platform)
    assert entry["categories"] == ["e-mail", "name", "national-id-number", "phone-number"]
    assert entry["recipient"] == model.url and entry["model"] == "tiny-instruct"
    for content in (b"4769536230", b"Amina", b"example.org", KEY.encode()):
        assert content not in raw  # the kinds of data, never the data (nor the key)
    search(client, q="how do I get money for my children?")  # nothing personal: sent, not logged
    assert len(model.calls) == 2 and len(disclosures(platform)) == 1
    assert all(KEY not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode", ["down", "fail", "garbage", "slow"])
def test_a_failing_endpoint_leaves_the_bm25_answer(platform, client, model, mode, caplog):
    bm25 = search(client)["hits"]
    url = model.url
    if mode == "down":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    else:
        model.mode = mode
    use(platform, url, timeout=0.5)
    caplog.set_level(logging.DEBUG)
    found = search(client)
    assert found["hits"] == bm25 and found["assist"]["used"] is False and found["assist"]["summary"] is None
    assert found["assist"]["error"]
    assert any("not used" in r.getMessage() for r in caplog.records)
    assert all(KEY not in r.getMessage() and KEY not in str(r.args) for r in caplog.records)


def test_redaction_cases():
    text, found = llm.redact("call me on 0712 345 678 or write to a@b.co", [])
    assert text == "call me on [phone number] or write to [ID number]".replace("[ID number]", "[e-mail]")
    assert found == ["e-mail", "phone-number"]
    assert llm.redact("my number is 19900412345", []) == ("my number is [ID number]", ["national-id-number"])
    assert llm.redact("a pension for 2 people since 2019", []) == ("a pension for 2 people since 2019", [])
    assert llm.redact("born on 2024-05-01", []) == ("born on 2024-05-01", [])
    assert llm.redact("ينتظر أمينة طفلا", ["أمينة حسن"]) == ("ينتظر [name] طفلا", ["name"])
    assert llm.redact("AMINA needs a passport", ["Amina Hassan"])[0] == "[name] needs a passport"


def test_the_key_is_a_secret_in_settings(platform):
    use(platform, "http://127.0.0.1:9")
    assert KEY not in repr(platform.settings) and KEY not in str(platform.settings.model_dump())


def test_the_portal_finder_shows_the_summary_and_redacts_the_person(instance, model):  # noqa: F811
    """Through the portal: the summary is shown as the model's; the logged-in person's names
    (the portal passes them to the catalogue's API) never reach the model."""
    service.load_demo(instance.platform)
    page = instance.api.get("/services", params={"q": "money for my children", "lang": "en"})
    assert 'id="assist"' not in page.text and model.calls == []  # off
    use(instance.platform, model.url)
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get("/services", params={"q": "Amina Hassan wants money for her children", "lang": "en"})
    assert page.status_code == 200 and 'id="assist"' in page.text
    assert "Suggested by an AI model" in unescape(page.text) and "birth certificates" in unescape(page.text)
    assert model.last_question() == "[name] [name] wants money for her children"
