"""What the mediator depends on outside its block, as protocols, with reference implementations.

``ConsentChecker``: the consent service, reached only through its public API
(``POST /consent/v1/check``) with the consumer's own access token, so the consumer can check
only consents given to it. The reference implementation calls this platform's consent block
(in one process through ``httpx.ASGITransport``, the same API); a country with another consent
manager points it at that one.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import httpx


class ConsentUnavailable(Exception):
    pass


@runtime_checkable
class ConsentChecker(Protocol):
    async def check(self, token: str, consent_id: str, consumer: str, provider: str, service: str,
                    purpose: str | None) -> dict[str, Any]:
        """The consent service's answer: ``allowed`` (bool), when refused ``reason`` and
        ``detail``, when allowed ``principal`` (the person's pseudonym) and ``purpose``.
        Raises ``ConsentUnavailable`` when it cannot be asked."""


class PlatformConsent:
    """The platform's consent API, in-process (``app``) or at ``base_url``."""

    def __init__(self, base_url: str, app: Any | None = None):
        transport = httpx.ASGITransport(app=app) if app is not None else None
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport, timeout=10)

    async def check(self, token: str, consent_id: str, consumer: str, provider: str, service: str,
                    purpose: str | None) -> dict[str, Any]:
        try:
            r = await self._http.post("/consent/v1/check", headers={"Authorization": f"Bearer {token}"}, json={
                "consent_id": consent_id, "consumer": consumer, "provider": provider, "service": service,
                "purpose": purpose})
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(f"consent service unreachable: {type(exc).__name__}") from exc
        if r.status_code == 422:
            return {"allowed": False, "reason": "malformed", "detail": "The consent id is malformed."}
        if r.status_code != 200:
            raise ConsentUnavailable(f"consent service answered {r.status_code}")
        return r.json()

    async def close(self) -> None:
        await self._http.aclose()
