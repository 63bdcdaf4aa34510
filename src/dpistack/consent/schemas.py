"""Request payloads of the consent API (fields of the ReBIT Account Aggregator consent artefact
and the GovStack Consent BB, in this platform's names)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Slug = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Purpose(_Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    text: str = Field(min_length=1, max_length=500)
    ref_uri: str | None = Field(default=None, max_length=500)


class Period(_Strict):
    unit: Literal["HOUR", "DAY", "MONTH", "YEAR", "INF"]
    value: int = Field(ge=0, le=10_000)


class ConsentRequest(_Strict):
    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="the data provider (participant id)")
    services: list[str] = Field(default_factory=list, max_length=50,
                                description="X-Road service ids (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE) it covers; "
                                "empty: any of the provider's")
    purpose: Purpose
    data_types: list[str] = Field(min_length=1, max_length=50)
    valid_from: datetime
    valid_to: datetime
    frequency: Period | None = Field(default=None, description="at most `value` exchanges per `unit` "
                                     "(INF: in all); unset: no limit")
    data_life: Period = Period(unit="DAY", value=0)
    fetch_type: Literal["ONETIME", "PERIODIC"] = Field(default="PERIODIC",
                                                       description="ONETIME: one exchange, then it is used up")
    consent_mode: Literal["VIEW", "STORE", "QUERY", "STREAM"] = "VIEW"


class ConsentCheck(_Strict):
    consent_id: str = Field(min_length=1, max_length=36)
    consumer: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1, max_length=64)
    service: str = Field(min_length=1, max_length=500)
    purpose: str | None = Field(default=None, max_length=32, description="purpose code the exchange is for")
