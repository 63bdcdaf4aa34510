"""The portal's browser session: one cookie, sealed with AES-256-GCM under a key derived from
the platform's master secret (so it is both signed and unreadable to the browser), HttpOnly,
SameSite=Lax, Secure when the public URL is https.

It holds what the portal needs between requests and nothing else: the CSRF token of the
browser, and once someone has logged in, who they are (a citizen or an operator) and the
short-lived access token the platform's API gave for them (never a private key, never a
UIN). The session ends when that token expires; the portal then asks to log in again.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dpistack.core.crypto import constant_time_equal
from dpistack.core.platform import Platform

COOKIE = "dpi_portal"
LOGIN_COOKIE = "dpi_portal_login"  # state, nonce and PKCE verifier of a login under way
WALLET_COOKIE = "dpi_portal_wallet"  # the person's credential and its holder key (web/wallet.py)
WALLET_LOGIN_COOKIE = "dpi_portal_wallet_login"  # state and PKCE verifier of a credential request under way
WALLET_PATH = "/me/credentials"
MAX_AGE = 3600 * 8  # the cookie (and its CSRF token) outlives a login; the login itself ends with its token


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    kind: str | None = None  # "citizen" | "operator"
    token: str | None = None  # the API access token for this person
    expires: float = 0.0  # when the token (and so the login) ends
    who: str = ""  # a display name: the participant id, or the person's name
    flash: str | None = None  # a one-time message for the next page
    roles: list[str] = field(default_factory=list)  # an operator's participant roles (what the console shows)
    expired: bool = False  # a login ended by time (set while reading, never stored)

    def logged_in(self, kind: str) -> bool:
        return self.kind == kind and bool(self.token) and self.expires > time.time()

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and constant_time_equal(str(submitted), self.csrf)

    def log_out(self) -> None:
        self.kind, self.token, self.expires, self.who, self.roles = None, None, 0.0, "", []

    def as_dict(self) -> dict:
        return {"c": self.csrf, "k": self.kind, "t": self.token, "e": self.expires, "w": self.who, "f": self.flash, "r": self.roles}


class Sealer:
    """Seals and opens cookie values; a value that does not open is treated as absent."""

    def __init__(self, platform: Platform):
        self._aead = AESGCM(platform.keys.derived_secret("web-portal-session"))

    def seal(self, value: dict, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(value, separators=(",", ":")).encode(), purpose.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, raw: str | None, purpose: str) -> dict | None:
        if not raw or len(raw) > 8192:
            return None
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            value = json.loads(self._aead.decrypt(data[:12], data[12:], purpose.encode()))
        except (InvalidTag, ValueError, TypeError):
            return None
        return value if isinstance(value, dict) else None


def read(sealer: Sealer, raw: str | None) -> tuple[Session, bool]:
    """The browser's session (a fresh one when it has none); True when it was there."""
    value = sealer.open(raw, COOKIE)
    if value is None:
        return Session(), False
    s = Session(csrf=str(value.get("c") or secrets.token_urlsafe(24)), kind=value.get("k"), token=value.get("t"),
                expires=float(value.get("e") or 0), who=str(value.get("w") or ""), flash=value.get("f"),
                roles=[str(r) for r in value.get("r") or []])
    if s.kind and s.expires <= time.time():
        s.log_out()
        s.expired = True
    return s, True
