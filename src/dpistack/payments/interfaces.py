"""What the switch depends on outside itself, as protocols, with reference implementations.

``IdentityVerifier``: the national identity system, reached only through its public
relying-party API (``POST /identity/v1/authenticate``), so that a national ID becomes a
payment alias only for the person it names. The reference implementation calls this
platform's identity block over HTTP (in one process through ``httpx.ASGITransport``, the
same API); a country whose ID system is MOSIP points it at MOSIP's authentication API.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Protocol, runtime_checkable

import httpx

from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER

log = logging.getLogger("dpistack.payments")


@runtime_checkable
class IdentityVerifier(Protocol):
    async def verify(self, individual_id: str, id_type: str, demographics: dict[str, str]) -> bool:
        """True when ``individual_id`` (a UIN or VID) is the person ``demographics`` describe
        (``given``, ``family``, ``birth_date``); False otherwise, without saying which part failed.
        Raises ``IdentityUnavailable`` when the identity system cannot be asked."""


class IdentityUnavailable(Exception):
    pass


class PlatformIdentity:
    """The switch as a relying party of the platform's identity block (its own participant id
    and key, onboarded by governance with the ``relying-party`` role)."""

    def __init__(self, participant_id: str, key: Any, base_url: str, transport: httpx.AsyncBaseTransport | None = None):
        self.participant_id, self.key, self.base_url = participant_id, key, base_url.rstrip("/")
        self.transport = transport
        self._token: tuple[str, float] | None = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, transport=self.transport, timeout=10)

    async def _access_token(self, http: httpx.AsyncClient) -> str:
        if self._token is None or self._token[1] < time.time() + 10:
            token_url = f"{self.base_url}/oauth/token"
            r = await http.post("/oauth/token", data={
                "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                "client_assertion": credentials.client_assertion(self.participant_id, self.key, token_url)})
            if r.status_code != 200:
                raise IdentityUnavailable(f"the switch cannot log in to identity: {r.status_code} {r.text[:200]}")
            body = r.json()
            self._token = (body["access_token"], time.time() + body["expires_in"])
        return self._token[0]

    async def verify(self, individual_id: str, id_type: str, demographics: dict[str, str]) -> bool:
        try:
            async with self._client() as http:
                token = await self._access_token(http)
                r = await http.post("/identity/v1/authenticate", headers={"Authorization": f"Bearer {token}"}, json={
                    "individual_id": individual_id, "individual_id_type": id_type,
                    "transaction_id": "alias-" + secrets.token_hex(8),
                    "demographics": demographics})
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"identity unreachable: {exc}") from exc
        if r.status_code != 200:
            raise IdentityUnavailable(f"identity answered {r.status_code}: {r.text[:200]}")
        return bool(r.json().get("authenticated"))
