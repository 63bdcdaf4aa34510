"""Verifying SD-JWT VCs against the trust list (issue #11, the trust registry).

The list is governance's (``dpistack.governance.trust``): the issuers this country trusts, each
with its keys, country and credential types, this platform's own issuer first; plus those it
distrusted. A verifier gets it either from its own platform (in process) or as the signed JWT
(``GET /governance/v1/trusted-issuers``), checked here with the platform's JWKS — which is how
``dpi verify`` works offline from a cached file.

:func:`verify` refuses a credential whose issuer is not on the list, was distrusted, whose
trust has lapsed (``valid_until``) or who is not trusted for the credential's ``vct``, with
:class:`~dpistack.credentials.errors.UntrustedIssuer` (``untrusted_issuer``) naming the issuer;
everything else is :func:`dpistack.credentials.sdjwt.verify`. With a ``status`` look-up it
then checks the credential's Token Status List entry (``status.status_list``): ``revoked``,
``suspended`` or ``status_unavailable``. :func:`platform_status` reads this platform's own
lists from its table and fetches a trusted foreign issuer's list from its ``uri`` (same origin
as the issuer, checked with the issuer's keys from the trust list, kept for its ``ttl``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from dpistack.core.platform import Platform
from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt, statuslist
from dpistack.credentials.vcerrors import MalformedStatus
from dpistack.governance import trust as registry

TRUST_LIST_TYP = registry.TRUST_LIST_TYP


@dataclass(frozen=True)
class Entry:
    iss: str
    name: str
    country: str
    vcts: frozenset[str] | None  # None: every type (this platform's own issuer)
    valid_until: float | None
    own: bool = False
    jwks: dict | None = field(default=None, compare=False)  # a DID issuer's keys (its DID document's)


@dataclass
class TrustList:
    """A parsed trust list: the entries by issuer, their keys parsed once."""

    seq: int
    issued_at: int
    expires_at: int | None
    entries: dict[str, Entry] = field(default_factory=dict)
    distrusted: dict[str, dict] = field(default_factory=dict)
    keys: sdjwt.TrustedIssuers = field(default_factory=sdjwt.TrustedIssuers)

    @classmethod
    def from_payload(cls, payload: dict) -> TrustList:
        try:
            out = cls(seq=int(payload["seq"]), issued_at=int(payload["iat"]),
                      expires_at=int(payload["exp"]) if payload.get("exp") is not None else None)
            for item in payload["issuers"]:
                until = item.get("valid_until")
                vcts = item.get("vcts")
                out.entries[item["iss"]] = Entry(
                    iss=item["iss"], name=item.get("name", ""), country=item.get("country", ""),
                    vcts=None if vcts is None else frozenset(vcts), own=bool(item.get("self")),
                    valid_until=datetime.fromisoformat(until).timestamp() if until else None,
                    jwks=item["jwks"] if item["iss"].startswith("did:") else None)
                out.keys.add_jwks(item["iss"], item["jwks"])
            for item in payload.get("distrusted", []):
                out.distrusted[item["iss"]] = item
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise E.BadTrustList(f"The trust list's content is malformed: {exc!r}.") from exc
        return out

    def entry_for(self, iss: Any, vct: Any = None, now: float | None = None) -> Entry:
        """The entry of a trusted issuer, else :class:`UntrustedIssuer` saying why."""
        now = time.time() if now is None else now
        if not isinstance(iss, str):
            raise E.UntrustedIssuer("The credential names no issuer (iss).")
        if iss in self.distrusted:
            gone = self.distrusted[iss]
            raise E.UntrustedIssuer(f"Issuer {iss!r} was distrusted by governance (proposal "
                                    f"{gone.get('proposal')}, since {gone.get('since')}).")
        entry = self.entries.get(iss)
        if entry is None:
            raise E.UntrustedIssuer(f"Issuer {iss!r} is not on this country's trust list.")
        if entry.valid_until is not None and entry.valid_until < now:
            raise E.UntrustedIssuer(f"Trust in issuer {iss!r} lapsed at {int(entry.valid_until)}.")
        if vct is not None and entry.vcts is not None and vct not in entry.vcts:
            raise E.UntrustedIssuer(f"Issuer {iss!r} is not trusted for credentials of type {vct!r}.")
        return entry


def verify_signed_list(token: str, platform_jwks: dict, *, now: float | None = None,
                       expected_issuer: str | None = None) -> dict:
    """The payload of a signed trust list, checked with the platform's JWKS (offline)."""
    signers = sdjwt.TrustedIssuers()
    try:
        header, payload, signing_input, signature = sdjwt.parse_jws(token.strip(), "trust list", E.MalformedSdJwt)
    except E.SdJwtError as exc:
        raise E.BadTrustList(exc.detail) from exc
    if header.get("typ") != TRUST_LIST_TYP or header.get("alg") != sdjwt.ALG:
        raise E.BadTrustList(f"Not a trust list: typ {header.get('typ')!r}, alg {header.get('alg')!r} "
                             f"(expected {TRUST_LIST_TYP!r}, ES256).")
    signer = payload.get("iss")
    if expected_issuer is not None and signer != expected_issuer:
        raise E.BadTrustList(f"The trust list is by {signer!r}, not {expected_issuer!r}.")
    signers.add_jwks(str(signer), platform_jwks)
    try:
        key = signers.key(signer, header.get("kid"))
    except E.UnknownIssuerKey as exc:
        raise E.BadTrustList(f"The trust list is signed with key {header.get('kid')!r}, which is not in the "
                             "platform's JWKS.") from exc
    if not sdjwt.verify_es256(key, signing_input, signature):
        raise E.BadTrustList("The trust list's signature does not verify with the platform's key.")
    exp = payload.get("exp")
    now = time.time() if now is None else now
    if not isinstance(exp, (int, float)) or exp < now:
        raise E.BadTrustList(f"The trust list expired at {exp}: fetch a fresh one.")
    return payload


def for_platform(platform: Platform) -> TrustList:
    """This platform's trust list, parsed once per trust decision or key change."""
    with platform.db.uow() as session:
        seq = registry.sequence(session)
        kids = tuple(k["kid"] for k in registry.own_issuer_jwks(platform)["keys"])
        cached = platform.extras.get("credentials_trust_list")
        if cached is not None and cached[0] == (seq, kids):
            return cached[1]
        payload = registry.list_payload(session, platform)
    parsed = TrustList.from_payload(payload)
    platform.extras["credentials_trust_list"] = ((seq, kids), parsed)
    return parsed


def peek_issuer(presentation: str) -> tuple[Any, Any]:
    """(``iss``, ``vct``) of an SD-JWT's issuer-signed JWT, unverified: which entry applies."""
    if not isinstance(presentation, str) or not presentation:
        raise E.MalformedSdJwt("An SD-JWT must be a non-empty string.")
    if len(presentation) > sdjwt.MAX_PRESENTATION_CHARS:
        raise E.MalformedSdJwt(f"The SD-JWT is longer than {sdjwt.MAX_PRESENTATION_CHARS} characters.")
    _, payload, _, _ = sdjwt.parse_jws(presentation.split("~", 1)[0], "issuer-signed JWT", E.MalformedSdJwt)
    return payload.get("iss"), payload.get("vct")


# The status of entry ``idx`` of the list at ``uri`` (0 valid, 1 revoked, 2 suspended), for a
# credential of the issuer ``entry`` whose keys are in ``keys``; StatusUnavailable if unknown.
StatusLookup = Callable[[str, int, Entry, sdjwt.TrustedIssuers], int]


def verify(presentation: str, trust_list: TrustList, *, now: float | None = None,
           status: StatusLookup | None = None, **options) -> tuple[sdjwt.Verified, Entry]:
    """Verify a presentation whose issuer must be on the trust list; the result and the issuer's
    entry. With ``status``, a credential that names a status list must be valid in it."""
    iss, vct = peek_issuer(presentation)
    entry = trust_list.entry_for(iss, vct, now)
    verified = sdjwt.verify(presentation, trust_list.keys, now=now, **options)
    if status is not None:
        check_status(verified.claims, entry, trust_list.keys, status)
    return verified, entry


def status_reference(claims: dict) -> tuple[str, int] | None:
    """(uri, idx) of a credential's Token Status List entry; None if it names none."""
    ref = claims.get("status")
    if ref is None:
        return None
    listed = ref.get("status_list") if isinstance(ref, dict) else None
    if listed is None:
        return None  # another status mechanism: not one this verifier knows
    idx, uri = (listed.get("idx"), listed.get("uri")) if isinstance(listed, dict) else (None, None)
    if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0 or not isinstance(uri, str) or not uri:
        raise E.StatusUnavailable("The credential's status.status_list has no valid idx and uri.")
    return uri, idx


def check_status(claims: dict, entry: Entry, keys: sdjwt.TrustedIssuers, status: StatusLookup) -> None:
    ref = status_reference(claims)
    if ref is None:
        return
    value = status(ref[0], ref[1], entry, keys)
    if value == statuslist.INVALID:
        raise E.CredentialRevoked(f"The issuer revoked this credential (status list {ref[0]}, entry {ref[1]}).")
    if value == statuslist.SUSPENDED:
        raise E.CredentialSuspended(f"The issuer suspended this credential (status list {ref[0]}, entry {ref[1]}).")
    if value != statuslist.VALID:
        raise E.CredentialRevoked(f"The credential's status is {value}, not valid.")


def status_from_token(token: str, uri: str, entry: Entry, keys: sdjwt.TrustedIssuers,
                      now: float | None = None) -> dict:
    """The payload of a Token Status List JWT for ``uri``, checked with the issuer's keys."""
    now = time.time() if now is None else now
    try:
        header, payload, signing_input, signature = sdjwt.parse_jws(token.strip(), "status list", E.StatusUnavailable)
        if header.get("typ") != statuslist.TOKEN_TYP or header.get("alg") != sdjwt.ALG:
            raise E.StatusUnavailable(f"Not a status list: typ {header.get('typ')!r}, alg {header.get('alg')!r}.")
        if payload.get("iss") != entry.iss or payload.get("sub") != uri:
            raise E.StatusUnavailable(f"The status list at {uri} is not that issuer's list for this credential.")
        if not sdjwt.verify_es256(keys.key(entry.iss, header.get("kid")), signing_input, signature):
            raise E.StatusUnavailable("The status list's signature does not verify with the issuer's key.")
    except E.UnknownIssuerKey as exc:
        raise E.StatusUnavailable(f"The status list is signed with an unknown key: {exc.detail}") from None
    exp = payload.get("exp")
    if isinstance(exp, (int, float)) and exp < now:
        raise E.StatusUnavailable(f"The status list at {uri} expired at {int(exp)}.")
    return payload


def value_in(payload: dict, idx: int) -> int:
    try:
        return statuslist.token_value(payload.get("status_list"), idx)
    except MalformedStatus as exc:
        raise E.StatusUnavailable(exc.detail) from None


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc) and pa.scheme in ("http", "https")


_fetched_lock = threading.Lock()


def platform_status(platform: Platform) -> StatusLookup:
    """Status look-ups for this platform's verifiers: our own lists from our table; a trusted
    foreign issuer's list fetched from its ``uri`` (only on the issuer's own origin) and kept
    for its ``ttl`` (at most five minutes, never past its ``exp``)."""
    own = statuslist.token_list_url(platform, "")

    def lookup(uri: str, idx: int, entry: Entry, keys: sdjwt.TrustedIssuers) -> int:
        if entry.own:
            if not uri.startswith(own):
                raise E.StatusUnavailable(f"{uri} is not one of this platform's status lists.")
            try:
                value = statuslist.own_token_value(platform, uri[len(own):], idx)
            except MalformedStatus as exc:
                raise E.StatusUnavailable(exc.detail) from None
            if value is None:
                raise E.StatusUnavailable(f"This platform has no status list {uri}.")
            return value
        if not _same_origin(uri, entry.iss):
            raise E.StatusUnavailable(f"The status list {uri} is not on the issuer's own site ({entry.iss}).")
        cache: dict = platform.extras.setdefault("credentials_status_tokens", {})
        now = time.time()
        with _fetched_lock:
            hit = cache.get(uri)
        if hit is None or hit[0] < now:
            import httpx

            try:
                r = httpx.get(uri, headers={"Accept": statuslist.TOKEN_MEDIA_TYPE}, timeout=5.0)
            except httpx.HTTPError as exc:
                raise E.StatusUnavailable(f"The issuer's status list at {uri} cannot be read: {exc}.") from None
            if r.status_code != 200:
                raise E.StatusUnavailable(f"The issuer's status list at {uri} answered {r.status_code}.")
            payload = status_from_token(r.text, uri, entry, keys, now)
            ttl = payload.get("ttl") if isinstance(payload.get("ttl"), (int, float)) else statuslist.TOKEN_TTL
            until = min(now + min(ttl, statuslist.TOKEN_TTL), payload.get("exp") or now + statuslist.TOKEN_TTL)
            hit = (until, payload)
            with _fetched_lock:
                if len(cache) > 1000:
                    cache.clear()
                cache[uri] = hit
        return value_in(hit[1], idx)

    return lookup
