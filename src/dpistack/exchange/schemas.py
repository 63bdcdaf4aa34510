"""Request payloads of the exchange API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Code = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubsystemIn(_Strict):
    code: str = Code


class ServiceIn(_Strict):
    subsystem: str = Code
    service_code: str = Code
    backend_url: str = Field(min_length=8, max_length=2048)
    openapi: dict[str, Any] | None = None
    category: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
                          description="the data category whose data:read grant a caller needs")
    personal_data: bool = Field(description="each call then needs a consent (X-Consent-Id) or a legal basis")


class RoomIn(_Strict):
    room: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    event_types: list[str] = Field(min_length=1, max_length=50)


class SubscriptionIn(_Strict):
    event_types: list[str] = Field(default_factory=list, max_length=50, description="empty: every type of the room")
    push_url: str = Field(min_length=8, max_length=2048)
