"""The OpenID4VCI issuer of the national ID credential (an SD-JWT VC), free of HTTP.

What it does in this slice (OpenID for Verifiable Credential Issuance 1.0):

* its metadata (``/.well-known/openid-credential-issuer``): one configuration,
  ``national-id-sd-jwt``, ``format: dc+sd-jwt``, holder binding by ``jwk``, ``jwt`` proofs;
* ``c_nonce`` values from the nonce endpoint, kept in ``credentials_nonces`` (so every worker
  process sees them), short-lived and taken once;
* the credential endpoint: proofs of the holder's key (``typ: openid4vci-proof+jwt``, the key
  in the ``jwk`` header, ``aud`` the issuer, ``nonce`` a fresh ``c_nonce``) and one SD-JWT VC
  per proof, bound to that key, signed with the platform's ES256 key (the one in the JWKS).

* the pre-authorized code flow: an issuer agent makes a credential offer, the wallet redeems
  its code once at ``POST /oauth/token`` (grant ``urn:ietf:params:oauth:grant-type:
  pre-authorized_code``, anonymous) for an access token for the credential endpoint; an offer
  may require a Transaction Code (``tx_code``) the person gets on another channel.

The person's claims come only from identity's public API: the ``kyc+jwt`` an issuer agent (a
participant permitted ``credentials:issue``) received from ``POST /identity/v1/kyc`` (an eKYC
release the person consented to), verified here with the platform's JWKS, addressed to that
agent and fresh; the agent either asks for the credential itself (with the holder's proof) or
makes an offer from it.

* the authorization-code flow (OpenID4VCI 1.0 §3.4): the wallet (an OAuth client of the
  platform's OpenID provider, allowed by governance) sends the person to ``/authorize`` with the
  configuration's ``scope`` or ``authorization_details``; the provider's access token names the
  credential endpoint as its audience and carries the granted ``authorization_details``. The
  person's claims are then read from the provider's public ``/oidc/userinfo`` with that token
  (a JWT signed by the platform, verified here), never from identity's tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select

from dpistack.core.platform import Platform
from dpistack.credentials import sdjwt, statuslist
from dpistack.credentials.errors import IssuerError, MalformedSdJwt, SdJwtError
from dpistack.credentials.models import CredentialOffer, IssuerNonce

CONFIGURATION_ID = "national-id-sd-jwt"
VCT = "urn:dpistack:vct:national-id:1"
PROOF_TYP = "openid4vci-proof+jwt"
NONCE_LIFETIME = 300  # seconds a c_nonce stays good
PROOF_MAX_AGE = 300
CLOCK_SKEW = 60
KYC_MAX_AGE = 600  # an eKYC release older than this is not turned into a credential
BATCH_SIZE = 5
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_LIFETIME = 600  # seconds a pre-authorized code stays good
WALLET_TOKEN_SECONDS = 300
CREDENTIAL_LIFETIME = 365 * 86400
# Identity's eKYC claims a national ID credential carries (OpenID Connect standard claims), and
# what the issuer derives. Each is selectively disclosable; ``name#<lang>`` variants too.
CLAIMS = {
    "given_name": "Given name", "family_name": "Family name", "name": "Full name", "birthdate": "Date of birth",
    "gender": "Gender", "address": "Address", "age_over_18": "Over 18",
}
_CLAIM_NAME = re.compile(r"^(given_name|family_name|name|birthdate|gender|address)(#[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)?$")


def issuer_id(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/")


def credential_endpoint(platform: Platform) -> str:
    return issuer_id(platform) + "/credentials/v1/credential"


def metadata(platform: Platform) -> dict:
    base = issuer_id(platform)
    display = [{"name": "National ID", "locale": "en"}]
    return {
        "credential_issuer": base,
        "credential_endpoint": credential_endpoint(platform),
        "nonce_endpoint": base + "/credentials/v1/nonce",
        "display": [{"name": "DPI Stack credential issuer", "locale": "en"}],
        "batch_credential_issuance": {"batch_size": BATCH_SIZE},
        "credential_configurations_supported": {
            CONFIGURATION_ID: {
                "format": "dc+sd-jwt",
                "vct": VCT,
                "scope": "national_id_credential",
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": [sdjwt.ALG],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": [sdjwt.ALG]}},
                "credential_metadata": {
                    "display": display,
                    "claims": [{"path": [name], "display": [{"name": label, "locale": "en"}]}
                               for name, label in CLAIMS.items()],
                },
            }
        },
    }


# -- nonces ----------------------------------------------------------------------------------
def new_nonce(platform: Platform) -> str:
    """A fresh ``c_nonce``, stored until it is used or expires (expired ones are swept here)."""
    nonce = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with platform.db.uow(write=True) as session:
        session.execute(delete(IssuerNonce).where(IssuerNonce.expires_at < now))
        session.add(IssuerNonce(nonce=nonce, expires_at=now + timedelta(seconds=NONCE_LIFETIME)))
    return nonce


def _take_nonce(platform: Platform, nonce: str) -> bool:
    """True once for a stored, unexpired nonce (the DELETE decides, so two workers cannot both take it)."""
    with platform.db.uow(write=True) as session:
        taken = session.execute(delete(IssuerNonce).where(
            IssuerNonce.nonce == nonce, IssuerNonce.expires_at >= datetime.now(UTC)))
    return taken.rowcount == 1


# -- proofs of the holder's key --------------------------------------------------------------
def verify_proof(platform: Platform, proof: Any, now: float) -> tuple[dict, str]:
    """(the holder's public JWK, the proof's nonce) of a valid ``jwt`` proof (OpenID4VCI 1.0
    Appendix F.1), else ``invalid_proof``. The nonce is checked by the caller."""
    if not isinstance(proof, str):
        raise IssuerError("invalid_proof", "A jwt proof is a compact JWS string.")
    try:
        header, payload, signing_input, signature = sdjwt.parse_jws(proof, "proof", MalformedSdJwt)
    except SdJwtError as exc:
        raise IssuerError("invalid_proof", exc.detail) from exc
    if header.get("typ") != PROOF_TYP:
        raise IssuerError("invalid_proof", f"The proof's typ must be {PROOF_TYP!r}.")
    if header.get("alg") != sdjwt.ALG:
        raise IssuerError("invalid_proof", f"Proof algorithm {header.get('alg')!r} is not supported (ES256).")
    if "kid" in header or "x5c" in header or "trust_chain" in header:
        raise IssuerError("invalid_proof", "The holder's key must be given in the proof's jwk header, and only there.")
    try:
        key = sdjwt.key_from_jwk(header.get("jwk"))
    except ValueError as exc:
        raise IssuerError("invalid_proof", f"The proof's jwk header is not a P-256 public key: {exc}.") from exc
    if not sdjwt.verify_es256(key, signing_input, signature):
        raise IssuerError("invalid_proof", "The proof's signature does not verify with the key in its jwk header.")
    aud = payload.get("aud")
    if not (aud == issuer_id(platform) or (isinstance(aud, list) and issuer_id(platform) in aud)):
        raise IssuerError("invalid_proof", f"The proof's aud must be the credential issuer {issuer_id(platform)!r}.")
    iat = payload.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool) or not now - PROOF_MAX_AGE <= iat <= now + CLOCK_SKEW:
        raise IssuerError("invalid_proof", "The proof's iat is missing or not recent.")
    nonce = payload.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise IssuerError("invalid_nonce", "The proof carries no nonce: get a c_nonce from the nonce endpoint.")
    jwk = header["jwk"]
    return {k: jwk[k] for k in ("kty", "crv", "x", "y")}, nonce


# -- the person's claims, from identity's eKYC release ---------------------------------------
def claims_from_kyc(platform: Platform, kyc: str, agent_id: str, now: float) -> dict:
    """The claims of a ``kyc+jwt`` signed by this platform for ``agent_id``, recent; plus
    ``age_over_18`` derived from ``birthdate``."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(kyc, platform.keys.verification_keyset(), algorithms=["ES256", "EdDSA"])
    except (JoseError, ValueError, TypeError) as exc:
        raise IssuerError("invalid_credential_request", "kyc is not an eKYC release signed by this platform.") from exc
    if decoded.header.get("typ") != "kyc+jwt":
        raise IssuerError("invalid_credential_request", "kyc must be the kyc+jwt from POST /identity/v1/kyc.")
    payload = decoded.claims
    if payload.get("iss") != platform.settings.public_url or payload.get("aud") != agent_id:
        raise IssuerError("invalid_credential_request", "This eKYC release was not made for you by this platform.")
    iat = payload.get("iat")
    if not isinstance(iat, (int, float)) or not now - KYC_MAX_AGE <= iat <= now + CLOCK_SKEW:
        raise IssuerError("invalid_credential_request", f"The eKYC release is older than {KYC_MAX_AGE} s; ask again.")
    claims = {k: v for k, v in payload.items() if _CLAIM_NAME.match(k)}
    if not claims:
        raise IssuerError("invalid_credential_request", "The eKYC release carries no claim a national ID credential holds.")
    return _with_age(claims, now)


def _with_age(claims: dict, now: float) -> dict:
    """The claims plus ``age_over_18``, derived from ``birthdate`` when there is one."""
    birthdate = claims.get("birthdate")
    if isinstance(birthdate, str):
        try:
            born = date.fromisoformat(birthdate)
        except ValueError:
            born = None
        if born is not None:
            today = datetime.fromtimestamp(now, UTC).date()
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            claims["age_over_18"] = age >= 18
    return claims


# -- issuing ---------------------------------------------------------------------------------
def signing_key(platform: Platform) -> sdjwt.SigningKey:
    info, key = platform.keys.active("ES256")
    private: ec.EllipticCurvePrivateKey = key.private_key  # type: ignore[assignment]
    return sdjwt.SigningKey(info.kid, private)


def trusted_issuers(platform: Platform) -> sdjwt.TrustedIssuers:
    """This platform as an issuer with its ES256 keys (active and retired), parsed once per key change."""
    kids = tuple(i.kid for i in platform.keys.keys() if i.purpose == "jwt" and i.alg == "ES256")
    cached = platform.extras.get("credentials_trusted_issuers")
    if cached is None or cached[0] != kids:
        trusted = sdjwt.TrustedIssuers()
        trusted.add_jwks(issuer_id(platform), platform.keys.jwks())
        cached = platform.extras["credentials_trusted_issuers"] = (kids, trusted)
    return cached[1]


def issue_credentials(platform: Platform, configuration_id: str | None, proofs: list | None, *,
                      agent_id: str | None = None, kyc: str | None = None, claims: dict | None = None) -> list[str]:
    """One SD-JWT VC per proof, each bound to its proof's key (OpenID4VCI 1.0 §8); the claims
    are an offer's (a wallet's request) or from the agent's eKYC release."""
    if configuration_id != CONFIGURATION_ID:
        raise IssuerError("unknown_credential_configuration",
                          f"No credential configuration {configuration_id!r}; this issuer has {CONFIGURATION_ID!r}.")
    if not proofs:
        raise IssuerError("invalid_proof", "The request needs proofs.jwt: a proof of the holder's key.")
    if len(proofs) > BATCH_SIZE:
        raise IssuerError("invalid_credential_request", f"At most {BATCH_SIZE} proofs in one request.")
    now = time.time()
    checked = [verify_proof(platform, proof, now) for proof in proofs]
    nonces = {nonce for _, nonce in checked}
    if len(nonces) != 1:
        raise IssuerError("invalid_nonce", "All proofs of one request carry the same c_nonce.")
    if claims is None:
        if not kyc or agent_id is None:
            raise IssuerError("invalid_credential_request", "An issuer agent sends the person's eKYC release as kyc.")
        claims = claims_from_kyc(platform, kyc, agent_id, now)
    if not _take_nonce(platform, nonces.pop()):
        raise IssuerError("invalid_nonce", "The proof's nonce is unknown, used or expired: get a new c_nonce.")
    key = signing_key(platform)
    issued = []
    for jwk, _ in checked:
        # Each credential its own entry in a Token Status List (plain claim `status`), so that
        # its issuer can revoke or suspend it; its id for that is the entry's `uri#idx`.
        _credential_id, status = statuslist.allocate_token_status(platform, agent_id or issuer_id(platform))
        issued.append(sdjwt.issue({**claims, "status": status}, issuer=issuer_id(platform), vct=VCT, key=key,
                                  holder_jwk=jwk, disclosable=list(claims), decoys=3, lifetime=CREDENTIAL_LIFETIME,
                                  now=int(now)))
    return issued


# -- the pre-authorized code flow ------------------------------------------------------------
TX_CODE_ATTEMPTS = 5  # token requests that may compare a Transaction Code before the offer is withdrawn
TX_CODE_LENGTHS = range(6, 13)
TX_CODE_DEFAULT_LENGTH = 6
# A text code avoids letters and digits that read alike (0/O, 1/I/L), for a person typing it from a message.
_TX_TEXT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _tx_code_hash(code: str, tx_code: str) -> str:
    """HMAC-SHA-256 of the Transaction Code keyed with the pre-authorized code (which is never
    stored): without the code, the stored hash cannot be searched for a short Transaction Code."""
    return hmac.new(code.encode(), tx_code.encode(), hashlib.sha256).hexdigest()


def new_tx_code(length: int = TX_CODE_DEFAULT_LENGTH, input_mode: str = "numeric") -> str:
    """A random Transaction Code: ``length`` digits (``numeric``) or letters and digits (``text``)."""
    alphabet = "0123456789" if input_mode == "numeric" else _TX_TEXT_ALPHABET
    return "".join(secrets.choice(alphabet) for _ in range(length))


def create_offer(platform: Platform, agent_id: str, kyc: str, tx_code: dict | None = None) -> dict:
    """A credential offer (OpenID4VCI 1.0 §4.1) for the person of ``kyc``, by value and as an
    ``openid-credential-offer://`` URI (what a QR code shows the wallet).

    With ``tx_code`` (``{length, input_mode, description}``, each optional) the offer requires a
    Transaction Code: the platform makes one, the offer's grant carries only its description
    (§4.1.1), and the code itself is answered separately (``tx_code_value``) for the agent to
    send the person on another channel."""
    claims = claims_from_kyc(platform, kyc, agent_id, time.time())
    code, offer_id, now = secrets.token_urlsafe(32), str(uuid.uuid4()), datetime.now(UTC)
    grant: dict[str, Any] = {"pre-authorized_code": code}
    tx_value = None
    if tx_code is not None:
        mode = tx_code.get("input_mode") or "numeric"
        length = tx_code.get("length") or TX_CODE_DEFAULT_LENGTH
        if mode not in ("numeric", "text"):
            raise IssuerError("invalid_credential_request", "tx_code.input_mode is numeric or text.")
        if length not in TX_CODE_LENGTHS:
            raise IssuerError("invalid_credential_request", f"tx_code.length is {TX_CODE_LENGTHS.start} to "
                                                            f"{TX_CODE_LENGTHS.stop - 1} characters.")
        tx_value = new_tx_code(length, mode)
        grant["tx_code"] = {"input_mode": mode, "length": length}
        if tx_code.get("description"):
            grant["tx_code"]["description"] = tx_code["description"]
    with platform.db.uow(write=True) as session:
        session.execute(delete(CredentialOffer).where(CredentialOffer.expires_at < now))
        session.add(CredentialOffer(id=offer_id, code_hash=_code_hash(code), agent_id=agent_id, claims=claims,
                                    expires_at=now + timedelta(seconds=OFFER_LIFETIME), tx_code_attempts=0,
                                    tx_code_hash=_tx_code_hash(code, tx_value) if tx_value else None))
    offer = {"credential_issuer": issuer_id(platform), "credential_configuration_ids": [CONFIGURATION_ID],
             "grants": {PRE_AUTHORIZED_GRANT: grant}}
    uri = "openid-credential-offer://?" + urlencode({"credential_offer": json.dumps(offer, separators=(",", ":"))})
    answer = {"offer_id": offer_id, "expires_in": OFFER_LIFETIME, "credential_offer": offer,
              "credential_offer_uri": uri}
    if tx_value is not None:
        answer["tx_code_value"] = tx_value
    return answer


def redeem_pre_authorized_code(platform: Platform, form: dict[str, str]) -> dict:
    """The token endpoint's grant handler: a code, once and in time, for a short access token
    whose audience is the credential endpoint (so no participant API accepts it).

    An offer that requires a Transaction Code needs the matching ``tx_code`` (OpenID4VCI 1.0
    §6.1, §6.3): none, or one for an offer without → ``invalid_request``; a wrong one →
    ``invalid_grant``, and after :data:`TX_CODE_ATTEMPTS` compared codes the offer is withdrawn.
    The offer row is locked while its code is compared, so the bound holds across workers."""
    from dpistack.core.auth import ACCESS_TOKEN_TYPE, sign_jwt
    from dpistack.governance.oauth import OAuthError

    code = form.get("pre-authorized_code")
    if not code or len(code) > 200:
        raise OAuthError("invalid_request", "pre-authorized_code is missing")
    tx_code = form.get("tx_code")
    if tx_code is not None and len(tx_code) > 64:
        raise OAuthError("invalid_request", "tx_code is too long")
    now = datetime.now(UTC)
    unknown = OAuthError("invalid_grant", "the pre-authorized code is unknown, used or expired")
    wrong: OAuthError | None = None
    with platform.db.uow(write=True) as session:
        offer = session.scalar(select(CredentialOffer).where(
            CredentialOffer.code_hash == _code_hash(code), CredentialOffer.redeemed_at.is_(None),
            CredentialOffer.expires_at >= now).with_for_update())
        if offer is None:
            raise unknown
        if offer.tx_code_hash is None:
            if tx_code:
                raise OAuthError("invalid_request", "this offer has no transaction code: send no tx_code")
        else:
            if not tx_code:
                raise OAuthError("invalid_request", "this offer requires a transaction code: send it as tx_code")
            if offer.tx_code_attempts >= TX_CODE_ATTEMPTS:
                raise unknown
            offer.tx_code_attempts += 1
            if not hmac.compare_digest(_tx_code_hash(code, tx_code), offer.tx_code_hash):
                left = TX_CODE_ATTEMPTS - offer.tx_code_attempts
                if left <= 0:
                    session.delete(offer)  # withdrawn, its claims with it
                    wrong = OAuthError("invalid_grant", "wrong transaction code; too many wrong codes: the "
                                                        "offer is withdrawn, ask the issuer for a new one")
                else:
                    wrong = OAuthError("invalid_grant", f"wrong transaction code ({left} attempts left)")
        if wrong is None:
            offer.redeemed_at = now
            offer.expires_at = now + timedelta(seconds=WALLET_TOKEN_SECONDS)
        offer_id = offer.id
    if wrong is not None:  # raised after the commit, so the attempt is counted
        raise wrong
    iat = int(time.time())
    token = sign_jwt(platform, {
        "iss": platform.settings.public_url, "sub": offer_id, "aud": credential_endpoint(platform),
        "client_id": form.get("client_id") or "anonymous-wallet", "scope": "national_id_credential",
        "iat": iat, "exp": iat + WALLET_TOKEN_SECONDS, "jti": str(uuid.uuid4())}, typ=ACCESS_TOKEN_TYPE)
    return {"access_token": token, "token_type": "Bearer", "expires_in": WALLET_TOKEN_SECONDS,
            "authorization_details": [{"type": "openid_credential", "credential_configuration_id": CONFIGURATION_ID}]}


def granted_configuration(grants: list | None, configuration_id: str | None, identifier: str | None) -> str:
    """The configuration a credential request asks for (OpenID4VCI 1.0 §8.2). ``grants``: the
    ``authorization_details`` of an access token from the authorization-code flow (None for an
    agent's request or a pre-authorized code). ``credential_identifier`` is required when the
    token response returned ``credential_identifiers`` and not allowed otherwise."""
    if (configuration_id is None) == (identifier is None):
        raise IssuerError("invalid_credential_request",
                          "Send exactly one of credential_configuration_id and credential_identifier.")
    if grants is None:
        if identifier is not None:
            raise IssuerError("invalid_credential_request",
                              "credential_identifier is for tokens whose token response gave credential_identifiers.")
        return configuration_id  # type: ignore[return-value]
    for detail in grants:
        if not isinstance(detail, dict):
            continue
        identifiers = detail.get("credential_identifiers") or []
        if identifier is not None and identifier in identifiers:
            return str(detail.get("credential_configuration_id"))
        if configuration_id is not None and detail.get("credential_configuration_id") == configuration_id:
            if identifiers:
                raise IssuerError("invalid_credential_request",
                                  "The token response gave credential_identifiers: send one as credential_identifier.")
            return configuration_id
    if identifier is not None:
        raise IssuerError("unknown_credential_identifier", f"This access token has no credential {identifier!r}.")
    raise IssuerError("invalid_credential_request",
                      f"This access token does not authorise the credential configuration {configuration_id!r}.")


def claims_from_userinfo(platform: Platform, signed: str, token_claims: dict, now: float) -> dict:
    """The person's claims from the provider's userinfo answer (a JWT signed by the platform)
    for the wallet's access token: its ``sub`` is the token's, its ``aud`` the token's client."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(signed, platform.keys.verification_keyset(), algorithms=["RS256", "ES256", "EdDSA"])
    except (JoseError, ValueError, TypeError) as exc:
        raise IssuerError("invalid_token", "The provider's answer for this token does not verify.", 401) from exc
    info = decoded.claims
    if (info.get("iss") != token_claims.get("iss") or info.get("sub") != token_claims.get("sub")
            or info.get("aud") != token_claims.get("client_id")):
        raise IssuerError("invalid_token", "The provider's answer is not about this token's person.", 401)
    claims = {k: v for k, v in info.items() if _CLAIM_NAME.match(k)}
    if not claims:
        raise IssuerError("invalid_credential_request", "The person consented to no claim a national ID credential "
                                                        "holds, or governance withdrew them.")
    return _with_age(claims, now)


def is_wallet_token(platform: Platform, token: str) -> bool:
    """Whether a bearer token claims the credential endpoint as its audience (unverified: it
    only chooses which check applies)."""
    try:
        payload = sdjwt.b64json(token.split(".")[1])
    except (IndexError, ValueError, UnicodeError):
        return False
    return isinstance(payload, dict) and payload.get("aud") == credential_endpoint(platform)


def verify_wallet_token(platform: Platform, token: str) -> dict:
    """The claims of a valid access token for the credential endpoint; ``invalid_token`` else."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    from dpistack.core.auth import ACCESS_TOKEN_TYPE

    try:
        decoded = jwt.decode(token, platform.keys.verification_keyset(), algorithms=["ES256", "EdDSA"])
    except (JoseError, ValueError, TypeError) as exc:
        raise IssuerError("invalid_token", "The access token does not verify.", 401) from exc
    claims = decoded.claims
    if (decoded.header.get("typ") != ACCESS_TOKEN_TYPE or claims.get("iss") != platform.settings.public_url
            or claims.get("aud") != credential_endpoint(platform)):
        raise IssuerError("invalid_token", "This is not an access token for this credential endpoint.", 401)
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= time.time():
        raise IssuerError("invalid_token", "The access token has expired.", 401)
    return dict(claims)


def offer_claims(platform: Platform, claims: dict) -> tuple[dict, str]:
    """The claims of the offer a wallet's (verified) access token was issued for, and the agent
    who made it; ``invalid_token`` else."""
    with platform.db.uow() as session:
        offer = session.scalar(select(CredentialOffer).where(
            CredentialOffer.id == claims.get("sub"), CredentialOffer.redeemed_at.is_not(None),
            CredentialOffer.expires_at >= datetime.now(UTC)))
        if offer is None:
            raise IssuerError("invalid_token", "The offer this token was issued for is gone.", 401)
        return dict(offer.claims), offer.agent_id
