"""The ranker behind the finder: SQLite FTS5 (``rank.Fts5Ranker``) or pure-Python BM25
(``rank.Bm25Ranker``), both over the same analysed texts."""

from __future__ import annotations

from typing import Protocol

# One indexed document: a service in one language, its analysed terms per field.
FIELDS = ("name", "keywords", "description", "eligibility", "steps")
WEIGHTS = {"name": 5.0, "keywords": 3.0, "description": 2.0, "eligibility": 1.0, "steps": 1.0}


class Ranker(Protocol):
    name: str

    def rank(self, query: list[str], langs: tuple[str, ...] | None, limit: int) -> list[tuple[str, str, float]]:
        """(service id, language, score) best first, over the documents in ``langs`` (None: all)."""
        ...


class ModelUnavailable(Exception):
    """The language model could not answer: down, too slow, refused, or a reply that is not one."""


class LanguageModel(Protocol):
    """A chat model the operator runs (``llm.OpenAICompatible``; tests use a fake server)."""

    name: str  # the model, as the operator configured it
    recipient: str  # where calls go (scheme://host[:port]), for the transparency log

    async def complete(self, messages: list[dict[str, str]]) -> str:
        """The model's reply to a chat (``[{role, content}, ...]``), within the configured time.
        Raises ModelUnavailable; never lets the endpoint's key appear in its message."""
        ...
