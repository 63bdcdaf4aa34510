"""Federation: two instances (two countries) exchange through their mediators.

Each country's governance registers the other as a *foreign member*: a participant of kind
``foreign-hub`` (role ``hub``, so onboarding needs the platform operator and the
data-protection authority) named ``xroad-<instance>`` (lower case), with the other mediator's
public key (its EdDSA key from ``/.well-known/jwks.json``) and its base URL as the endpoint
``xroad-mediator``.

Outbound: a member calls ``/r1/<OTHER>/…`` on its own mediator as usual (its access token,
its ``X-Road-Client``). The mediator forwards the request to the other mediator, signed with
HTTP Message Signatures (RFC 9421, Ed25519, the platform's EdDSA key; covered: ``@method``,
``@target-uri``, ``x-road-client``, ``x-road-id`` and ``content-digest`` (RFC 9530, SHA-256) of
the body, with a fresh nonce), logs the exchange in its own message log, and returns the answer.

Inbound: a request under ``/r1/<THIS>/…`` whose ``X-Road-Client`` names another instance
carries no access token but a signature, verified against the keys this country's
governance registered for that instance's foreign member (at most five minutes old, each
signature accepted once). The foreign member is then the caller: this country's governance
grants it access rights like any member's, and the exchange is logged here too. Personal
data goes abroad only under a legal basis recorded in policy for the foreign member (a
consent of this country's consent service binds this country's consumers only).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope

from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.exchange import messagelog
from dpistack.exchange.errors import XRoadError, client_proxy, server_proxy
from dpistack.governance.models import Participant, ParticipantKey

COVERED = ("@method", "@target-uri", "x-road-client", "x-road-id", "content-digest")
MAX_AGE = datetime.timedelta(minutes=5)
ENDPOINT = "xroad-mediator"
TAG = "dpi-xroad"


def foreign_member(instance: str) -> str:
    return f"xroad-{instance.lower()}"


@dataclass
class _Message:
    """What the signature library reads of a request: method, absolute URL, headers."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _PlatformKeys(HTTPSignatureKeyResolver):
    def __init__(self, platform: Platform):
        self.platform = platform

    def resolve_private_key(self, key_id: str):
        info, key = self.platform.keys.active("EdDSA")
        if info.kid != key_id:
            raise HTTPMessageSignaturesException("not this instance's active key")
        return key.private_key

    def resolve_public_key(self, key_id: str):
        raise HTTPMessageSignaturesException("signing only")


class _ForeignKeys(HTTPSignatureKeyResolver):
    """The public keys governance registered for one foreign member."""

    def __init__(self, platform: Platform, member: str):
        self.platform, self.member = platform, member

    def resolve_public_key(self, key_id: str):
        from joserfc.jwk import OKPKey

        with self.platform.db.uow() as session:
            key = session.get(ParticipantKey, key_id)
            p = session.get(Participant, self.member)
            if key is None or key.participant_id != self.member or key.status != "active" or p is None \
                    or p.status != "active" or p.kind != "foreign-hub" or key.jwk.get("kty") != "OKP":
                raise HTTPMessageSignaturesException(f"{key_id!r} is not an active key of {self.member}")
            return OKPKey.import_key(key.jwk).public_key

    def resolve_private_key(self, key_id: str):
        raise HTTPMessageSignaturesException("verification only")


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


class Federation:
    def __init__(self, mediator: Any):
        self.mediator, self.platform = mediator, mediator.platform
        self._signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_PlatformKeys(self.platform))
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    async def _read(self, receive: Receive, hasher: Any) -> bytes:
        from dpistack.exchange.mediator import _TooLarge

        try:
            return await self.mediator._read_body(receive, hasher)
        except _TooLarge:
            raise XRoadError("Client.RequestTooLarge", f"Request bodies are limited to {self.mediator.limit} "
                             "bytes.", status=413) from None

    # -- outbound -------------------------------------------------------------------------
    def _peer(self, instance: str) -> str | None:
        with self.platform.db.uow() as session:
            p = session.get(Participant, foreign_member(instance))
            if p is None or p.status != "active" or p.kind != "foreign-hub":
                return None
            url = (p.endpoints or {}).get(ENDPOINT)
            return url.rstrip("/") if url else None

    async def forward(self, scope: Scope, receive: Receive, headers: dict[str, str], service_id: Any, rest: str,
                      client: Any, message_id: str, forward_headers: list[tuple[str, str]]) -> Response:
        mediator = self.mediator
        peer = await run_in_threadpool(self._peer, service_id.instance)
        if peer is None:
            raise client_proxy("UnknownService", f"No route to X-Road instance {service_id.instance}: its "
                               "mediator is not registered as a foreign member here.", 404)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > mediator.limit):
            raise XRoadError("Client.RequestTooLarge", f"Request bodies are limited to {mediator.limit} bytes.",
                             status=413)
        hasher = hashlib.sha512()
        body = await self._read(receive, hasher)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        query = (scope.get("query_string") or b"").decode("latin-1")
        url = peer + raw_path + ("?" + query if query else "")
        message = _Message(scope["method"], url, {k: v for k, v in forward_headers
                                                  if k not in ("content-digest", "signature", "signature-input")})
        message.headers["x-road-client"] = str(client)
        message.headers["x-road-id"] = message_id
        info, _ = self.platform.keys.active("EdDSA")
        self._signer.sign(message, key_id=info.kid, covered_component_ids=COVERED, label="xroad", tag=TAG,
                          created=datetime.datetime.now(datetime.UTC), body=body, nonce=secrets.token_urlsafe(16))
        started = utcnow()
        request_line = f"{scope['method']} {service_id}{rest}{'?' + query if query else ''}"
        from dpistack.exchange.mediator import RESPONSE_DROP, message_hash
        try:
            async with mediator.http().request(scope["method"], url, headers=message.headers, data=body or None,
                                               allow_redirects=False, timeout=mediator.timeout) as answer:
                out = [(k.lower(), v) for k, v in answer.headers.items()]
                chunks, size = [], 0
                async for chunk in answer.content.iter_any():
                    size += len(chunk)
                    if size > mediator.limit:
                        raise server_proxy("ResponseTooLarge", "The other mediator's answer is too large.", 502)
                    chunks.append(chunk)
                status = answer.status
        except (aiohttp.ClientError, OSError) as exc:
            raise server_proxy("NetworkError", f"The mediator of {service_id.instance} cannot be reached: "
                               f"{type(exc).__name__}.", 502) from None
        except TimeoutError:
            raise server_proxy("NetworkError", f"The mediator of {service_id.instance} did not answer in time.",
                               504) from None
        data = b"".join(chunks)
        request_hash = message_hash(request_line, list(message.headers.items()), hasher.digest() if body else None)
        kept = [(k, v) for k, v in out if k not in RESPONSE_DROP or k.startswith("x-road-")]
        record = mediator._record(str(__import__("uuid").uuid4()), message_id, started, client, service_id,
                                  scope["method"], request_hash,
                                  message_hash(str(status), kept, hashlib.sha512(data).digest() if data else None),
                                  status, f"federated to {service_id.instance}", None, None, headers)
        try:
            await self.platform.group_commit.run_async(messagelog.log_exchange, record, None)
        except Exception:  # noqa: BLE001 - fail closed here too
            raise server_proxy("DatabaseError", "The exchange could not be written to the message log, so the "
                               "answer is withheld.", 503) from None
        response = Response(data, status_code=status)
        raw = response.raw_headers = [h for h in response.raw_headers if h[0] == b"content-length"]
        for k, v in kept:
            if k not in ("content-length", "transfer-encoding", "connection"):
                raw.append((k.encode("latin-1"), v.encode("latin-1")))
        return response

    # -- inbound --------------------------------------------------------------------------
    async def verify_inbound(self, scope: Scope, receive: Receive, headers: dict[str, str], client: Any) -> tuple[str, bytes]:
        """The foreign member a signed request comes from, and its body (read, digest checked)."""
        member = foreign_member(client.instance)
        host = headers.get("host", "")
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        query = (scope.get("query_string") or b"").decode("latin-1")
        scheme = scope.get("scheme", "http")
        message = _Message(scope["method"], f"{scheme}://{host}{raw_path}{'?' + query if query else ''}",
                           {k: v for k, v in headers.items()})
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.mediator.limit):
            raise XRoadError("Client.RequestTooLarge", f"Request bodies are limited to {self.mediator.limit} "
                             "bytes.", status=413)
        body = await self._read(receive, hashlib.sha512())
        verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519,
                                       key_resolver=_ForeignKeys(self.platform, member))

        def verify() -> Any:
            return verifier.verify(message, max_age=MAX_AGE, expect_tag=TAG, require_components=COVERED, body=body)
        try:
            results = await run_in_threadpool(verify)
        except HTTPMessageSignaturesException as exc:
            raise client_proxy("SignatureVerificationFailed", f"The request's HTTP message signature does not "
                               f"verify against the keys registered for {member}: {exc}", 401) from None
        signature = headers.get("signature", "")
        now = time.monotonic()
        with self._lock:
            if signature in self._seen:
                raise client_proxy("SignatureVerificationFailed", "This signed request was already received "
                                   "(replay).", 401)
            if len(self._seen) > 100_000:
                self._seen = {s: t for s, t in self._seen.items() if t > now}
            self._seen[signature] = now + MAX_AGE.total_seconds()
        del results
        return member, body
