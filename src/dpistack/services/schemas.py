"""Request payloads of the catalogue API."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


FIELD_NAME = r"^[a-z][a-z0-9_]{0,39}$"
SOURCE_NAME = r"^[a-z][a-z0-9-]{0,39}$"
IDENTITY = "identity"  # the person's own record at the identity authority (the residents' API)
# What the identity source gives a form (the portal flattens /resident/v1/me into these).
IDENTITY_FIELDS = ("uin", "full_name", "given_name", "family_name", "birth_date", "sex", "birth_place", "address",
                   "phone", "email")


class Prefill(_Strict):
    source: str = Field(pattern=SOURCE_NAME, description="'identity' or one of the form's registry sources")
    field: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*$",
                       description="where in the source's answer: a path of keys and list indexes (children/0/name)")


class FormField(_Strict):
    name: str = Field(pattern=FIELD_NAME)
    type: Literal["text", "textarea", "date", "number"] = "text"
    required: bool = True
    max_length: int = Field(200, ge=1, le=2000)
    label: dict[Lang, str] = Field(min_length=1, description="the question, in each language")
    hint: dict[Lang, str] = Field(default_factory=dict)
    prefill: Prefill | None = None

    @field_validator("label", "hint")
    @classmethod
    def _texts(cls, texts: dict) -> dict:
        if any(not t.strip() or len(t) > 300 for t in texts.values()):
            raise ValueError("each text: 1 to 300 characters")
        return texts


class RegistrySource(_Strict):
    """A registry record a form is prefilled from, read through the information mediator."""

    service: str = Field(pattern=r"^(GOV|COM)/[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$",
                         description="memberClass/memberCode/subsystemCode/serviceCode on this instance")
    path: str = Field(pattern=r"^(/[A-Za-z0-9._{}-]+)+$", description="the request path; {uin} is the person's")
    label: dict[Lang, str] = Field(min_length=1, description="'From the population register', in each language")


class ServiceForm(_Strict):
    sources: dict[str, RegistrySource] = Field(default_factory=dict, max_length=5)
    fields: list[FormField] = Field(min_length=1, max_length=30)

    @model_validator(mode="after")
    def _consistent(self) -> "ServiceForm":
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        if IDENTITY in self.sources or any(not re.fullmatch(SOURCE_NAME, s) for s in self.sources):
            raise ValueError("source names: lower case words, and not 'identity'")
        for f in self.fields:
            if f.prefill is None:
                continue
            if f.prefill.source == IDENTITY and f.prefill.field not in IDENTITY_FIELDS:
                raise ValueError(f"{f.name}: the identity source gives {', '.join(IDENTITY_FIELDS)}")
            if f.prefill.source != IDENTITY and f.prefill.source not in self.sources:
                raise ValueError(f"{f.name}: no source {f.prefill.source!r} in the form's sources")
        return self


class ServiceIn(_Strict):
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    texts: dict[Lang, ServiceText] = Field(min_length=1, description="the service in each language it is offered in")
    form: ServiceForm | None = Field(None, description="its online application form, if it has one")


class ApplicationIn(_Strict):
    """An application sent through a service's form by a front office (the citizen portal) for
    the person it authenticated."""

    service_id: str = Field(pattern=SERVICE_ID)
    data_subject: str = Field(pattern=r"^[0-9]{8,20}$", description="the person's national ID (UIN)")
    answers: dict[str, str] = Field(max_length=30)
    sources: dict[str, str] = Field(default_factory=dict, max_length=30,
                                    description="field -> source, for the answers that were prefilled and kept")
    lang: Lang = "en"
    request_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                            description="the same id again returns the same application (a resent form)")
