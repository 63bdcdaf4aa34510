"""The optional language model behind the service finder: an OpenAI-compatible endpoint the
operator runs (``DPI_LLM_URL``, ``DPI_LLM_MODEL``, ``DPI_LLM_API_KEY``). Off by default; the
finder's BM25 answer never depends on it.

What it does: given the question and the BM25 candidates (public catalogue text only), the
model puts the candidates in order and writes a one- or two-sentence answer in the question's
language. What it is sent: the question and that public text, nothing else. A question that
looks like it holds personal data — a national ID number, a phone number, an e-mail address,
the logged-in person's names — has those parts replaced by placeholders, unless the operator's
policy allows personal data (``DPI_LLM_PERSONAL_DATA``); then the question goes as it is and the
call is logged in the transparency log first (the categories sent, never the content; no log,
no call). A model that is down, slow (``DPI_LLM_TIMEOUT_SECONDS``, the whole call) or answers
nonsense leaves the BM25 answer as it was. The key is sent only as the bearer token and never
appears in a log line or an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from dpistack.core.timeutil import iso, utcnow
from dpistack.services.interfaces import LanguageModel, ModelUnavailable

log = logging.getLogger("dpistack.services.llm")
LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
PHONE = re.compile(r"(?<![\w+])\+?[0-9](?:[0-9][\s().-]?){5,14}[0-9](?![\w])")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ID_NUMBER = re.compile(r"(?<![\w])[0-9]{8,20}(?![\w])")
PLACEHOLDERS = {"e-mail": "[e-mail]", "phone-number": "[phone number]", "national-id-number": "[ID number]",
                "name": "[name]"}
MAX_CANDIDATES = 5


def redact(question: str, names: list[str]) -> tuple[str, list[str]]:
    """The question with what looks like personal data replaced, and the categories found."""
    found: set[str] = set()

    def sub(pattern: re.Pattern, category: str, text: str) -> str:
        def one(m: re.Match) -> str:
            if category == "phone-number" and DATE.fullmatch(m.group(0)):
                return m.group(0)  # a date, not a phone number
            found.add(category)
            return PLACEHOLDERS[category]
        return pattern.sub(one, text)

    text = sub(EMAIL, "e-mail", question)
    # a bare run of 8-20 digits is an ID number; digits with a + or separators, a phone number
    text = sub(ID_NUMBER, "national-id-number", text)
    text = sub(PHONE, "phone-number", text)
    words = sorted({w for n in names for w in re.findall(r"\w+", n, re.UNICODE) if len(w) >= 2}, key=len,
                   reverse=True)
    if words:
        text = sub(re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE),
                   "name", text)
    return text, sorted(found)


class OpenAICompatible:
    """``POST {url}/v1/chat/completions`` (``{url}/chat/completions`` when the URL ends in /v1)."""

    def __init__(self, url: str, model: str, api_key: str | None, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None):
        base = url.rstrip("/")
        self.endpoint = base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")
        parts = urlsplit(base)
        self.recipient = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self.name = model
        self._key = api_key
        self._timeout = timeout
        self._transport = transport

    async def complete(self, messages: list[dict[str, str]]) -> str:
        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        body = {"model": self.name, "messages": messages, "temperature": 0, "max_tokens": 400, "stream": False}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport, trust_env=False,
                                         follow_redirects=False) as client:
                r = await asyncio.wait_for(client.post(self.endpoint, json=body, headers=headers), self._timeout)
        except asyncio.TimeoutError:
            raise ModelUnavailable(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"{type(exc).__name__}") from None
        if r.status_code != 200:
            raise ModelUnavailable(f"HTTP {r.status_code}")
        try:
            content = r.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelUnavailable("not a chat completion") from None
        if not isinstance(content, str):
            raise ModelUnavailable("not a chat completion")
        return content


def model_of(settings) -> LanguageModel | None:
    """The configured model, or None when the operator configured none (the default)."""
    if not settings.llm_url:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
    return OpenAICompatible(settings.llm_url, settings.llm_model, key, settings.llm_timeout_seconds)


def _messages(question: str, lang: str, hits: list[dict]) -> list[dict[str, str]]:
    language = LANGUAGE_NAMES.get(lang, "English")
    candidates = [{"id": h["id"], "name": h["name"], "description": h["description"],
                   "eligibility": h["eligibility"], "first_step": (h.get("steps") or [""])[0]} for h in hits]
    system = ("You help people find the public service they need. You are given a person's question and a list of "
              "candidate services from the official catalogue. Reply with one JSON object only, no other text: "
              '{"order": [the candidate ids, best first], "summary": "one or two short sentences in ' + language +
              ' telling the person which service fits and its first step"}. Use only the candidates given; do not '
              "invent services, fees or deadlines. Placeholders in square brackets stand for withheld details.")
    user = json.dumps({"question": question, "candidates": candidates}, ensure_ascii=False)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _parse(reply: str, known: list[str]) -> tuple[list[str], str | None]:
    text = reply.strip()
    fenced = re.search(r"\{.*\}", text, re.S)
    if fenced is None:
        raise ModelUnavailable("the reply is not JSON")
    try:
        body = json.loads(fenced.group(0))
    except ValueError:
        raise ModelUnavailable("the reply is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("order"), list):
        raise ModelUnavailable("the reply has no order")
    order = []
    for sid in body["order"]:
        if isinstance(sid, str) and sid in known and sid not in order:
            order.append(sid)
    if not order:
        raise ModelUnavailable("the reply names none of the candidates")
    order += [sid for sid in known if sid not in order]  # those it left out keep their BM25 order, after
    summary = body.get("summary")
    summary = summary.strip()[:600] if isinstance(summary, str) and summary.strip() else None
    return order, summary


async def assist(model: LanguageModel, question: str, lang: str, hits: list[dict], names: list[str],
                 personal_data_allowed: bool,
                 log_disclosure: Callable[[list[str]], Awaitable[None]]) -> dict[str, Any]:
    """Ask the model about the top candidates. Returns ``{model, used, order, summary,
    redacted, sent_personal_data, error}``; ``used`` is False (and the BM25 order stands) when
    the model failed. ``log_disclosure(categories)`` is awaited before personal data is sent;
    if it raises, nothing is sent."""
    top = hits[:MAX_CANDIDATES]
    out: dict[str, Any] = {"model": model.name, "used": False, "order": [h["id"] for h in hits], "summary": None,
                           "redacted": [], "sent_personal_data": [], "error": None}
    if not top:
        return out
    redacted, categories = redact(question, names)
    if categories and personal_data_allowed:
        try:
            await log_disclosure(categories)
        except Exception:  # noqa: BLE001 - no log entry, no personal data sent
            log.exception("the language-model disclosure could not be logged: the model is not asked")
            out["error"] = "not logged"
            return out
        sent, out["sent_personal_data"] = question, categories
    else:
        sent, out["redacted"] = redacted, categories
    try:
        reply = await model.complete(_messages(sent, lang, top))
        order, summary = _parse(reply, [h["id"] for h in top])
    except ModelUnavailable as exc:
        log.warning("language model %s at %s not used: %s", model.name, model.recipient, exc)
        out["error"] = str(exc)
        return out
    rest = [h["id"] for h in hits[MAX_CANDIDATES:]]
    out.update(used=True, order=order + rest, summary=summary)
    return out


def disclosure_entry(model: LanguageModel, categories: list[str]) -> dict[str, Any]:
    """The transparency-log entry of a call that sends personal data: what kinds, to whom, why."""
    return {"type": "llm.disclosure", "time": iso(utcnow()), "accessor": "services-finder",
            "recipient": model.recipient, "model": model.name, "categories": sorted(categories),
            "purpose": "service finder: rank the catalogue's answers to a person's question and summarise them",
            "legal_basis": "operator policy DPI_LLM_PERSONAL_DATA"}
