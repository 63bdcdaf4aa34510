"""The information mediator: X-Road's message protocol for REST (PR-REST r1).

``{METHOD} /r1/{instance}/{memberClass}/{memberCode}/{subsystemCode}/{serviceCode}[/path][?query]``
with ``X-Road-Client: {instance}/{memberClass}/{memberCode}[/{subsystemCode}]``.

For each request, in order: the path and client are parsed strictly; the caller's access
token (``/oauth/token``, private_key_jwt) must name the member in ``X-Road-Client`` (or the
member of the subsystem); the service must be published; governance must have granted the
caller ``data:read`` on the service's data category (Cedar); a service of personal data needs
an ``X-Consent-Id`` the consent service allows for this consumer, provider and service (asked
afresh on every request, so a revocation holds from the next one), or a legal basis in policy
(``exchange:legal-basis``) with the person named in ``X-Data-Subject``. Then the request goes to
the provider's backend (hop-by-hop and identifying headers filtered, the consumer's access
token never forwarded, the body streamed, redirects passed back unfollowed, size and time
limited), the answer is read (bounded), the exchange is written to the message log — and its
transparency entry, for personal data, in the same commit — and only then is the answer
released. If the log cannot be written the answer is withheld (fail closed).

A plain ASGI app on the platform app's fast lane: no FastAPI routing or dependency solving
per request (the mediator's budget is ~1 ms of CPU a call).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import uuid
from types import SimpleNamespace
from typing import Any

import aiohttp
import cedarpy
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dpistack.core.auth import verify_access_token
from dpistack.core.crypto import FieldCipher
from dpistack.core.errors import Problem, Unauthorized
from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.exchange import catalogue, errors, messagelog, pubsub_http
from dpistack.exchange.bus import make_bus
from dpistack.exchange.federation import Federation
from dpistack.exchange.events import PUBSUB_CODES
from dpistack.exchange.errors import XRoadError, client_error, client_proxy, server_proxy
from dpistack.exchange.identifiers import METADATA_SERVICES, parse_client, parse_service_path
from dpistack.exchange.interfaces import ConsentChecker, ConsentUnavailable, PlatformConsent
from dpistack.governance import policy
from dpistack.governance.models import PolicyVersion
from dpistack.transparency import service as tlog

log = logging.getLogger("dpistack.exchange")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade"}
# never passed on: hop-by-hop, those that leak the origin host (PR-REST §4.3), what the
# mediator sets itself, and the consumer's platform credentials
REQUEST_DROP = HOP_BY_HOP | {"host", "user-agent", "server", "content-length", "expect", "authorization",
                             "x-road-request-hash", "x-road-request-id", "x-road-service"}
RESPONSE_DROP = HOP_BY_HOP | {"server", "content-length", "date", "x-road-client", "x-road-service", "x-road-id",
                              "x-road-request-id", "x-road-request-hash", "x-road-error"}
READ_WHOLE = 64 * 1024  # request bodies up to this are read before sending; larger ones are streamed
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
CONSENT_TYPES = {"revoked": "ConsentRevoked", "expired": "ConsentExpired", "rejected": "ConsentRejected",
                 "requested": "ConsentNotApproved", "unknown_consent": "ConsentUnknown", "malformed": "ConsentUnknown",
                 "used_up": "ConsentUsedUp", "frequency_exceeded": "ConsentFrequencyExceeded"}


ROUTE = SimpleNamespace(path="/r1/{serviceId}")


class _TooLarge(Exception):
    pass


def _digest_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def message_hash(start_line: str, headers: list[tuple[str, str]], body_digest: bytes | None) -> str:
    """PR-REST's request hash: base64(SHA512(SHA512(headers) + SHA512(body))), or
    base64(SHA512(headers)) without a body. "headers" here is the start line and the headers
    that were passed on, lower-cased and sorted, one ``name: value`` a line."""
    head = (start_line + "\n" + "".join(f"{k}: {v}\n" for k, v in sorted(headers))).encode()
    if body_digest is None:
        return _digest_b64(head)
    return _digest_b64(hashlib.sha512(head).digest() + body_digest)


class Mediator:
    """The ``/r1`` ASGI app of one platform instance."""

    def __init__(self, platform: Platform, consent: ConsentChecker | None = None):
        self.platform = platform
        settings = platform.settings
        self.limit = settings.exchange_max_body_bytes
        self.timeout = aiohttp.ClientTimeout(total=settings.exchange_timeout_seconds)
        self._consent = consent
        self._http: aiohttp.ClientSession | None = None
        self._cipher = FieldCipher(platform.keys.derived_secret("exchange:message-log"))
        self._pseudonym_key = platform.keys.derived_secret("transparency:pseudonym")
        self._policy_names: dict[int, dict[str, str]] = {}
        self.events = make_bus(platform)
        self.federation = Federation(self)

    # -- plumbing -----------------------------------------------------------------------------
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # aiohttp, not httpx: measured here, httpx's client cost ~4 ms of CPU a request,
            # aiohttp's ~0.14 ms. Bodies pass as they are (no decompression, no added headers).
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024, ttl_dns_cache=300), auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar())
        return self._http

    def consent(self, scope: Scope) -> ConsentChecker:
        if self._consent is None:
            self._consent = PlatformConsent(self.platform.settings.public_url, app=scope.get("app"))
        return self._consent

    async def start(self) -> None:
        await self.events.start()

    async def close(self) -> None:
        await self.events.stop()
        if self._http is not None:
            await self._http.close()
        close = getattr(self._consent, "close", None)
        if close is not None:
            await close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = ROUTE  # the metrics' label
        try:
            response = await self.handle(scope, receive)
        except XRoadError as exc:
            log.info("exchange refused %s %s: %s %s", scope.get("method"), scope.get("path"), exc.xroad_type,
                     exc.detail)
            response = errors.response(exc.xroad_type, exc.detail, exc.status)
        except Problem as exc:  # the PubSub API's not-found and conflicts
            log.info("exchange refused %s %s: %s %s", scope.get("method"), scope.get("path"), exc.status, exc.detail)
            response = errors.render(exc.status, exc.title, exc.detail, exc)
        except Exception:  # noqa: BLE001 - a bug: logged, answered in the protocol's format
            log.exception("mediator failed on %s %s", scope.get("method"), scope.get("path"))
            response = errors.response("Server.ClientProxy.InternalError",
                                       "The mediator failed; the error has been logged.", 500)
        await response(scope, receive, send)

    # -- one request --------------------------------------------------------------------------
    async def handle(self, scope: Scope, receive: Receive) -> Response:
        platform = self.platform
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        parsed = parse_service_path(raw_path)
        if parsed is None:
            raise client_error("BadRequest", "The request does not follow the X-Road message protocol for REST: "
                               "/r1/{instance}/{memberClass}/{memberCode}/{subsystemCode}/{serviceCode}[/path].")
        service_id, rest = parsed
        headers: dict[str, str] = {}
        for k, v in scope.get("headers") or ():
            name = k.decode("latin-1").lower()
            value = v.decode("latin-1")
            headers[name] = headers[name] + ", " + value if name in headers else value
        client_header = headers.get("x-road-client")
        if not client_header:
            raise client_error("BadRequest", "The X-Road-Client header is missing.")
        client = parse_client(client_header)
        if client is None:
            raise client_error("InvalidClientIdentifier",
                               "X-Road-Client must be {instance}/{memberClass}/{memberCode}[/{subsystemCode}].")
        instance = catalogue.instance_of(platform)
        message_id = headers.get("x-road-id") or str(uuid.uuid4())
        if not MESSAGE_ID.match(message_id):
            raise client_error("BadRequest", "X-Road-Id must be 1-200 visible ASCII characters.")
        preread: bytes | None = None
        foreign = client.instance != instance and "authorization" not in headers and "signature" in headers
        if foreign:  # another country's mediator, signing for its member (RFC 9421)
            if service_id.instance != instance:
                raise client_proxy("UnknownService", "This mediator does not relay between other instances.", 404)
            caller, preread = await self.federation.verify_inbound(scope, receive, headers, client)
        else:
            caller = self._authenticate(headers)
            if client.instance != instance or client.member_code != caller:
                raise client_proxy("IdentifierMismatch",
                                   f"X-Road-Client {client} is not the authenticated participant {caller}.", 403)
            member = catalogue.member(platform, caller)
            if member is None or member[0] != client.member_class:
                raise client_proxy("IdentifierMismatch", f"{caller} is not member {client}.", 403)
            if member[1] != "active":
                raise client_proxy("AccessDenied", f"{caller} is {member[1]}: it may not use the mediator.", 403)
            if client.subsystem is not None and not catalogue.has_subsystem(platform, caller, client.subsystem):
                raise client_proxy("UnknownMember", f"{caller} has no subsystem {client.subsystem}.", 403)
            if service_id.instance != instance:
                return await self.federation.forward(scope, receive, headers, service_id, rest, client, message_id,
                                                     self._forward_headers(headers, message_id))
        if service_id.code in METADATA_SERVICES and rest == "":
            return await self._metadata(scope, service_id, caller, client, message_id)
        if service_id.code in PUBSUB_CODES:
            return await pubsub_http.handle(self, scope, receive, service_id, rest, caller, client)

        svc = catalogue.published(platform, service_id.key)
        if svc is None or svc.provider_class != service_id.member_class:
            raise server_proxy("UnknownService", f"No service {service_id} is published.", 404)
        resource = ("DataCategory", f"{svc.category}@{svc.provider}")
        if not await self._allowed(caller, "data:read", resource):
            raise server_proxy("AccessDenied", f"{client} has no access right to {service_id} "
                               f"(governance has not granted data:read on {resource[1]}).", 403)
        purpose = consent_id = legal_basis = subject = None
        if svc.personal_data:
            consent_id = headers.get("x-consent-id")
            if consent_id and foreign:
                raise server_proxy("ConsentRefused", "Consents given here bind this instance's consumers only; "
                                   "personal data goes abroad under a legal basis recorded in policy.", 403)
            if consent_id:
                subject, purpose = await self._check_consent(scope, headers, consent_id, caller, svc, service_id)
            else:
                legal_basis = await self._legal_basis(caller, resource)
                if legal_basis is None:
                    raise server_proxy("ConsentRequired", f"{service_id} carries personal data: send X-Consent-Id "
                                       "with a consent the person gave you, or have a legal basis recorded in "
                                       "policy.", 403)
                uin = headers.get("x-data-subject", "")
                if not re.fullmatch(r"[0-9]{8,20}", uin):
                    raise client_error("BadRequest", "An exchange under a legal basis names the person in "
                                       "X-Data-Subject (the national ID), so that it is in their data tracker.")
                subject, purpose = tlog.pseudonym(self._pseudonym_key, uin), legal_basis
        return await self._exchange(scope, receive, headers, svc, service_id, rest, client, message_id, caller,
                                    purpose, consent_id, legal_basis, subject, preread)

    def _authenticate(self, headers: dict[str, str]) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise client_proxy("AuthenticationFailed", "The mediator needs the client's access token: "
                               "Authorization: Bearer <token> (POST /oauth/token).", 401)
        try:
            return verify_access_token(self.platform, token.strip()).participant_id
        except Unauthorized as exc:
            raise client_proxy("AuthenticationFailed", exc.detail, 401) from None

    async def _allowed(self, participant: str, action: str, resource: tuple[str, str]) -> bool:
        decision = policy.remembered(self.platform.db.engine, participant, action, resource)
        if decision is None:
            decision = await run_in_threadpool(self._decide, participant, action, resource)
        return decision.allowed

    def _decide(self, participant: str, action: str, resource: tuple[str, str]) -> policy.Decision:
        with self.platform.db.uow() as session:
            return policy.authorize(session, participant, action, resource)

    async def _legal_basis(self, participant: str, resource: tuple[str, str]) -> str | None:
        """The legal basis policy records for this participant and category: the ``@id`` of the
        Cedar policies that permit ``exchange:legal-basis`` (e.g. ``policy:public-health-act-s12``)."""
        decision = await run_in_threadpool(self._decide, participant, "exchange:legal-basis", resource)
        if not decision.allowed:
            return None
        names = self._policy_names.get(decision.policy_version)
        if names is None:
            names = await run_in_threadpool(self._names_of, decision.policy_version)
        return "policy:" + ",".join(names.get(r, r) for r in decision.reasons)

    def _names_of(self, version: int) -> dict[str, str]:
        with self.platform.db.uow() as session:
            text = session.scalar(select(PolicyVersion.text).where(PolicyVersion.version == version))
        parsed = json.loads(cedarpy.policies_to_json_str(text or ""))["staticPolicies"]
        names = {pid: p.get("annotations", {}).get("id", pid) for pid, p in parsed.items()}
        self._policy_names[version] = names
        return names

    async def _check_consent(self, scope: Scope, headers: dict[str, str], consent_id: str, caller: str,
                             svc: catalogue.Published, service_id: Any) -> tuple[str, str]:
        token = headers["authorization"].partition(" ")[2].strip()
        try:
            answer = await self.consent(scope).check(token, consent_id[:64], caller, svc.provider, str(service_id),
                                                     headers.get("x-consent-purpose"))
        except ConsentUnavailable as exc:
            raise server_proxy("ConsentUnavailable", f"The consent service cannot be asked: {exc}", 503) from None
        if not answer.get("allowed"):
            reason = str(answer.get("reason", "refused"))
            raise server_proxy(CONSENT_TYPES.get(reason, "ConsentRefused"),
                               f"Consent {consent_id[:64]} does not allow this exchange ({reason}): "
                               f"{answer.get('detail', '')}", 403)
        purpose = answer.get("purpose") or {}
        return str(answer["principal"]), f"{purpose.get('code', '')}: {purpose.get('text', '')}"

    # -- metadata -----------------------------------------------------------------------------
    async def _metadata(self, scope: Scope, service_id: Any, caller: str, client: Any, message_id: str) -> Response:
        platform = self.platform
        provider = catalogue.member(platform, service_id.member_code)
        if provider is None or provider[0] != service_id.member_class or \
                not catalogue.has_subsystem(platform, service_id.member_code, service_id.subsystem):
            raise server_proxy("UnknownService", f"No subsystem {service_id.provider} on this instance.", 404)
        if service_id.code == "getOpenAPI":
            query = (scope.get("query_string") or b"").decode("latin-1")
            codes = [v for k, _, v in (p.partition("=") for p in query.split("&")) if k == "serviceCode"]
            if len(codes) != 1 or not codes[0]:
                raise client_error("BadRequest", "getOpenAPI needs exactly one serviceCode query parameter.")
            description = await run_in_threadpool(catalogue.openapi_of, platform, service_id.member_code,
                                                  service_id.subsystem, codes[0])
            if description is None:
                raise server_proxy("UnknownService", f"No OpenAPI description of service {codes[0]}.", 404)
            body: Any = description
        elif service_id.code == "listMethods":
            body = await run_in_threadpool(catalogue.methods, platform, service_id.member_code,
                                           service_id.member_class, service_id.subsystem)
        else:
            def allowed_methods() -> dict:
                categories: dict[str, bool] = {}
                with platform.db.uow() as session:
                    def allowed(category: str) -> bool:
                        if category not in categories:
                            categories[category] = policy.authorize(
                                session, caller, "data:read", ("DataCategory", f"{category}@{service_id.member_code}")
                            ).allowed
                        return categories[category]
                    return catalogue.methods(platform, service_id.member_code, service_id.member_class,
                                             service_id.subsystem, allowed)
            body = await run_in_threadpool(allowed_methods)
        return Response(json.dumps(body).encode(), media_type="application/json; charset=utf-8", headers={
            "X-Road-Client": str(client), "X-Road-Service": str(service_id), "X-Road-Id": message_id,
            "X-Road-Request-Id": str(uuid.uuid4())})

    # -- the exchange -------------------------------------------------------------------------
    async def _read_body(self, receive: Receive, hasher: Any) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise client_error("BadRequest", "The client went away before sending its body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge()
            if chunk:
                hasher.update(chunk)
                chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _exchange(self, scope: Scope, receive: Receive, headers: dict[str, str], svc: catalogue.Published,
                        service_id: Any, rest: str, client: Any, message_id: str, caller: str, purpose: str | None,
                        consent_id: str | None, legal_basis: str | None, subject: str | None,
                        preread: bytes | None = None) -> Response:
        method = scope["method"]
        query = (scope.get("query_string") or b"").decode("latin-1")
        url = svc.backend_url + rest + ("?" + query if query else "")
        forward = self._forward_headers(headers, message_id)
        if preread is not None:  # a federated request, read and its digest checked already
            forward = [(k, v) for k, v in forward if k not in ("signature", "signature-input")]
            hasher = hashlib.sha512(preread)
            return await self._send(scope, method, url, forward, preread, hasher, bool(preread), lambda: False,
                                    svc, service_id, rest, query, client, message_id, caller, purpose, consent_id,
                                    legal_basis, subject, headers)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            raise client_error("RequestTooLarge", f"Request bodies are limited to {self.limit} bytes.", 413)
        has_body = declared not in (None, "0") or "transfer-encoding" in headers
        hasher = hashlib.sha512()
        too_large = False
        data: Any = None
        if has_body and declared is not None and int(declared) <= READ_WHOLE:
            try:
                data = await self._read_body(receive, hasher)
            except _TooLarge:
                raise client_error("RequestTooLarge", f"Request bodies are limited to {self.limit} bytes.",
                                   413) from None
        elif has_body:
            async def stream():
                nonlocal too_large
                size = 0
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise ConnectionResetError("client went away")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        too_large = True
                        raise ConnectionAbortedError("request body too large")
                    if chunk:
                        hasher.update(chunk)
                        yield chunk
                    if not message.get("more_body"):
                        return
            data = stream()
        return await self._send(scope, method, url, forward, data, hasher, has_body, lambda: too_large, svc,
                                service_id, rest, query, client, message_id, caller, purpose, consent_id,
                                legal_basis, subject, headers)

    def _forward_headers(self, headers: dict[str, str], message_id: str) -> list[tuple[str, str]]:
        drop = REQUEST_DROP | {h.strip() for h in headers.get("connection", "").lower().split(",")}
        forward = [(k, v) for k, v in headers.items() if k not in drop]
        if "x-road-id" not in headers:
            forward.append(("x-road-id", message_id))
        if "accept" not in headers:
            forward.append(("accept", "application/json"))  # PR-REST §4.3: the default content type
        return forward

    async def _send(self, scope: Scope, method: str, url: str, forward: list, data: Any, hasher: Any,
                    has_body: bool, too_large: Any, svc: Any, service_id: Any, rest: str, query: str, client: Any,
                    message_id: str, caller: str, purpose: str | None, consent_id: str | None,
                    legal_basis: str | None, subject: str | None, headers: dict[str, str]) -> Response:
        request_line = f"{method} {service_id}{rest}{'?' + query if query else ''}"
        started = utcnow()
        try:
            async with self.http().request(method, url, headers=forward, data=data, allow_redirects=False,
                                           timeout=self.timeout) as answer:
                out_headers = [(k.lower(), v) for k, v in answer.headers.items()]
                declared_out = answer.headers.get("content-length")
                if declared_out is not None and declared_out.isdigit() and int(declared_out) > self.limit:
                    raise _TooLarge()
                chunks, size = [], 0
                async for chunk in answer.content.iter_any():
                    size += len(chunk)
                    if size > self.limit:
                        raise _TooLarge()
                    chunks.append(chunk)
                body = b"".join(chunks)
                status = answer.status
        except _TooLarge:
            return await self._failed(server_proxy("ResponseTooLarge", f"The provider's answer exceeds {self.limit} "
                                                   "bytes.", 502), svc, service_id, client, message_id, method,
                                      request_line, forward, hasher, has_body, started, purpose, consent_id,
                                      legal_basis, headers)
        except asyncio.TimeoutError:
            return await self._failed(server_proxy("NetworkError", "The provider's backend did not answer within "
                                                   f"{self.timeout.total:g} s.", 504), svc, service_id, client,
                                      message_id, method, request_line, forward, hasher, has_body, started, purpose,
                                      consent_id, legal_basis, headers)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            if too_large():
                raise client_error("RequestTooLarge", f"Request bodies are limited to {self.limit} bytes.",
                                   413) from None
            kind = "NetworkError" if isinstance(exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)) \
                else "ServiceFailed"
            return await self._failed(server_proxy(kind, f"The provider's backend failed: {type(exc).__name__}.",
                                                   502), svc, service_id, client, message_id, method, request_line,
                                      forward, hasher, has_body, started, purpose, consent_id, legal_basis, headers)
        request_hash = message_hash(request_line, forward, hasher.digest() if has_body else None)
        kept = [(k, v) for k, v in out_headers if k not in RESPONSE_DROP]
        response_hash = message_hash(f"{status}", kept, hashlib.sha512(body).digest() if body else None)
        request_id = str(uuid.uuid4())
        record = self._record(request_id, message_id, started, client, service_id, method, request_hash,
                              response_hash, status, purpose, consent_id, legal_basis, headers)
        access = None
        if subject is not None:
            access = tlog.prepare(tlog.access_entry(
                subject_pseudonym=subject, accessor=caller, categories=[svc.category],
                purpose=f"{purpose} (via {service_id}, X-Road-Id {message_id[:64]})",
                consent_id=consent_id, legal_basis=legal_basis))
        try:
            await self.platform.group_commit.run_async(messagelog.log_exchange, record, access)
        except Exception:  # noqa: BLE001 - fail closed: no log, no answer
            log.exception("message log write failed; the provider's answer is withheld (X-Road-Id %s)",
                          message_id[:64])
            raise server_proxy("DatabaseError", "The exchange could not be written to the message log, so "
                               "the provider's answer is withheld.", 503) from None
        response = Response(body, status_code=status)
        raw = response.raw_headers = [h for h in response.raw_headers if h[0] == b"content-length"]
        for k, v in kept:
            raw.append((k.encode("latin-1"), v.encode("latin-1")))
        for k, v in (("x-road-client", str(client)), ("x-road-service", str(service_id)), ("x-road-id", message_id),
                     ("x-road-request-id", request_id), ("x-road-request-hash", request_hash)):
            raw.append((k.encode(), v.encode("latin-1")))
        return response

    def _record(self, request_id: str, message_id: str, started: Any, client: Any, service_id: Any, method: str,
                request_hash: str, response_hash: str, status: int, purpose: str | None, consent_id: str | None,
                legal_basis: str | None, headers: dict[str, str]) -> messagelog.Record:
        user = headers.get("x-road-userid")
        sealed = self._cipher.encrypt(user[:200], record=request_id, field="user") if user else None
        return messagelog.Record(request_id, message_id, started, str(client), str(service_id), method,
                                 request_hash, response_hash, status, purpose, consent_id, legal_basis,
                                 (headers.get("x-road-issue") or "")[:200] or None, sealed)

    async def _failed(self, error: XRoadError, svc: Any, service_id: Any, client: Any, message_id: str, method: str,
                      request_line: str, forward: list, hasher: Any, has_body: bool, started: Any,
                      purpose: str | None, consent_id: str | None, legal_basis: str | None,
                      headers: dict[str, str]) -> Response:
        """A backend that failed: the attempt is logged too (with the error as the answer)."""
        request_hash = message_hash(request_line, forward, hasher.digest() if has_body else None)
        record = self._record(str(uuid.uuid4()), message_id, started, client, service_id, method, request_hash,
                              _digest_b64(error.xroad_type.encode()), error.status, purpose, consent_id,
                              legal_basis, headers)
        try:
            await self.platform.group_commit.run_async(messagelog.log_exchange, record, None)
        except Exception:  # noqa: BLE001
            log.exception("message log write failed for a failed exchange")
        raise error
