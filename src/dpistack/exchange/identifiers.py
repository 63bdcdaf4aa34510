"""X-Road identifiers of this platform's members: ``INSTANCE/CLASS/CODE[/SUBSYSTEM]``.

A member is a platform participant; its member code is its participant id, its class comes
from its kind (government bodies ``GOV``, companies ``COM``, foreign members ``FOR`` on their
own instance), and its subsystems are registered by the member itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

CLASS_OF_KIND = {"ministry": "GOV", "agency": "GOV", "registry": "GOV", "authority": "GOV",
                 "bank": "COM", "wallet-provider": "COM", "relying-party": "COM", "foreign-hub": "GOV"}
PART = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_ID = 400
METADATA_SERVICES = ("listMethods", "allowedMethods", "getOpenAPI")


@dataclass(frozen=True)
class ClientId:
    instance: str
    member_class: str
    member_code: str
    subsystem: str | None = None

    def __str__(self) -> str:
        parts = [self.instance, self.member_class, self.member_code] + ([self.subsystem] if self.subsystem else [])
        return "/".join(quote(p, safe="") for p in parts)

    def as_json(self) -> dict:
        body = {"xroad_instance": self.instance, "member_class": self.member_class,
                "member_code": self.member_code, "object_type": "SUBSYSTEM" if self.subsystem else "MEMBER"}
        if self.subsystem:
            body["subsystem_code"] = self.subsystem
        return body


@dataclass(frozen=True)
class ServiceId:
    instance: str
    member_class: str
    member_code: str
    subsystem: str
    code: str

    def __str__(self) -> str:
        return "/".join(quote(p, safe="") for p in (self.instance, self.member_class, self.member_code,
                                                    self.subsystem, self.code))

    @property
    def provider(self) -> ClientId:
        return ClientId(self.instance, self.member_class, self.member_code, self.subsystem)

    @property
    def key(self) -> str:
        """The catalogue's key: member, subsystem and service code."""
        return f"{self.member_code}/{self.subsystem}/{self.code}"


def _part(raw: str) -> str | None:
    value = unquote(raw)
    return value if PART.match(value) else None


def parse_client(header: str) -> ClientId | None:
    """``INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`` (percent-encoded parts), or None if malformed."""
    if not header or len(header) > MAX_ID:
        return None
    raw = header.strip().split("/")
    if len(raw) not in (3, 4):
        return None
    parts = [_part(p) for p in raw]
    if any(p is None for p in parts):
        return None
    return ClientId(*parts)  # type: ignore[arg-type]


def parse_service_path(raw_path: str) -> tuple[ServiceId, str] | None:
    """``/r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/path]`` → (service id, "/path" or "")."""
    if not raw_path.startswith("/r1/") or len(raw_path) > 2000:
        return None
    pieces = raw_path[4:].split("/", 5)
    if len(pieces) < 5:
        return None
    parts = [_part(p) for p in pieces[:5]]
    if any(p is None for p in parts):
        return None
    rest = "/" + pieces[5] if len(pieces) == 6 else ""
    return ServiceId(*parts), rest  # type: ignore[arg-type]


def member_class(kind: str) -> str:
    return CLASS_OF_KIND.get(kind, "COM")
