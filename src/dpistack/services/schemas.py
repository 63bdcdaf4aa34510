"""Request payloads of the catalogue API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LANGS = ("en", "fr", "es", "pt", "ar")
Lang = Literal["en", "fr", "es", "pt", "ar"]
SERVICE_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
CATEGORIES = ("family", "social-protection", "identity-travel", "transport", "business-tax", "education", "health",
              "land-housing", "utilities", "civic", "justice", "work")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceText(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    eligibility: str = Field(min_length=1, max_length=2000, description="who may use it")
    steps: list[str] = Field(min_length=1, max_length=20)
    keywords: list[str] = Field(default_factory=list, max_length=50, description="synonyms people use")

    @field_validator("steps", "keywords")
    @classmethod
    def _short(cls, items: list[str]) -> list[str]:
        if any(not item.strip() or len(item) > 500 for item in items):
            raise ValueError("each item: 1 to 500 characters")
        return items


class ServiceIn(_Strict):
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    texts: dict[Lang, ServiceText] = Field(min_length=1, description="the service in each language it is offered in")
