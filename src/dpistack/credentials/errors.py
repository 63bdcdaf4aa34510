"""Credential errors, each carrying a machine-readable ``code`` and a sentence for people.

SD-JWT verification raises a :class:`SdJwtError` subclass that names what is wrong (a verifier
shows the reason, never a bare "invalid"). The issuer's HTTP API answers with OpenID4VCI's
error format (``{"error", "error_description"}``, OpenID4VCI 1.0 §8.3.1): :class:`IssuerError`.
"""

from __future__ import annotations


class CodedError(Exception):
    """An error with a ``code`` for machines and a ``detail`` sentence for people."""

    code = "invalid"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class SdJwtError(CodedError):
    """An SD-JWT (VC) that does not verify. ``code`` says why, for machines."""

    code = "invalid_sd_jwt"


class MalformedSdJwt(SdJwtError):
    code = "malformed"


class WrongType(SdJwtError):
    code = "wrong_typ"


class UnsupportedAlgorithm(SdJwtError):
    code = "unsupported_alg"


class UnknownIssuerKey(SdJwtError):
    code = "unknown_issuer_key"


class BadSignature(SdJwtError):
    code = "bad_signature"


class Expired(SdJwtError):
    code = "expired"


class NotYetValid(SdJwtError):
    code = "not_yet_valid"


class MalformedDisclosure(SdJwtError):
    code = "malformed_disclosure"


class UnknownDigest(SdJwtError):
    """A disclosure whose digest the issuer did not sign: tampered with, or from another credential."""

    code = "unknown_digest"


class DuplicateDisclosure(SdJwtError):
    code = "duplicate_disclosure"


class DuplicateDigest(SdJwtError):
    code = "duplicate_digest"


class ClaimConflict(SdJwtError):
    code = "claim_conflict"


class MissingKeyBinding(SdJwtError):
    code = "missing_kb_jwt"


class BadKeyBinding(SdJwtError):
    code = "bad_kb_jwt"


class WrongHolderKey(SdJwtError):
    code = "wrong_holder_key"


class WrongNonce(SdJwtError):
    code = "wrong_nonce"


class WrongAudience(SdJwtError):
    code = "wrong_audience"


class StaleKeyBinding(SdJwtError):
    code = "stale_kb_jwt"


class IssuerError(Exception):
    """An OpenID4VCI error answer: ``error`` is one of the protocol's codes."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class UntrustedIssuer(SdJwtError):
    """The credential's issuer is not on the trust list, was distrusted by governance, its trust
    has lapsed, or it is not trusted for this credential type."""

    code = "untrusted_issuer"


class BadTrustList(CodedError):
    """A trust list that cannot be used: not signed by the platform key, wrong type, expired."""

    code = "bad_trust_list"


class MalformedQr(SdJwtError):
    """QR text that is not ``DPI1:`` + base45 of a zlib-compressed presentation."""

    code = "malformed_qr"


class OversizedQr(SdJwtError):
    """A presentation too large for one printable QR code."""

    code = "oversized_qr"


class CredentialRevoked(SdJwtError):
    """Its issuer revoked the credential (its Token Status List entry is INVALID)."""

    code = "revoked"


class CredentialSuspended(SdJwtError):
    code = "suspended"


class StatusUnavailable(SdJwtError):
    """The credential's status list could not be read or does not verify."""

    code = "status_unavailable"
