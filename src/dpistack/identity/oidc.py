"""OpenID Connect provider, eSignet / GovStack Identity BB profile.

* Clients are registered by their relying party (an onboarded participant) at
  ``/client-mgmt/oidc-client``; the claims a client may ask for must have been granted to the
  relying party by governance (``identity.claims``).
* Login is the authorization-code flow with PKCE S256 required: ``GET /authorize`` → UIN/VID →
  OTP → consent page → redirect with a one-time code (RFC 9207 ``iss`` included).
* ``POST /oauth/token`` (grant ``authorization_code``) authenticates the client with
  ``private_key_jwt`` against the key it registered, checks code, redirect URI and PKCE
  verifier, and returns an ID token and an access token for ``/oidc/userinfo``. A code used
  twice is refused and everything issued from it is revoked (RFC 6749 §4.1.2).
* ID tokens and userinfo are signed RS256 (OIDC Core §15.1 makes it the default).
* ``sub`` is pairwise: the partner-specific user token (PSUT) of the person for the client's
  relying party, as eSignet does, so two relying parties cannot correlate a person.
* OpenID4VCI 1.0 authorization-code flow: the provider is the authorization server of the
  platform's credential issuer. A request may ask for a credential by the scope of one of the
  issuer's credential configurations or by ``authorization_details`` of type
  ``openid_credential`` (RFC 9396); what the issuer offers is read from its public metadata
  (``/.well-known/openid-credential-issuer``), never from its code. Only relying parties that
  governance allowed (an enacted ``access.grant`` of ``data:read`` on
  ``credential-<configuration id>`` owned by an identity authority) may ask. The person sees
  the credential's claims on the consent page; the access token is for the credential
  endpoint (``aud``) and carries the granted ``authorization_details``; the issuer gets the
  person's claims for it from ``/oidc/userinfo``, with that token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.auth import ACCESS_TOKEN_TYPE, SIGNING_ALGS, sign_jwt
from dpistack.core.crypto import constant_time_equal
from dpistack.core.platform import Platform
from dpistack.core.timeutil import as_utc, utcnow
from dpistack.governance.models import AccessGrant, Participant
from dpistack.governance.oauth import GRANT_HANDLERS, JWT_BEARER, OAuthError, read_client_assertion, verify_client_assertion
from dpistack.identity import authentication, claims, numbers
from dpistack.identity.models import OidcClient, OidcTransaction, Person
from dpistack.identity.schemas import AuthRequest, OidcClientCreate, OidcClientUpdate, OtpRequest
from dpistack.identity.service import IdentityContext, log_access

log = logging.getLogger("dpistack.identity.oidc")

ACR_OTP = "idbb:acr:generated-code"
CLIENT_ASSERTION_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]
ID_TOKEN_ALG = "RS256"  # OIDC Core §15.1: the one every relying party can verify
# Relying-party libraries sign their assertions for up to an hour by default (Authlib: 3600 s);
# replay protection remembers each jti until it expires, so a long lifetime stays safe.
CLIENT_ASSERTION_MAX_SECONDS = 3600
LOGIN_TTL = timedelta(minutes=10)
CODE_TTL = timedelta(seconds=120)
# OpenID Connect Core §5.4: the claims each scope asks for (voluntarily).
SCOPE_CLAIMS = {
    "profile": ("name", "family_name", "given_name", "gender", "birthdate"),
    "email": ("email",),
    "phone": ("phone_number",),
    "address": ("address",),
}
# Scope ``resident``: the client may act for the logged-in person on the residents' API
# (/resident/v1) with the access token, as the person could themself. Only for relying parties
# that governance allowed to: an enacted access.grant of data:read on this category, owned by an
# identity authority (the citizen portal has it).
RESIDENT_SCOPE = "resident"
RESIDENT_CATEGORY = "resident-self-service"
CREDENTIAL_DETAILS_TYPE = "openid_credential"  # OpenID4VCI 1.0 §5.1.1
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
MAX_AUTHORIZATION_DETAILS = 4096  # characters of the authorization_details parameter
PKCE_VERIFIER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def issuer(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/")


def userinfo_endpoint(platform: Platform) -> str:
    return issuer(platform) + "/oidc/userinfo"


def credential_category(configuration_id: str) -> str:
    """The governance data category that lets a relying party be a wallet for a credential."""
    return "credential-" + configuration_id.lower().replace("_", "-")


def discovery(platform: Platform) -> dict:
    """OpenID Connect Discovery 1.0 §3 metadata, which is also the RFC 8414 authorization
    server metadata (``/.well-known/oauth-authorization-server``): the grants are those the
    platform's token endpoint has handlers for."""
    base = issuer(platform)
    grants = sorted(GRANT_HANDLERS)
    extra = {"pre-authorized_grant_anonymous_access_supported": True} if PRE_AUTHORIZED_GRANT in grants else {}
    return {
        "issuer": base,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/oauth/token",
        "userinfo_endpoint": base + "/oidc/userinfo",
        "jwks_uri": base + "/.well-known/jwks.json",
        "registration_endpoint": base + "/client-mgmt/oidc-client",
        "scopes_supported": ["openid", *SCOPE_CLAIMS, RESIDENT_SCOPE],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "authorization_details_types_supported": [CREDENTIAL_DETAILS_TYPE],
        "acr_values_supported": [ACR_OTP],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [ID_TOKEN_ALG],
        "userinfo_signing_alg_values_supported": [ID_TOKEN_ALG],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": True,
        "claims_supported": ["sub", *claims.SUPPORTED_CLAIMS],
        "claim_types_supported": ["normal"],
        "claims_locales_supported": ["en", "ar", "fr", "sw"],
        "ui_locales_supported": ["en"],
        "display_values_supported": ["page"],
        "authorization_response_iss_parameter_supported": True,
        **extra,
    }


def may_act_for_residents(session: Session, relying_party_id: str) -> bool:
    """Whether governance lets this relying party use scope ``resident``."""
    return _allowed_by_identity_authority(session, relying_party_id, RESIDENT_CATEGORY)


def may_be_wallet_for(session: Session, relying_party_id: str, configuration_id: str) -> bool:
    """Whether governance lets this relying party ask for credentials of this configuration."""
    return _allowed_by_identity_authority(session, relying_party_id, credential_category(configuration_id))


def _allowed_by_identity_authority(session: Session, relying_party_id: str, category: str) -> bool:
    rows = session.execute(select(AccessGrant.owner_id).where(
        AccessGrant.participant_id == relying_party_id, AccessGrant.action == "data:read",
        AccessGrant.status == "active", AccessGrant.category == category)).scalars().all()
    if not rows:
        return False
    owners = session.scalars(select(Participant).where(Participant.id.in_(set(rows)))).all()
    return any("identity-authority" in (p.roles or []) and p.status == "active" for p in owners)


# -- client management ------------------------------------------------------------------------

class ClientError(Exception):
    """An error of client management, in the GovStack envelope's ``errorCode`` vocabulary."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _check_redirect_uris(uris: list[str]) -> None:
    for uri in uris:
        parts = urlsplit(uri)
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not (parts.scheme == "https" or local) or not parts.hostname or parts.fragment:
            raise ClientError("invalid_redirect_uri",
                              f"{uri!r}: redirect URIs must be absolute https (or loopback http) without fragment")
    if len(set(uris)) != len(uris):
        raise ClientError("invalid_redirect_uri", "redirect URIs must be unique")


def _public_jwk(key: dict) -> dict:
    try:
        jwk = JWKRegistry.import_key(key)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ClientError("invalid_public_key", "publicKey is not a valid JWK") from exc
    if key.get("kty") not in ("EC", "OKP", "RSA") or jwk.is_private:
        raise ClientError("invalid_public_key", "publicKey must be a public EC, OKP or RSA JWK")
    public = jwk.as_dict(private=False)
    public["kid"] = key.get("kid") or jwk.thumbprint()
    return public


def _check_claims(session: Session, relying_party_id: str, wanted: list[str]) -> None:
    allowed = claims.granted(session, relying_party_id)
    missing = sorted(set(wanted) - allowed)
    if missing:
        raise ClientError("invalid_claim", f"governance has not granted {relying_party_id} these claims: "
                                           f"{', '.join(missing)} (an access.grant of kyc-<claim> is needed)")


def _may_manage(session: Session, caller_id: str, relying_party_id: str, is_authority: bool) -> None:
    if caller_id != relying_party_id and not is_authority:
        raise ClientError("invalid_rp_id", "a relying party registers its own clients only", 403)
    rp = session.get(Participant, relying_party_id)
    if rp is None or rp.status != "active" or "relying-party" not in (rp.roles or []):
        raise ClientError("invalid_rp_id", f"{relying_party_id} is not an active relying party")


def create_client(session: Session, caller_id: str, is_authority: bool, request: OidcClientCreate) -> OidcClient:
    _may_manage(session, caller_id, request.relying_party_id, is_authority)
    if session.get(OidcClient, request.client_id) is not None:
        raise ClientError("duplicate_client_id", f"client {request.client_id} exists already", 409)
    _check_redirect_uris(request.redirect_uris)
    _check_claims(session, request.relying_party_id, request.user_claims)
    client = OidcClient(
        client_id=request.client_id, relying_party_id=request.relying_party_id, name=request.client_name,
        logo_uri=request.logo_uri, redirect_uris=request.redirect_uris, user_claims=sorted(set(request.user_claims)),
        acr_values=request.auth_context_refs, public_key=_public_jwk(request.public_key), status="active",
        created_by=caller_id)
    session.add(client)
    session.flush()
    return client


def update_client(session: Session, caller_id: str, is_authority: bool, client_id: str,
                  request: OidcClientUpdate) -> OidcClient:
    client = session.get(OidcClient, client_id)
    if client is None:
        raise ClientError("invalid_client_id", f"no client {client_id}", 404)
    _may_manage(session, caller_id, client.relying_party_id, is_authority)
    _check_redirect_uris(request.redirect_uris)
    _check_claims(session, client.relying_party_id, request.user_claims)
    client.name, client.logo_uri, client.status = request.client_name, request.logo_uri, request.status
    client.redirect_uris, client.user_claims = request.redirect_uris, sorted(set(request.user_claims))
    client.acr_values, client.updated_at = request.auth_context_refs, utcnow()
    return client


# -- authorization ------------------------------------------------------------------------------

class AuthorizeError(Exception):
    """An authorization-request error. ``redirect_uri`` set: tell the client through it
    (RFC 6749 §4.1.2.1); unset (bad client or redirect URI): tell only the person."""

    def __init__(self, error: str, description: str, redirect_uri: str | None = None, state: str | None = None,
                 issuer_url: str | None = None):
        super().__init__(description)
        self.error, self.description = error, description
        self.redirect_uri, self.state, self.issuer = redirect_uri, state, issuer_url

    def location(self) -> str:
        params = {"error": self.error, "error_description": self.description, "iss": self.issuer}
        if self.state is not None:
            params["state"] = self.state
        return _with_query(self.redirect_uri or "", params)


def _with_query(uri: str, params: dict) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode({k: v for k, v in params.items() if v is not None})


def _requested_claims(raw: str | None, scopes: list[str]) -> tuple[set[str], set[str], set[str]]:
    """(essential, voluntary, for the ID token) from the scopes and the ``claims`` parameter (§5.5)."""
    voluntary = {c for s in scopes for c in SCOPE_CLAIMS.get(s, ())}
    essential: set[str] = set()
    id_token: set[str] = set()
    if raw:
        try:
            asked = json.loads(raw)
        except ValueError as exc:
            raise ValueError("claims is not valid JSON") from exc
        if not isinstance(asked, dict) or not set(asked) <= {"userinfo", "id_token"}:
            raise ValueError("claims must be an object with 'userinfo' and/or 'id_token'")
        for target, members in asked.items():
            if members is None:
                continue
            if not isinstance(members, dict):
                raise ValueError(f"claims.{target} must be an object")
            for name, spec in members.items():
                if spec is not None and not isinstance(spec, dict):
                    raise ValueError(f"claims.{target}.{name} must be null or an object")
                if name not in claims.SUPPORTED_CLAIMS:
                    continue  # OIDC §5.5: claims the OP does not understand are ignored
                (essential if spec and spec.get("essential") is True else voluntary).add(name)
                if target == "id_token":
                    id_token.add(name)
    return essential, voluntary - essential, id_token


class BadCredentialRequest(ValueError):
    """A request for credentials that cannot be granted; ``error`` is its OAuth code."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error


def asks_for_credentials(params: dict[str, str]) -> bool:
    """Whether an authorization request may be about credentials (so the issuer's metadata is
    needed): it has authorization_details, or a scope that is not one of OpenID Connect's."""
    known = {"openid", RESIDENT_SCOPE, *SCOPE_CLAIMS}
    return bool(params.get("authorization_details")) or bool(set((params.get("scope") or "").split()) - known)


def _claims_description(claims_asked) -> None:
    if claims_asked is None:
        return
    if not isinstance(claims_asked, list) or not claims_asked or not all(
            isinstance(c, dict) and isinstance(c.get("path"), list) and c["path"] for c in claims_asked):
        raise BadCredentialRequest("invalid_authorization_details",
                                   "claims must be a non-empty array of claims description objects with a path")


def credential_request(raw_details: str | None, scopes: list[str], meta: dict | None) -> dict | None:
    """The credentials an authorization request asks for (OpenID4VCI 1.0 §5.1), from the scope
    values the issuer's metadata names and the ``authorization_details`` of type
    ``openid_credential``; None when it asks for none. Unknown scope values are ignored (§5.1.2).

    ``claims`` in an authorization detail is checked for its shape but does not narrow the
    credential: it always holds its configuration's claims, each selectively disclosable."""
    configs = (meta or {}).get("credential_configurations_supported") or {}
    by_scope = {c.get("scope"): cid for cid, c in configs.items() if isinstance(c, dict) and c.get("scope")}
    asked: dict[str, bool] = {}  # configuration id -> asked for by authorization_details
    for scope in scopes:
        if scope in by_scope:
            asked.setdefault(by_scope[scope], False)
    if raw_details:
        if len(raw_details) > MAX_AUTHORIZATION_DETAILS:
            raise BadCredentialRequest("invalid_authorization_details", "authorization_details is too long")
        try:
            details = json.loads(raw_details)
        except ValueError as exc:
            raise BadCredentialRequest("invalid_authorization_details",
                                       "authorization_details is not valid JSON") from exc
        if not isinstance(details, list) or not details:
            raise BadCredentialRequest("invalid_authorization_details",
                                       "authorization_details must be a non-empty array")
        for detail in details:
            if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
                raise BadCredentialRequest("invalid_authorization_details",
                                           "each authorization detail must be an object with a type")
            if detail["type"] != CREDENTIAL_DETAILS_TYPE:
                raise BadCredentialRequest("invalid_authorization_details",
                                           f"authorization details of type {detail['type']!r} are not supported")
            cid = detail.get("credential_configuration_id")
            if not isinstance(cid, str) or not cid:
                raise BadCredentialRequest("invalid_authorization_details",
                                           "an openid_credential detail needs a credential_configuration_id")
            if cid not in configs:
                raise BadCredentialRequest("invalid_authorization_details",
                                           f"the credential issuer has no credential configuration {cid!r}")
            locations = detail.get("locations")
            if locations is not None and (not isinstance(locations, list)
                                          or (meta or {}).get("credential_issuer") not in locations):
                raise BadCredentialRequest("invalid_authorization_details",
                                           "locations must name this platform's credential issuer")
            _claims_description(detail.get("claims"))
            asked[cid] = True
    if not asked:
        return None
    credentials = []
    for cid, by_details in asked.items():
        config = configs[cid]
        meta_of = config.get("credential_metadata") or {}
        names = [c["path"][0] for c in meta_of.get("claims") or [] if isinstance(c, dict) and c.get("path")]
        display = next((d.get("name") for d in meta_of.get("display") or [] if isinstance(d, dict)), None)
        credentials.append({"id": cid, "details": by_details, "name": display or cid,
                            "claims": [n for n in claims.SUPPORTED_CLAIMS if n in names]})
    return {"issuer": meta["credential_issuer"], "endpoint": meta["credential_endpoint"], "credentials": credentials}


def start(session: Session, platform: Platform, params: dict[str, str],
          issuer_metadata: dict | None = None) -> tuple[OidcTransaction, OidcClient]:
    """Validate an authorization request (OIDC Core §3.1.2.2; OpenID4VCI 1.0 §5.1 when it asks
    for credentials, with ``issuer_metadata`` the credential issuer's) and open a login transaction."""
    client = session.get(OidcClient, params.get("client_id") or "")
    if client is None or client.status != "active":
        raise AuthorizeError("invalid_client", "This application is not registered, or is no longer active.")
    redirect_uri = params.get("redirect_uri") or ""
    if redirect_uri not in client.redirect_uris:
        raise AuthorizeError("invalid_request", "The application sent you back to an address it has not registered.")
    state = params.get("state")

    def refuse(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri, state, issuer(platform))

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    scopes = (params.get("scope") or "").split()
    try:
        wanted = credential_request(params.get("authorization_details"), scopes, issuer_metadata)
    except BadCredentialRequest as exc:
        raise refuse(exc.error, str(exc)) from exc
    if "openid" not in scopes and wanted is None:
        raise refuse("invalid_scope", "scope must include openid, or the request must ask for a credential")
    for credential in (wanted or {}).get("credentials", []):
        if not may_be_wallet_for(session, client.relying_party_id, credential["id"]):
            raise refuse("invalid_authorization_details" if credential["details"] else "invalid_scope",
                         f"governance has not allowed {client.relying_party_id} to receive the credential "
                         f"{credential['id']} for people")
    if RESIDENT_SCOPE in scopes and not may_act_for_residents(session, client.relying_party_id):
        raise refuse("invalid_scope", f"governance has not allowed {client.relying_party_id} the scope {RESIDENT_SCOPE}")
    challenge = params.get("code_challenge") or ""
    if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
        raise refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
    if params.get("prompt") == "none":
        raise refuse("login_required", "this provider keeps no login sessions; the person must log in")
    acr_asked = (params.get("acr_values") or "").split()
    if acr_asked and ACR_OTP not in acr_asked:
        raise refuse("invalid_request", f"the only authentication offered is {ACR_OTP}")
    if ACR_OTP not in client.acr_values:
        raise refuse("invalid_request", f"the client is not registered for {ACR_OTP}")
    try:
        essential, voluntary, id_token = _requested_claims(params.get("claims"), scopes)
    except ValueError as exc:
        raise refuse("invalid_request", str(exc)) from exc
    allowed = set(client.user_claims) & claims.granted(session, client.relying_party_id)
    txn = OidcTransaction(
        id=secrets.token_urlsafe(24), client_id=client.client_id, redirect_uri=redirect_uri, state=state,
        nonce=params.get("nonce"), code_challenge=challenge, scope=" ".join(scopes),
        essential_claims=sorted(essential & allowed), voluntary_claims=sorted(voluntary & allowed),
        id_token_claims=sorted(id_token & allowed),
        claims_locales=(params.get("claims_locales") or "").split()[:5], acr=ACR_OTP, status="login",
        credential_request=wanted,
        expires_at=utcnow() + LOGIN_TTL)
    session.add(txn)
    return txn, client


@dataclass
class Step:
    txn: OidcTransaction
    client: OidcClient


def open_step(session: Session, txn_id: str, wanted_status: str) -> Step:
    """The transaction a login page posts to; it must be alive and at the expected step."""
    txn = session.scalars(select(OidcTransaction).where(OidcTransaction.id == txn_id).with_for_update()).first()
    if txn is None or txn.status != wanted_status or as_utc(txn.expires_at) <= utcnow():
        raise AuthorizeError("invalid_request", "This login has expired or was already completed. "
                                                "Go back to the application and start again.")
    return Step(txn, session.get(OidcClient, txn.client_id))


def id_type_of(individual_id: str) -> str:
    return "VID" if len(individual_id) == numbers.DEFAULT_VID_POLICY.length else "UIN"


def send_otp(session: Session, ctx: IdentityContext, step: Step, individual_id: str) -> None:
    request = OtpRequest(individual_id=individual_id, individual_id_type=id_type_of(individual_id),
                         transaction_id=step.txn.id, channels=["sms", "email"])
    authentication.request_otp(session, ctx, step.client.relying_party_id, request)


def login(session: Session, ctx: IdentityContext, step: Step, individual_id: str, code: str) -> bool:
    request = AuthRequest(individual_id=individual_id, individual_id_type=id_type_of(individual_id),
                          transaction_id=step.txn.id, otp=code)
    # A login for the residents' service (scope resident, allowed by governance) ignores the
    # person's locks, like the residents' own login: locking a factor must never lock the
    # person out of the place where they unlock it.
    own_service = RESIDENT_SCOPE in step.txn.scope.split()
    result, person = authentication.authenticate_person(session, ctx, step.client.relying_party_id, request,
                                                        purpose=f"oidc login: {step.client.client_id}",
                                                        honour_locks=not own_service)
    if person is None:
        return False
    step.txn.sealed_uin = ctx.cipher.encrypt_fields({"uin": person.uin}, record=step.txn.id)
    step.txn.status, step.txn.auth_time = "authenticated", utcnow()
    return True


def consent(session: Session, ctx: IdentityContext, platform: Platform, step: Step, allow: bool,
            chosen: list[str]) -> str:
    """Record the person's answer; the URL to send their browser back to the client."""
    txn = step.txn
    if not allow:
        txn.status = "denied"
        return AuthorizeError("access_denied", "the person declined", txn.redirect_uri, txn.state,
                              issuer(platform)).location()
    txn.accepted_claims = sorted(set(txn.essential_claims) | (set(chosen) & set(txn.voluntary_claims)))
    released = set(txn.accepted_claims) | credential_claims(txn)
    code = secrets.token_urlsafe(32)
    txn.code_hash = hashlib.sha256(code.encode()).hexdigest()
    txn.code_expires_at = utcnow() + CODE_TTL
    txn.status = "code_issued"
    uin = ctx.cipher.decrypt_fields(txn.sealed_uin, record=txn.id)["uin"]
    purpose = f"oidc consent: {txn.client_id}"
    if txn.credential_request:
        purpose += " (credential: " + ", ".join(c["id"] for c in txn.credential_request["credentials"]) + ")"
    log_access(session, ctx, uin, accessor=step.client.relying_party_id, purpose=purpose,
               categories=sorted(released) or ["none"], consent_id=txn.id)
    return _with_query(txn.redirect_uri, {"code": code, "state": txn.state, "iss": issuer(platform)})


def credential_claims(txn: OidcTransaction, session: Session | None = None, relying_party_id: str = "") -> set[str]:
    """The claims the login's credentials need; with ``session``, only those of credentials
    governance still allows the relying party."""
    out: set[str] = set()
    for credential in (txn.credential_request or {}).get("credentials", []):
        if session is None or may_be_wallet_for(session, relying_party_id, credential["id"]):
            out.update(credential["claims"])
    return out


# -- token and userinfo -------------------------------------------------------------------------

def _pkce_ok(verifier: str, challenge: str) -> bool:
    if not 43 <= len(verifier) <= 128 or not set(verifier) <= PKCE_VERIFIER:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return constant_time_equal(digest, challenge)


def _refuse(error: str, description: str, client_id: str | None, status: int = 400) -> OAuthError:
    return OAuthError(error, f"{description} (client {client_id})" if client_id else description, status)


def exchange_code(platform: Platform, form: dict[str, str]) -> dict:
    """The ``authorization_code`` grant (RFC 6749 §4.1.3, RFC 7636, OIDC Core §3.1.3)."""
    if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
        raise _refuse("invalid_client", f"client authentication must be private_key_jwt ({JWT_BEARER})",
                      form.get("client_id"), 401)
    for needed in ("code", "redirect_uri", "code_verifier"):
        if not form.get(needed):
            raise _refuse("invalid_request", f"{needed} is missing", form.get("client_id"))
    ctx = IdentityContext.of(platform)
    code_hash = hashlib.sha256(form["code"].encode()).hexdigest()
    with platform.db.uow(write=True) as session:
        _, client_id = read_client_assertion(form["client_assertion"], CLIENT_ASSERTION_ALGS)
        client = session.get(OidcClient, client_id)
        if client is None or client.status != "active" or form.get("client_id", client_id) != client_id:
            raise _refuse("invalid_client", "unknown or inactive client", client_id, 401)
        verify_client_assertion(platform, session, form["client_assertion"], client_id, [client.public_key],
                                CLIENT_ASSERTION_ALGS, CLIENT_ASSERTION_MAX_SECONDS)
        txn = session.scalars(select(OidcTransaction).where(OidcTransaction.code_hash == code_hash)
                              .with_for_update()).first()
        if txn is not None and txn.status in ("token_issued", "revoked"):
            replayed = txn.id
        else:
            replayed = None
            if txn is None or txn.client_id != client_id or txn.status != "code_issued":
                raise _refuse("invalid_grant", "the code is not valid for this client", client_id)
            if as_utc(txn.code_expires_at) <= utcnow():
                raise _refuse("invalid_grant", "the code has expired", client_id)
            if txn.redirect_uri != form["redirect_uri"]:
                raise _refuse("invalid_grant", "redirect_uri differs from the authorization request", client_id)
            if not _pkce_ok(form["code_verifier"], txn.code_challenge):
                raise _refuse("invalid_grant", "the PKCE code_verifier does not match the code_challenge", client_id)
            txn.status = "token_issued"
            uin = ctx.cipher.decrypt_fields(txn.sealed_uin, record=txn.id)["uin"]
            tokens = _tokens(platform, ctx, client, txn, uin)
    if replayed:
        # A code used twice may have been stolen: revoke what it gave (RFC 6749 §4.1.2).
        with platform.db.uow(write=True) as session:
            session.get(OidcTransaction, replayed).status = "revoked"
        raise _refuse("invalid_grant", "the code was already used; tokens issued from it are revoked", client_id)
    return tokens


def _tokens(platform: Platform, ctx: IdentityContext, client: OidcClient, txn: OidcTransaction, uin: str) -> dict:
    now = int(time.time())
    lifetime = platform.settings.access_token_seconds
    sub = numbers.partner_token(ctx.token_key, uin, client.relying_party_id)
    claims_of_token = {"iss": issuer(platform), "sub": sub, "aud": userinfo_endpoint(platform),
                       "client_id": client.client_id, "scope": txn.scope, "iat": now, "exp": now + lifetime,
                       "jti": txn.id}
    answer_details = None
    if txn.credential_request:
        # OpenID4VCI 1.0 §6.2: a token for the credential endpoint. The token itself carries
        # what was granted (RFC 9396 §9.1): credential_identifiers only for the configurations
        # asked for by authorization_details, which the token response returns as well.
        granted = []
        for credential in txn.credential_request["credentials"]:
            detail = {"type": CREDENTIAL_DETAILS_TYPE, "credential_configuration_id": credential["id"]}
            if credential["details"]:
                detail["credential_identifiers"] = [f"{credential['id']}.{secrets.token_hex(6)}"]
            granted.append(detail)
        claims_of_token.update(aud=txn.credential_request["endpoint"], authorization_details=granted)
        answer_details = [d for d in granted if "credential_identifiers" in d] or None
    access_token = sign_jwt(platform, claims_of_token, typ=ACCESS_TOKEN_TYPE)
    answer = {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime, "scope": txn.scope}
    if answer_details:
        answer["authorization_details"] = answer_details
    if "openid" not in txn.scope.split():
        return answer  # an OAuth request for credentials only: no ID token
    half = hashlib.sha256(access_token.encode()).digest()[:16]
    id_claims = {
        "iss": issuer(platform), "sub": sub, "aud": client.client_id, "iat": now, "exp": now + lifetime,
        "auth_time": int(as_utc(txn.auth_time).timestamp()), "acr": txn.acr,
        "at_hash": base64.urlsafe_b64encode(half).rstrip(b"=").decode(),
    }
    if txn.nonce is not None:
        id_claims["nonce"] = txn.nonce
    in_id_token = sorted(set(txn.id_token_claims) & set(txn.accepted_claims or []))
    if in_id_token:
        with platform.db.uow() as session:
            data = ctx.cipher.decrypt_fields(session.get(Person, uin).demographics, record=uin)
        id_claims.update(claims.values(data, in_id_token, txn.claims_locales))
    return {**answer, "id_token": sign_jwt(platform, id_claims, alg=ID_TOKEN_ALG)}


class InvalidToken(Exception):
    """RFC 6750 §3.1 ``invalid_token`` at the userinfo endpoint."""


def userinfo(platform: Platform, token: str) -> str:
    """The consented claims, as a JWT signed by the provider (OIDC Core §5.3.2).

    An access token for the credential endpoint (OpenID4VCI authorization-code flow) is
    accepted too: the credential issuer, given that token by the wallet, reads here the claims
    the person consented to put in the credential."""
    try:
        decoded = jwt.decode(token, platform.keys.verification_keyset(), algorithms=SIGNING_ALGS)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidToken("the access token is malformed or its signature does not verify") from exc
    c = decoded.claims
    if decoded.header.get("typ") != ACCESS_TOKEN_TYPE or c.get("iss") != issuer(platform):
        raise InvalidToken("this is not an access token for the userinfo endpoint")
    if not isinstance(c.get("exp"), (int, float)) or c["exp"] <= time.time():
        raise InvalidToken("the access token has expired")
    ctx = IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        txn = session.get(OidcTransaction, str(c.get("jti")))
        for_credential = txn is not None and txn.credential_request is not None \
            and c.get("aud") == txn.credential_request["endpoint"]
        if c.get("aud") != userinfo_endpoint(platform) and not for_credential:
            raise InvalidToken("this is not an access token for the userinfo endpoint")
        if txn is None or txn.status != "token_issued":
            raise InvalidToken("the access token was revoked")
        client = session.get(OidcClient, txn.client_id)
        uin = ctx.cipher.decrypt_fields(txn.sealed_uin, record=txn.id)["uin"]
        person = session.get(Person, uin)
        if person is None or person.status != "active":
            raise InvalidToken("the person's record is no longer active")
        # Governance may have withdrawn a grant since the consent: release only what still holds.
        released = sorted(set(txn.accepted_claims or []) & claims.granted(session, client.relying_party_id)
                          | credential_claims(txn, session, client.relying_party_id))
        data = ctx.cipher.decrypt_fields(person.demographics, record=uin)
        purpose = f"oidc userinfo: {client.client_id}"
        if for_credential:
            purpose = (f"credential issuance for {client.client_id}: "
                       + ", ".join(cr["id"] for cr in txn.credential_request["credentials"]))
        log_access(session, ctx, uin, accessor=client.relying_party_id, purpose=purpose,
                   categories=released or ["none"], consent_id=txn.id)
    return sign_jwt(platform, {"iss": issuer(platform), "aud": client.client_id, "sub": c["sub"],
                               "iat": int(time.time()), **claims.values(data, released, txn.claims_locales)},
                    alg=ID_TOKEN_ALG)
