"""The FSPIOP v1.1 protocol itself: media types and versions, the headers every request must
carry, the ``errorInformation`` error format and the codes of §7.6, ``FSPIOP-Signature``.

Checks follow Mojaloop's hub (central-services-shared header validation), which is what an
existing Mojaloop participant meets today: a missing header is 3102, a malformed one 3101,
an unsupported version 3001 (HTTP 406), and ``FSPIOP-Source`` must name the authenticated
participant (3100).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from starlette.requests import Request
from starlette.responses import Response

RESOURCES = ("participants", "parties", "quotes", "transfers", "transactionRequests", "authorizations",
             "transactions", "bulkQuotes", "bulkTransfers")
# Versions a resource speaks in v1.1 (API Definition §6.1.2 Table 6): two stayed at 1.0.
RESOURCE_VERSION = {r: "1.1" for r in RESOURCES} | {"authorizations": "1.0", "transactions": "1.0"}
SUPPORTED_MAJOR = "1"
SUPPORTED = {"1.0", "1.1"}
SIGNATURE_ALGS = ["RS256", "RS384", "RS512", "ES256"]  # the spec's RSA algorithms, and ES256 as Mojaloop's SDK signs
# FSPIOP's protected header carries its own members (FSPIOP-URI, FSPIOP-Source …): not JWS-registered names.
_JWS = jws.JWSRegistry(algorithms=SIGNATURE_ALGS, strict_check_header=False)
_JWS.max_payload_length = 6 * 1024 * 1024  # FSPIOP bodies may reach 5 MB

_ACCEPT = re.compile(r"^application/vnd\.interoperability\.(?P<resource>[A-Za-z]+)\+json"
                     r"(\s?;\s?version=(?P<version>\d+(\.\d+)?))?$")
_CONTENT_TYPE = re.compile(r"^application/vnd\.interoperability\.(?P<resource>[A-Za-z]+)\+json"
                           r"\s?;\s?version=(?P<version>\d+\.\d+)$")
_DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}( GMT)?$")

# §7.6: the descriptions of the codes this switch sends.
MESSAGES = {
    "1001": "Destination communication error", "2001": "Internal server error", "2002": "Not implemented",
    "2003": "Service currently unavailable", "2005": "Server busy", "3000": "Generic client error",
    "3001": "Unacceptable version requested", "3002": "Unknown URI", "3003": "Add Party information error",
    "3100": "Generic validation error", "3101": "Malformed syntax", "3102": "Missing mandatory element",
    "3103": "Too many elements", "3104": "Too large payload", "3105": "Invalid signature", "3106": "Modified request",
    "3200": "Generic ID not found", "3201": "Destination FSP Error", "3202": "Payer FSP ID not found",
    "3203": "Payee FSP ID not found", "3204": "Party not found", "3205": "Quote ID not found",
    "3206": "Transaction request ID not found", "3208": "Transfer ID not found", "3209": "Bulk quote ID not found",
    "3210": "Bulk transfer ID not found", "3302": "Quote expired", "3303": "Transfer expired",
    "4001": "Payer FSP insufficient liquidity", "4200": "Payer limit error", "5104": "Payee rejected transaction",
    "5106": "Payee unsupported currency",
}
# HTTP status of a synchronous error, by code (Mojaloop's: 1xxx 503, 2xxx 500, 3001 406, 3002 404, else 400).
STATUS = {"3001": 406, "3002": 404, "2002": 501}


def status_of(code: str, default: int | None = None) -> int:
    if code in STATUS:
        return STATUS[code]
    if default is not None:
        return default
    return {"1": 503, "2": 503}.get(code[0], 400)


def content_type(resource: str, version: str | None = None) -> str:
    return f"application/vnd.interoperability.{resource}+json;version={version or RESOURCE_VERSION.get(resource, '1.1')}"


def http_date() -> str:
    """``Date`` as RFC 7231 IMF-fixdate."""
    return formatdate(usegmt=True)


def body_hash(raw: bytes) -> str:
    """The hash duplicates are told apart by (§3.2.5): of the body as sent, canonicalised, so
    that key order and spacing do not make a resend "modified"."""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        canonical = raw
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def parse_time(value: str) -> datetime:
    """An FSPIOP DateTime (validated by the schema) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def error_body(code: str, description: str | None = None, extensions: list[dict] | None = None) -> dict[str, Any]:
    """``{"errorInformation": {...}}`` with Mojaloop's "<name> - <detail>" description (≤ 128 characters)."""
    name = MESSAGES.get(code, "Error")
    text = name if not description or description == name else f"{name} - {description}"
    info: dict[str, Any] = {"errorCode": code, "errorDescription": text[:128]}
    if extensions:
        info["extensionList"] = {"extension": extensions}
    return {"errorInformation": info}


class FspiopError(Exception):
    """An FSPIOP error answered synchronously (HTTP 4xx/5xx with ``errorInformation``)."""

    def __init__(self, code: str, description: str | None = None, *, status: int | None = None,
                 resource: str = "transfers", extensions: list[dict] | None = None):
        super().__init__(f"{code} {description or MESSAGES.get(code, '')}")
        self.code, self.description, self.resource, self.extensions = code, description, resource, extensions
        self.status = status or status_of(code)

    def response(self) -> Response:
        return fspiop_response(self.status, error_body(self.code, self.description, self.extensions), self.resource)


def fspiop_response(status: int, body: dict | None, resource: str) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
    return Response(content, status_code=status, media_type=content_type(resource) if body is not None else None)


def resource_of(path: str) -> str:
    """The FSPIOP resource a path under /fspiop names (its first segment), or "participants"."""
    segment = path.split("/fspiop/", 1)[-1].split("/", 1)[0]
    return segment if segment in RESOURCES else "participants"


# -- errors the core meets under /fspiop ------------------------------------------------------
def _validation_code(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    if kind == "missing":
        return "3102", f"Missing mandatory element {where}"
    if kind == "extra_forbidden":
        return "3103", f"Unexpected element {where}"
    if kind in ("too_long",):
        return "3103", f"Too many elements in {where}"
    if kind in ("json_invalid", "json_type", "model_attributes_type", "dict_type"):
        return "3101", "The body is not a JSON object of the expected shape"
    return "3101", f"Invalid {where}: {first.get('msg', 'malformed')}"


def render_error(status: int, title: str, detail: str, exc: Exception | None) -> Response:
    """The core's errors in FSPIOP's format (registered for /fspiop)."""
    if isinstance(exc, FspiopError):
        return exc.response()
    if isinstance(exc, RequestValidationError):
        code, description = _validation_code(exc)
        return fspiop_response(400, error_body(code, description), "transfers")
    code, http = {401: ("3000", 401), 403: ("3000", 403), 404: ("3002", 404), 405: ("3000", 405), 406: ("3001", 406),
                  413: ("3104", 400), 415: ("3101", 400), 429: ("2005", 503), 503: ("2003", 503)
                  }.get(status, ("2001", 500) if status >= 500 else ("3000", 400))
    return fspiop_response(http, error_body(code, detail), "transfers")


# -- headers --------------------------------------------------------------------------------------
def check_headers(request: Request, resource: str, caller: str, *, accept: bool) -> None:
    """The headers every FSPIOP request carries (Mojaloop's checks, in its order)."""
    headers = request.headers
    if accept or "vnd.interoperability" in headers.get("accept", ""):  # a callback's "*/*" is no request for a version
        value = headers.get("accept")
        if not value:
            raise FspiopError("3102", "Accept is required", resource=resource)
        ranges = [part.strip() for part in value.split(",")]
        matches = [_ACCEPT.match(r) for r in ranges]
        if not all(matches) or any(m["resource"] != resource for m in matches):
            raise FspiopError("3101", "Invalid accept header", resource=resource)
        if not any(m["version"] is None or m["version"] in SUPPORTED or m["version"] == SUPPORTED_MAJOR
                   for m in matches):
            raise _unsupported(resource)
    date = headers.get("date")
    if not date:
        raise FspiopError("3102", "Date is required", resource=resource)
    if not _DATE.match(date):
        raise FspiopError("3101", "Invalid date header", resource=resource)
    try:
        parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise FspiopError("3101", "Invalid date header", resource=resource) from None
    kind = headers.get("content-type")
    if not kind:
        raise FspiopError("3102", "Content-Type is required", resource=resource)
    match = _CONTENT_TYPE.match(kind)
    if match is None or match["resource"] != resource:
        raise FspiopError("3101", "Invalid content-type header", resource=resource)
    if match["version"] not in SUPPORTED:
        raise _unsupported(resource)
    source = headers.get("fspiop-source")
    if not source:
        raise FspiopError("3102", "FSPIOP-Source is required", resource=resource)
    if source != caller:
        raise FspiopError("3100", "Invalid fspiop-source header: it must name the authenticated participant",
                          resource=resource)


def _unsupported(resource: str) -> FspiopError:
    return FspiopError("3001", "The Client requested an unsupported version, see extension list for supported "
                       "version(s).", resource=resource, extensions=[{"key": "1", "value": "0"},
                                                                     {"key": "1", "value": "1"}])


# Headers relayed with a forwarded request or callback (the body is relayed byte for byte, so a
# signature over it still verifies at the receiver).
RELAYED = ("content-type", "accept", "date", "x-forwarded-for", "fspiop-source", "fspiop-destination",
           "fspiop-encryption", "fspiop-signature", "fspiop-uri", "fspiop-http-method")


def relayed_headers(request: Request, method: str, *, destination: str | None = None) -> dict[str, str]:
    """The FSPIOP headers of ``request`` as the switch forwards them (Accept dropped on PUT)."""
    out = {name: request.headers[name] for name in RELAYED if name in request.headers}
    if method == "PUT":
        out.pop("accept", None)
    if destination and not out.get("fspiop-destination"):
        out["fspiop-destination"] = destination
    if "fspiop-http-method" in out:
        out["fspiop-http-method"] = method
    return out


def request_headers(resource: str, source: str, destination: str | None, method: str, uri: str) -> dict[str, str]:
    """What an FSP sends with a request or callback (its client side: simulator, demo, tests)."""
    headers = {"content-type": content_type(resource), "date": http_date(), "fspiop-source": source,
               "fspiop-http-method": method, "fspiop-uri": uri}
    if destination:
        headers["fspiop-destination"] = destination
    if method in ("GET", "POST", "DELETE"):
        headers["accept"] = content_type(resource, "1")
    return headers


def hub_headers(resource: str, source: str, destination: str, method: str, uri: str, *,
                accept: bool = False) -> dict[str, str]:
    """Headers of a message the switch itself originates (errors, timeouts, PATCH, GET answers)."""
    headers = {"content-type": content_type(resource), "date": http_date(), "fspiop-source": source,
               "fspiop-destination": destination, "fspiop-http-method": method, "fspiop-uri": uri}
    if accept:
        headers["accept"] = content_type(resource, "1")
    return headers


# -- FSPIOP-Signature -------------------------------------------------------------------------
def _key(jwk: dict) -> Any:
    kty = jwk.get("kty")
    return {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[kty].import_key(jwk)


def check_signing_jwk(jwk: dict) -> dict:
    """A public key FSPs may sign with: RSA ≥ 2048 bits (RS256/384/512) or EC P-256 (ES256)."""
    if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") not in ("RSA", "EC"):
        raise ValueError("a signing key must be a public RSA or EC P-256 JWK")
    try:
        key = _key(jwk)
    except Exception as exc:  # joserfc raises several types for malformed keys
        raise ValueError(f"not a valid JWK: {exc}") from exc
    if jwk["kty"] == "RSA" and key.raw_value.key_size < 2048:
        raise ValueError("RSA signing keys must have at least 2048 bits")
    if jwk["kty"] == "EC" and jwk.get("crv") != "P-256":
        raise ValueError("EC signing keys must be P-256")
    clean = key.as_dict(private=False)
    clean["kid"] = jwk.get("kid") or key.thumbprint()
    return clean


def verify_signature(request: Request, body: bytes, keys: list[dict], resource: str) -> None:
    """Check ``FSPIOP-Signature`` (Signature v1.1 §3.3) against the sender's registered keys."""
    header = request.headers.get("fspiop-signature")
    if not header:
        raise FspiopError("3105", "This FSP signs its messages: FSPIOP-Signature is required", resource=resource)
    try:
        parts = json.loads(header)
        protected, signature = parts["protectedHeader"], parts["signature"]
        claims = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        if not isinstance(claims, dict) or not isinstance(signature, str):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise FspiopError("3105", "FSPIOP-Signature is not a JSON object with protectedHeader and signature",
                          resource=resource) from None
    if claims.get("alg") not in SIGNATURE_ALGS:
        raise FspiopError("3105", f"Signature algorithm must be one of {', '.join(SIGNATURE_ALGS)}", resource=resource)
    headers = request.headers
    expected = {"FSPIOP-URI": headers.get("fspiop-uri"), "FSPIOP-HTTP-Method": headers.get("fspiop-http-method"),
                "FSPIOP-Source": headers.get("fspiop-source")}
    for name, value in expected.items():
        if not value or claims.get(name) != value:
            raise FspiopError("3105", f"The protected header's {name} does not match the request", resource=resource)
    uri = request.url.path.split("/fspiop", 1)[-1] + (f"?{request.url.query}" if request.url.query else "")
    if headers.get("fspiop-uri") != uri or headers.get("fspiop-http-method") != request.method:
        raise FspiopError("3105", "FSPIOP-URI and FSPIOP-HTTP-Method must name this request", resource=resource)
    for name, value in claims.items():
        if name not in ("alg", "kid", "typ") and name.lower() in headers and headers[name.lower()] != value:
            raise FspiopError("3105", f"The protected header's {name} does not match the request", resource=resource)
    if "fspiop-destination" in headers and headers["fspiop-destination"] and "FSPIOP-Destination" not in claims:
        raise FspiopError("3105", "FSPIOP-Destination must be protected when it is sent", resource=resource)
    compact = f"{protected}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}.{signature}"
    for jwk in keys:
        try:
            jws.deserialize_compact(compact, _key(jwk), registry=_JWS)
            return
        except (JoseError, ValueError, TypeError):
            continue
    raise FspiopError("3105", "The signature does not verify with the FSP's registered keys", resource=resource)


def sign(body: bytes, headers: dict[str, str], key: Any, alg: str) -> str:
    """An ``FSPIOP-Signature`` value over ``body`` and the FSPIOP headers (what an FSP sends)."""
    protected = {"alg": alg, "FSPIOP-URI": headers["fspiop-uri"], "FSPIOP-HTTP-Method": headers["fspiop-http-method"],
                 "FSPIOP-Source": headers["fspiop-source"]}
    if headers.get("fspiop-destination"):
        protected["FSPIOP-Destination"] = headers["fspiop-destination"]
    if headers.get("date"):
        protected["Date"] = headers["date"]
    compact = jws.serialize_compact(protected, body, key, registry=_JWS)
    encoded_header, _, signature = compact.split(".")
    return json.dumps({"signature": signature, "protectedHeader": encoded_header})
