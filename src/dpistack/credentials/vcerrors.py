"""Why a W3C verifiable credential or presentation (Data Integrity) does not verify.

Each :class:`VcError` subclass has a ``code`` for machines and a sentence for people; the
VC-API's verify endpoints put them in ``errors`` (one entry per failure).
"""

from __future__ import annotations

from dpistack.credentials.errors import CodedError


class VcError(CodedError):
    code = "invalid_credential"


class MalformedJsonLd(VcError):
    code = "malformed_jsonld"


class UnknownContext(VcError):
    """A JSON-LD context that is not bundled: contexts are never fetched."""

    code = "unknown_context"


class UndefinedTerm(VcError):
    """A property or type no context defines: JSON-LD would drop it, so no signature covers it."""

    code = "undefined_term"


class MalformedCredential(VcError):
    code = "malformed_credential"


class MissingProof(VcError):
    code = "missing_proof"


class UnknownCryptosuite(VcError):
    code = "unknown_cryptosuite"


class MalformedProof(VcError):
    code = "malformed_proof"


class BadProofValue(VcError):
    """``proofValue`` is not a base58-btc multibase string of a 64-byte Ed25519 signature."""

    code = "bad_proof_value"


class UnresolvableVerificationMethod(VcError):
    code = "unresolvable_verification_method"


class WrongKey(VcError):
    """The verification method is not the issuer's (or holder's), or not for this proof purpose."""

    code = "wrong_key"


class BadSignature(VcError):
    """The signature does not verify: the document or proof was changed after signing."""

    code = "bad_signature"


class WrongProofPurpose(VcError):
    code = "wrong_proof_purpose"


class WrongChallenge(VcError):
    code = "wrong_challenge"


class WrongDomain(VcError):
    code = "wrong_domain"


class Expired(VcError):
    code = "expired"


class NotYetValid(VcError):
    code = "not_yet_valid"


class UnknownIssuer(VcError):
    code = "unknown_issuer"


class Revoked(VcError):
    code = "revoked"


class Suspended(VcError):
    code = "suspended"


class StatusUnavailable(VcError):
    """The credential's status list cannot be read (not this platform's, and none is cached)."""

    code = "status_unavailable"


class MalformedStatus(VcError):
    code = "malformed_status"
