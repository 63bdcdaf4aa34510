"""The platform's OpenID4VP 1.0 verifier for relying parties, free of HTTP.

A relying party (a participant permitted ``credentials:verify``) asks for a presentation with
a DCQL query (§6): here SD-JWT VC credential queries (``format: dc+sd-jwt``,
``meta.vct_values``, ``claims`` by path). The platform makes the Authorization Request:
``response_type: vp_token``, ``response_mode: direct_post``, a fresh 256-bit ``nonce``, a
``state``, the ``response_uri`` of this request, and ``client_id`` with the ``redirect_uri:``
prefix (§5.9.3: the Response URI itself; such requests are not signed), by value in an
``openid4vp://`` link for a QR code. The wallet posts ``vp_token`` (a JSON object: each
credential query's ``id`` → its presentations, §8.1) and ``state`` to the Response URI,
form-encoded (§8.2). The platform checks (§8.6) once — the request is taken by one atomic
update, so a nonce is good for one answer and a replayed response is refused:

* every credential query is answered, with one presentation unless ``multiple``;
* each presentation verifies against the trust list (``trust.verify``), with key binding
  (unless the query sets ``require_cryptographic_holder_binding: false``), the KB-JWT's
  ``nonce`` the request's and its ``aud`` the full Client Identifier (§B.3.6);
* its ``vct`` is one of ``vct_values``; every requested claim is there;
* it discloses no selectively disclosable claim that was not asked for (§6.4.1: without
  ``claims`` the verifier asks for none). ``values`` in a claims query is not enforced:
  the text says a verifier must not rely on it.

The relying party reads the outcome (``verified`` with the requested claims, or ``refused``
with the specific reason) at its request's URL; the wallet is told only that it was received
or why it was refused (``invalid_request``).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, update

from dpistack.core.platform import Platform
from dpistack.core.timeutil import as_utc
from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt, trust
from dpistack.credentials.models import PresentationRequest

REQUEST_LIFETIME = 600  # seconds a wallet has to answer
FORMAT = "dc+sd-jwt"
_ID = r"^[A-Za-z0-9_-]{1,64}$"


class VerifierError(Exception):
    """A request or answer the verifier refuses: ``error`` is the code, ``status`` the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


# -- DCQL (OpenID4VP 1.0 §6), the part this verifier supports ---------------------------------
class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")  # §6: implementations ignore unknown properties


class ClaimsQuery(_Open):
    id: str | None = Field(None, pattern=_ID)
    path: list[str | int | None] = Field(min_length=1, max_length=10)
    values: list[str | int | bool] | None = Field(None, min_length=1, max_length=20)


class SdJwtMeta(_Open):
    vct_values: list[str] = Field(min_length=1, max_length=10)


class CredentialQuery(_Open):
    id: str = Field(pattern=_ID)
    format: Literal["dc+sd-jwt"]
    multiple: bool = False
    meta: SdJwtMeta
    claims: list[ClaimsQuery] | None = Field(None, min_length=1, max_length=30)
    claim_sets: Any = None
    trusted_authorities: Any = None
    require_cryptographic_holder_binding: bool = True


class DcqlQuery(_Open):
    credentials: list[CredentialQuery] = Field(min_length=1, max_length=5)
    credential_sets: Any = None


def parse_dcql(query: Any) -> DcqlQuery:
    try:
        parsed = DcqlQuery.model_validate(query)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise VerifierError("invalid_request", f"dcql_query: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    if parsed.credential_sets is not None or any(q.claim_sets is not None for q in parsed.credentials):
        raise VerifierError("invalid_request", "credential_sets and claim_sets are not supported by this verifier: "
                                               "every credential query and every claim listed is required.")
    if any(q.trusted_authorities is not None for q in parsed.credentials):
        raise VerifierError("invalid_request", "trusted_authorities is not supported: the trust list decides.")
    ids = [q.id for q in parsed.credentials]
    if len(set(ids)) != len(ids):
        raise VerifierError("invalid_request", "dcql_query: two credential queries have the same id.")
    return parsed


def select_path(claims: Any, path: list) -> list:
    """The elements a claims path pointer selects (§7.1): strings are keys, integers indices,
    ``null`` every element of an array. A component that meets the wrong type selects nothing
    (the verifier's check and the wallet's match use this one reading)."""
    selected: list = [claims]
    for component in path:
        nxt: list = []
        for element in selected:
            if isinstance(component, str) and isinstance(element, dict) and component in element:
                nxt.append(element[component])
            elif component is None and isinstance(element, list):
                nxt.extend(element)
            elif isinstance(component, int) and not isinstance(component, bool) and isinstance(element, list) \
                    and 0 <= component < len(element):
                nxt.append(element[component])
        selected = nxt
    return selected


# -- requests ---------------------------------------------------------------------------------
def response_uri(platform: Platform, request_id: str) -> str:
    return platform.settings.public_url.rstrip("/") + f"/credentials/v1/presentations/{request_id}/response"


def client_id(platform: Platform, request_id: str) -> str:
    return "redirect_uri:" + response_uri(platform, request_id)


def create_request(platform: Platform, relying_party: str, dcql_query: Any) -> dict:
    """A presentation request, stored until answered or expired; the Authorization Request
    parameters by value and as an ``openid4vp://`` link."""
    parsed = parse_dcql(dcql_query)
    request_id, nonce, state = str(uuid.uuid4()), secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    now = datetime.now(UTC)
    query = parsed.model_dump(mode="json", exclude_none=True, exclude={"credential_sets"})
    for q in query["credentials"]:
        q.pop("claim_sets", None), q.pop("trusted_authorities", None)
    with platform.db.uow(write=True) as session:
        session.execute(delete(PresentationRequest).where(PresentationRequest.expires_at < now))
        session.add(PresentationRequest(id=request_id, relying_party=relying_party, nonce=nonce, state=state,
                                        dcql_query=query, status="pending",
                                        expires_at=now + timedelta(seconds=REQUEST_LIFETIME)))
    params = {
        "client_id": client_id(platform, request_id), "response_type": "vp_token", "response_mode": "direct_post",
        "response_uri": response_uri(platform, request_id), "nonce": nonce, "state": state, "dcql_query": query,
        "client_metadata": {"vp_formats_supported": {FORMAT: {"sd-jwt_alg_values": [sdjwt.ALG],
                                                              "kb-jwt_alg_values": [sdjwt.ALG]}}},
    }
    link = "openid4vp://?" + urlencode({k: json.dumps(v, separators=(",", ":")) if isinstance(v, dict) else v
                                        for k, v in params.items()})
    return {"id": request_id, "expires_in": REQUEST_LIFETIME, "authorization_request": params,
            "authorization_request_uri": link}


def outcome(platform: Platform, relying_party: str, request_id: str) -> dict:
    """What became of a request, for the relying party that made it (404 for anyone else)."""
    with platform.db.uow() as session:
        row = session.get(PresentationRequest, request_id)
        if row is None or row.relying_party != relying_party:
            raise VerifierError("not_found", f"No presentation request {request_id!r} of yours.", 404)
        status = "pending" if row.status == "answering" else row.status
        return {"id": row.id, "status": status, **(row.result or {})}


# -- responses --------------------------------------------------------------------------------
def _take(platform: Platform, request_id: str, state: str | None) -> PresentationRequest:
    """The pending request, marked as being answered (one answer per nonce, across workers)."""
    now = datetime.now(UTC)
    with platform.db.uow(write=True) as session:
        row = session.get(PresentationRequest, request_id)
        if row is None or as_utc(row.expires_at) < now:
            raise VerifierError("invalid_request", "No such presentation request, or it has expired.")
        if state is None or not secrets.compare_digest(state.encode(), row.state.encode()):
            raise VerifierError("invalid_request", "state does not match the request's.")
        taken = session.execute(update(PresentationRequest).where(
            PresentationRequest.id == request_id, PresentationRequest.status == "pending").values(status="answering"))
        if taken.rowcount != 1:
            raise VerifierError("invalid_request", "This request was already answered: its nonce is used (replay?).")
        session.expunge(row)
        return row


def _finish(platform: Platform, request_id: str, status: str, result: dict) -> None:
    with platform.db.uow(write=True) as session:
        session.execute(update(PresentationRequest).where(PresentationRequest.id == request_id)
                        .values(status=status, result=result))


def receive_response(platform: Platform, request_id: str, form: dict[str, str]) -> dict:
    """The wallet's Authorization Response (direct_post). The request is used up whatever
    the outcome; the relying party sees the specific reason, the wallet ``invalid_request``."""
    row = _take(platform, request_id, form.get("state"))
    if "vp_token" not in form and form.get("error"):
        _finish(platform, request_id, "refused", {"error": "wallet_error", "error_description":
                                                  f"The wallet answered {form['error']}: {form.get('error_description', '')}"[:500]})
        return {}
    try:
        result = _check(platform, row, form.get("vp_token"))
    except (VerifierError, E.SdJwtError) as exc:
        code = exc.error if isinstance(exc, VerifierError) else exc.code
        detail = exc.description if isinstance(exc, VerifierError) else exc.detail
        _finish(platform, request_id, "refused", {"error": code, "error_description": detail})
        raise VerifierError("invalid_request", f"{code}: {detail}") from exc
    _finish(platform, request_id, "verified", {"credentials": result})
    return {}


def _check(platform: Platform, row: PresentationRequest, vp_token: str | None) -> dict:
    if not vp_token:
        raise VerifierError("invalid_vp_token", "The response carries no vp_token.")
    try:
        token = json.loads(vp_token)
    except ValueError as exc:
        raise VerifierError("invalid_vp_token", "vp_token is not JSON.") from exc
    if not isinstance(token, dict):
        raise VerifierError("invalid_vp_token", "vp_token is a JSON object keyed by credential query id.")
    query = DcqlQuery.model_validate(row.dcql_query)
    asked = {q.id for q in query.credentials}
    if set(token) - asked:
        raise VerifierError("invalid_vp_token", f"vp_token answers queries that were not asked: {sorted(set(token) - asked)}.")
    trust_list, status = trust.for_platform(platform), trust.platform_status(platform)
    audience = client_id(platform, row.id)
    out: dict[str, list] = {}
    for q in query.credentials:
        presentations = token.get(q.id)
        if not isinstance(presentations, list) or not presentations:
            raise VerifierError("missing_credential", f"No presentation for credential query {q.id!r}.")
        if len(presentations) > 1 and not q.multiple:
            raise VerifierError("invalid_vp_token", f"Credential query {q.id!r} takes one presentation.")
        out[q.id] = [_check_one(p, q, trust_list, audience, row.nonce, status) for p in presentations]
    return out


def _check_one(presentation: Any, q: CredentialQuery, trust_list: trust.TrustList, audience: str, nonce: str,
               status: trust.StatusLookup) -> dict:
    if not isinstance(presentation, str):
        raise VerifierError("invalid_vp_token", "An SD-JWT VC presentation is a string.")
    verified, entry = trust.verify(presentation, trust_list, audience=audience, nonce=nonce,
                                   require_key_binding=q.require_cryptographic_holder_binding, status=status)
    if verified.claims.get("vct") not in q.meta.vct_values:
        raise VerifierError("wrong_credential_type", f"The credential is a {verified.claims.get('vct')!r}, "
                                                     f"not one of {q.meta.vct_values}.")
    _, issuer_payload, _, _ = sdjwt.parse_jws(presentation.split("~", 1)[0], "issuer-signed JWT", E.MalformedSdJwt)
    always_visible = set(issuer_payload) - {"_sd", "_sd_alg"}
    disclosed = set(verified.claims) - always_visible
    requested = {c.path[0] for c in q.claims or [] if isinstance(c.path[0], str)}
    if disclosed - requested:
        raise VerifierError("over_disclosure", f"The presentation discloses claims that were not asked for: "
                                               f"{sorted(disclosed - requested)}; it must disclose only what is requested.")
    claims: dict = {}
    for c in q.claims or []:
        found = select_path(verified.claims, c.path)
        if not found:
            raise VerifierError("missing_claim", f"The requested claim {c.path} is not in the presentation.")
        claims[".".join("*" if p is None else str(p) for p in c.path)] = found[0] if len(found) == 1 else found
    return {"claims": claims, "vct": verified.claims.get("vct"), "holder_bound": verified.key_binding is not None,
            "issuer": {"iss": entry.iss, "name": entry.name, "country": entry.country, "self": entry.own},
            "verified_at": int(time.time())}
