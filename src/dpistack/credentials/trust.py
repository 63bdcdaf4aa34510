"""Verifying SD-JWT VCs against the trust list (issue #11, the trust registry).

The list is governance's (``dpistack.governance.trust``): the issuers this country trusts, each
with its keys, country and credential types, this platform's own issuer first; plus those it
distrusted. A verifier gets it either from its own platform (in process) or as the signed JWT
(``GET /governance/v1/trusted-issuers``), checked here with the platform's JWKS — which is how
``dpi verify`` works offline from a cached file.

:func:`verify` refuses a credential whose issuer is not on the list, was distrusted, whose
trust has lapsed (``valid_until``) or who is not trusted for the credential's ``vct``, with
:class:`~dpistack.credentials.errors.UntrustedIssuer` (``untrusted_issuer``) naming the issuer;
everything else is :func:`dpistack.credentials.sdjwt.verify`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dpistack.core.platform import Platform
from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt
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
                    valid_until=datetime.fromisoformat(until).timestamp() if until else None)
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


def verify(presentation: str, trust_list: TrustList, *, now: float | None = None, **options) -> tuple[sdjwt.Verified, Entry]:
    """Verify a presentation whose issuer must be on the trust list; the result and the issuer's entry."""
    iss, vct = peek_issuer(presentation)
    entry = trust_list.entry_for(iss, vct, now)
    verified = sdjwt.verify(presentation, trust_list.keys, now=now, **options)
    return verified, entry
