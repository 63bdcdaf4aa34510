"""The payload of each kind of proposal, validated before anything is written."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from joserfc.jwk import ECKey, OKPKey
from pydantic import (AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, field_validator,
                      model_validator)

from dpistack.core.multibase import ed25519_multikey_bytes

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="lower-case id: letters, digits, '-'")]

INSTITUTION_KINDS = ("ministry", "agency", "bank", "wallet-provider", "relying-party", "foreign-hub", "registry")
# Roles an institution can be onboarded with. Authority roles are set at `dpi init` only.
PARTICIPANT_ROLES = ("fsp", "registration", "relying-party", "hub", "data-provider", "data-consumer",
                     "credential-issuer")
DATA_ACTIONS = ("data:read",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_public_jwk(jwk: dict) -> dict:
    """A participant's public key: P-256 (ES256) or Ed25519, with no private part."""
    if not isinstance(jwk, dict):
        raise ValueError("a key must be a JWK object")
    if "d" in jwk:
        raise ValueError("send the public key only: this JWK has a private part ('d')")
    try:
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            key = ECKey.import_key(jwk)
        elif jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            key = OKPKey.import_key(jwk)
        else:
            raise ValueError("keys must be EC P-256 or OKP Ed25519")
    except ValueError:
        raise
    except Exception as exc:  # joserfc raises several types for malformed keys
        raise ValueError(f"not a valid JWK: {exc}") from exc
    clean = key.as_dict(private=False)
    clean["kid"] = jwk.get("kid") or key.thumbprint()
    if not isinstance(clean["kid"], str) or not 1 <= len(clean["kid"]) <= 128:
        raise ValueError("kid must be a string of 1 to 128 characters")
    clean["alg"] = "ES256" if clean["kty"] == "EC" else "EdDSA"
    return clean


class JWKS(_Strict):
    keys: list[dict[str, Any]] = Field(min_length=1, max_length=5)

    @field_validator("keys")
    @classmethod
    def _public_keys(cls, keys: list[dict]) -> list[dict]:
        return [check_public_jwk(k) for k in keys]


class Onboard(_Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: Literal[INSTITUTION_KINDS]  # type: ignore[valid-type]
    roles: list[Literal[PARTICIPANT_ROLES]] = Field(min_length=1, max_length=7)  # type: ignore[valid-type]
    jwks: JWKS
    endpoints: dict[Slug, HttpUrl] = Field(default_factory=dict, max_length=20)


class ChangeStatus(_Strict):
    participant_id: Slug
    reason: str = Field(min_length=1, max_length=1000)


class KeyRegister(_Strict):
    participant_id: Slug
    jwk: dict[str, Any]

    @field_validator("jwk")
    @classmethod
    def _public_key(cls, jwk: dict) -> dict:
        return check_public_jwk(jwk)


class KeyRevoke(_Strict):
    participant_id: Slug
    kid: str = Field(min_length=1, max_length=128)


class Grant(_Strict):
    participant_id: Slug
    action: Literal[DATA_ACTIONS]  # type: ignore[valid-type]
    category: Slug
    owner_id: Slug
    purpose: str = Field(min_length=1, max_length=500)


class GrantRevoke(_Strict):
    grant_id: str = Field(min_length=1, max_length=36)
    reason: str = Field(min_length=1, max_length=1000)


class PolicyChange(_Strict):
    policies: str = Field(min_length=1, max_length=200_000)
    summary: str = Field(min_length=1, max_length=1000)


class RulesChange(_Strict):
    rules: dict[str, Any]
    summary: str = Field(min_length=1, max_length=1000)


_DID_WEB = re.compile(r"^did:web:[A-Za-z0-9.-]+(%3A[0-9]{1,5})?(:[A-Za-z0-9._~%-]+)*$")


def check_issuer_id(iss: str) -> str:
    """An issuer identifier, kept exactly as given (it is compared, case-sensitively, with the
    credentials' issuer):

    * of SD-JWT VCs, an https URL without query or fragment (draft-ietf-oauth-sd-jwt-vc §5);
      plain http only on a loopback host (test instances);
    * of W3C credentials with Data Integrity proofs, a DID: ``did:web:<host>[:path]`` or an
      Ed25519 ``did:key:z6Mk…``."""
    if iss.startswith("did:"):
        if iss.startswith("did:key:"):
            ed25519_multikey_bytes(iss.removeprefix("did:key:"))  # ValueError if not an Ed25519 key
        elif not _DID_WEB.match(iss):
            raise ValueError("a DID issuer is did:web:<host>[:path] or an Ed25519 did:key")
        return iss
    parts = urlsplit(iss)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError("an issuer is an https URL (http only on a loopback host) or a DID")
    if not parts.hostname or parts.query or parts.fragment or iss.endswith("/"):
        raise ValueError("an issuer URL has a host, no query, no fragment and no trailing '/'")
    return iss


IssuerId = Annotated[str, Field(min_length=8, max_length=500, pattern=r"^(https?://|did:(web|key):)[^\s]+$"),
                     AfterValidator(check_issuer_id)]


class IssuerTrust(_Strict):
    """Trust an issuer's credentials of the named types, signed with these keys (a snapshot of
    its JWT VC issuer metadata, or of a DID's document, fetched by the proposer: verifiers never
    fetch it). For a DID, ``vcts`` are the W3C credential ``type`` values it is trusted for."""

    iss: IssuerId
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code of the issuer's country")
    vcts: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(min_length=1, max_length=20)
    jwks: JWKS
    jwks_source: str | None = Field(None, max_length=500, description="Where the keys were fetched from")
    valid_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _keys_fit_the_issuer(self) -> IssuerTrust:
        keys = self.jwks.keys
        if not self.iss.startswith("did:"):
            if any(k["kty"] != "EC" for k in keys):
                raise ValueError("SD-JWT VC issuer keys are EC P-256 (ES256)")
            return self
        if any(k["kty"] != "OKP" for k in keys):
            raise ValueError("a DID issuer's keys are Ed25519 (eddsa-rdfc-2022)")
        if self.iss.startswith("did:key:"):
            own = ed25519_multikey_bytes(self.iss.removeprefix("did:key:"))
            if [base64.urlsafe_b64decode(k["x"] + "==") for k in keys] != [own]:
                raise ValueError("a did:key's one key is the key the DID names")
        return self


class IssuerDistrust(_Strict):
    iss: IssuerId
    reason: str = Field(min_length=1, max_length=1000)


PAYLOADS: dict[str, type[_Strict]] = {
    "participant.onboard": Onboard,
    "participant.suspend": ChangeStatus,
    "participant.reactivate": ChangeStatus,
    "participant.key.register": KeyRegister,
    "participant.key.revoke": KeyRevoke,
    "access.grant": Grant,
    "access.revoke": GrantRevoke,
    "policy.change": PolicyChange,
    "rules.change": RulesChange,
    "issuer.trust": IssuerTrust,
    "issuer.distrust": IssuerDistrust,
}


class ProposalIn(_Strict):
    kind: Literal[tuple(PAYLOADS)]  # type: ignore[valid-type]
    payload: dict[str, Any]


class ApprovalIn(_Strict):
    jws: str = Field(min_length=10, max_length=20_000, description="Compact JWS signed by the approver's key.")


class DecisionIn(_Strict):
    action: str = Field(min_length=1, max_length=100)
    resource_type: Literal["Platform", "DataCategory"] = "Platform"
    resource_id: str = Field(default="dpistack", min_length=1, max_length=200)
