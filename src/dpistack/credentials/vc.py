"""W3C Verifiable Credentials Data Model 2.0 secured with Data Integrity (eddsa-rdfc-2022):
issuing, verifying credentials and presentations, free of HTTP (the VC-API is ``vcapi.py``).

The platform issues as ``did:key`` of its active Ed25519 key (the default) or as its
``did:web`` (``did:web:<host of public_url>``, whose DID document it serves at
``/.well-known/did.json`` and holds itself: nothing is resolved over the network). A verifier
here trusts this platform's DIDs (every Ed25519 key it has had) and the DIDs on this
country's trust registry (``issuer.trust`` proposals, ``credentials/trust.py``), for the
credential types they were trusted for; a trusted did:web's document is made from the keys
governance approved with it.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dpistack.core.errors import Problem
from dpistack.core.platform import Platform
from dpistack.credentials import contexts, dataintegrity as di, didkey, statuslist
from dpistack.credentials import trust as trust_registry
from dpistack.credentials.errors import UntrustedIssuer
from dpistack.credentials.vcerrors import (Expired, MalformedCredential, MalformedStatus, NotYetValid,
                                           Revoked, StatusUnavailable, Suspended, UnknownIssuer,
                                           UnresolvableVerificationMethod, VcError, WrongKey)

LIFETIME_DAYS = 365


class BadCredentialRequest(Problem):
    title = "Bad credential"


# -- this platform as an issuer ------------------------------------------------------------
def _ed25519_keys(platform: Platform) -> list[tuple[str, Ed25519PublicKey]]:
    """(kid, key) of every Ed25519 key of the platform's JWKS, active and retired."""
    return [(jwk["kid"], Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "==")))
            for jwk in platform.keys.jwks()["keys"] if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519"]


def own_did_web(platform: Platform) -> str:
    return didkey.did_web(platform.settings.public_url)


def own_did_document(platform: Platform) -> dict:
    return didkey.did_document(own_did_web(platform), _ed25519_keys(platform))


def signer(platform: Platform, issuer: str | None) -> tuple[str, Ed25519PrivateKey, str]:
    """(issuer DID, private key, verification method) for ``issuer`` (None: the did:key)."""
    info, key = platform.keys.active("EdDSA")
    private: Ed25519PrivateKey = key.private_key  # type: ignore[assignment]
    public = private.public_key()
    if issuer in (None, didkey.did_key(public)):
        return didkey.did_key(public), private, didkey.did_key_vm(public)
    if issuer == own_did_web(platform):
        return issuer, private, f"{issuer}#{info.kid}"
    raise BadCredentialRequest(f"This platform issues as {didkey.did_key(public)} or {own_did_web(platform)}, "
                               f"not {issuer!r}.")


class Trust:
    """The DIDs a verifier accepts as issuers and the DID documents it holds: this platform's
    own, and the trust registry's (``listed``)."""

    def __init__(self, own: set[str], listed: trust_registry.TrustList, resolver: didkey.Resolver):
        self.own, self.listed, self.resolver = own, listed, resolver


def _did_document(did: str, jwks: dict) -> dict:
    return didkey.did_document(did, [(k["kid"], Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(k["x"] + "==")))
                                     for k in jwks.get("keys", []) if k.get("kty") == "OKP"])


def trust(platform: Platform) -> Trust:
    """This platform's verifier trust, rebuilt when its keys change or governance decides on trust."""
    listed = trust_registry.for_platform(platform)
    kids = tuple(k.kid for k in platform.keys.keys())
    cached = platform.extras.get("credentials_vc_trust")
    if cached is not None and cached[0] is listed and cached[1] == kids:
        return cached[2]
    resolver = didkey.Resolver()
    resolver.add_document(own_did_document(platform))
    own = {own_did_web(platform)} | {didkey.did_key(key) for _, key in _ed25519_keys(platform)}
    for entry in listed.entries.values():
        if entry.iss.startswith("did:web:") and entry.jwks:
            resolver.add_document(_did_document(entry.iss, entry.jwks))
    result = Trust(own, listed, resolver)
    platform.extras["credentials_vc_trust"] = (listed, kids, result)
    return result


# -- issuing -------------------------------------------------------------------------------
def _check_shape(credential: Any) -> None:
    if not isinstance(credential, dict):
        raise MalformedCredential("A credential is a JSON object.")
    ctx = credential.get("@context")
    if not isinstance(ctx, list) or not ctx or ctx[0] != contexts.CREDENTIALS_V2:
        raise MalformedCredential(f"A VC 2.0 credential's @context is a list starting with {contexts.CREDENTIALS_V2}.")
    types = credential.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        raise MalformedCredential("A credential's type is a list containing VerifiableCredential.")
    if not isinstance(credential.get("credentialSubject"), (dict, list)) or not credential["credentialSubject"]:
        raise MalformedCredential("A credential has a credentialSubject.")


def issuer_id(credential: dict) -> Any:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


def issue(platform: Platform, credential: Any, options: dict | None, agent_id: str) -> dict:
    """The credential, completed (``id``, ``issuer``, ``validFrom``, ``validUntil``, a
    ``credentialStatus`` pair) and signed."""
    try:
        _check_shape(credential)
    except VcError as exc:
        raise BadCredentialRequest(exc.detail) from None
    if "proof" in credential:
        raise BadCredentialRequest("The credential to issue has a proof already.")
    if "credentialStatus" in credential:
        raise BadCredentialRequest("The issuer adds credentialStatus itself.")
    credential = dict(credential)
    did, key, method = signer(platform, issuer_id(credential))
    if credential.get("issuer") is None:
        credential["issuer"] = did
    credential.setdefault("id", f"urn:uuid:{uuid.uuid4()}")
    if not isinstance(credential["id"], str) or ":" not in credential["id"] or len(credential["id"]) > 200:
        raise BadCredentialRequest("The credential's id is an absolute IRI of at most 200 characters.")
    now = datetime.now(UTC).replace(microsecond=0)
    credential.setdefault("validFrom", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if "validUntil" not in credential:
        credential["validUntil"] = now.replace(year=now.year + 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        di.transform(credential)  # refuse undefined terms before a status index is spent
    except VcError as exc:
        raise BadCredentialRequest(exc.detail, code=exc.code) from None
    credential["credentialStatus"] = statuslist.allocate(platform, credential["id"], agent_id)
    try:
        return di.sign(credential, key, method)
    except VcError as exc:
        raise BadCredentialRequest(exc.detail, code=exc.code) from None


def status_list_credential(platform: Platform, list_id: str, purpose: str) -> dict | None:
    """The signed ``BitstringStatusListCredential`` of one of this platform's lists."""
    indexes = statuslist.set_indexes(platform, list_id, purpose)
    if indexes is None:
        return None
    did, key, method = signer(platform, None)
    url = statuslist.base_url(platform) + f"{list_id}-{purpose}"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = {
        "@context": [contexts.CREDENTIALS_V2], "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": did, "validFrom": now,
        "credentialSubject": {"id": url + "#list", "type": "BitstringStatusList", "statusPurpose": purpose,
                              "encodedList": statuslist.encode(indexes)},
    }
    return di.sign(credential, key, method, created=now)


# -- verifying -----------------------------------------------------------------------------
def _validity(credential: dict, now: datetime) -> None:
    for name in ("validFrom", "validUntil"):
        if name in credential:
            try:
                when = di.xsd_datetime(credential[name])
            except ValueError as exc:
                raise MalformedCredential(f"{name}: {exc}.") from None
            if name == "validFrom" and when > now:
                raise NotYetValid(f"The credential is valid only from {credential[name]}.")
            if name == "validUntil" and when < now:
                raise Expired(f"The credential expired at {credential[name]}.")


def _status(platform: Platform, credential: dict) -> None:
    entries = credential.get("credentialStatus")
    if entries is None:
        return
    for entry in entries if isinstance(entries, list) else [entries]:
        if not isinstance(entry, dict) or entry.get("type") != statuslist.ENTRY_TYPE:
            raise MalformedStatus("Only BitstringStatusListEntry credentialStatus is supported.")
        purpose, url, index = entry.get("statusPurpose"), entry.get("statusListCredential"), entry.get("statusListIndex")
        if purpose not in statuslist.PURPOSES or not isinstance(url, str):
            raise MalformedStatus(f"Unsupported statusPurpose {purpose!r} or no statusListCredential.")
        if not isinstance(index, str) or not index.isdigit() or len(index) > 12:
            raise MalformedStatus("statusListIndex is a string of digits.")
        base = statuslist.base_url(platform)
        list_id = url.removeprefix(base).removesuffix("-" + purpose) if url.startswith(base) else None
        flag = statuslist.own_status(platform, list_id, int(index), purpose) if list_id else None
        if flag is None:
            raise StatusUnavailable(f"The status list {url} is not this platform's and no copy is held.")
        if flag:
            raise (Revoked("The issuer has revoked this credential.") if purpose == "revocation"
                   else Suspended("The issuer has suspended this credential."))


def _problem(exc: VcError) -> dict:
    return {"type": f"urn:dpistack:credentials:error:{exc.code}", "code": exc.code,
            "title": type(exc).__name__, "detail": exc.detail}


def verify_credential(platform: Platform, credential: Any, *, now: datetime | None = None) -> dict:
    """VC-API's verification result: ``{verified, checks, warnings, errors}``; each error has
    its ``code``."""
    now = now or datetime.now(UTC)
    checks: list[str] = []
    errors: list[dict] = []
    try:
        _check_shape(credential)
        try:
            method = di.verify(credential, trust(platform).resolver, now=now)
        except UnresolvableVerificationMethod:
            _issuer(platform, credential)  # an issuer not trusted (e.g. a did:web never listed) says so first
            raise
        checks.append("proof")
        if method.controller != issuer_id(credential):
            raise WrongKey(f"The proof was made by {method.controller}, not by the issuer {issuer_id(credential)!r}.")
    except VcError as exc:
        return {"verified": False, "checks": checks, "warnings": [], "errors": [_problem(exc)]}
    for name, check in (("issuer", lambda: _issuer(platform, credential)), ("validity", lambda: _validity(credential, now)),
                        ("credentialStatus", lambda: _status(platform, credential))):
        try:
            check()
            checks.append(name)
        except VcError as exc:
            errors.append(_problem(exc))
    return {"verified": not errors, "checks": checks, "warnings": [], "errors": errors}


def _issuer(platform: Platform, credential: dict) -> None:
    """The issuer is this platform, or on the trust list (not distrusted, not lapsed) for one
    of the credential's types."""
    trusted, iss = trust(platform), issuer_id(credential)
    if iss in trusted.own:
        return
    if not isinstance(iss, str) or not iss.startswith("did:"):
        raise UnknownIssuer(f"{iss!r} is not an issuer this verifier trusts (a W3C credential's issuer is a DID).")
    try:
        entry = trusted.listed.entry_for(iss)
    except UntrustedIssuer as exc:
        raise UnknownIssuer(exc.detail) from None
    types = {t for t in credential.get("type", []) if isinstance(t, str)} - {"VerifiableCredential"}
    if entry.vcts is not None and not entry.vcts & types:
        raise UnknownIssuer(f"Issuer {iss!r} is trusted for {sorted(entry.vcts)}, not for credentials of type "
                            f"{sorted(types)}.")


def verify_presentation(platform: Platform, presentation: Any, challenge: str | None, domain: str | None) -> dict:
    """A presentation's own proof (``authentication``, with the verifier's challenge and
    domain), its holder, and each credential in it."""
    errors: list[dict] = []
    checks: list[str] = []
    results: list[dict] = []
    try:
        if not isinstance(presentation, dict):
            raise MalformedCredential("A presentation is a JSON object.")
        ctx, types = presentation.get("@context"), presentation.get("type")
        if not isinstance(ctx, list) or not ctx or ctx[0] != contexts.CREDENTIALS_V2:
            raise MalformedCredential(f"A VC 2.0 presentation's @context starts with {contexts.CREDENTIALS_V2}.")
        if not isinstance(types, list) or "VerifiablePresentation" not in types:
            raise MalformedCredential("A presentation's type contains VerifiablePresentation.")
        method = di.verify(presentation, trust(platform).resolver, purpose="authentication",
                           challenge=challenge, domain=domain)
        holder = presentation.get("holder")
        holder = holder.get("id") if isinstance(holder, dict) else holder
        if holder is not None and holder != method.controller:
            raise WrongKey(f"The presentation was signed by {method.controller}, not by its holder {holder!r}.")
        checks.append("proof")
    except VcError as exc:
        return {"verified": False, "checks": checks, "warnings": [], "errors": [_problem(exc)]}
    contained = presentation.get("verifiableCredential", [])
    for credential in contained if isinstance(contained, list) else [contained]:
        result = verify_credential(platform, credential)
        results.append(result)
        errors.extend(result["errors"])
    if results:
        checks.append("credentials")
    return {"verified": not errors, "checks": checks, "warnings": [], "errors": errors,
            "credentialResults": results}
