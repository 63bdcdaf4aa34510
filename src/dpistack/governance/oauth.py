"""OAuth 2.0 token endpoint: client credentials with ``private_key_jwt`` (RFC 7523, RFC 6749).

Participants prove who they are with a JWT signed by one of their registered keys and get a
short-lived access token (RFC 9068 JWT) naming them and their scopes. Other grants (the
identity block's authorization code) register a handler in ``GRANT_HANDLERS``.
Errors use OAuth's own format (RFC 6749 §5.2), not problem+json.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from dpistack.core.auth import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_TYPE, sign_jwt
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.governance.models import Participant, ParticipantKey, UsedAssertion

log = logging.getLogger("dpistack.oauth")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["ES256", "EdDSA"]
CLOCK_SKEW = 30

router = APIRouter(tags=["oauth"])


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(OAuthError)
    async def _oauth_error(request: Request, exc: OAuthError):
        # Every refusal is logged (never the assertion or code themselves): who tried what.
        log.warning("OAuth request refused at %s: %s (%s)", request.url.path, exc.error, exc.description)
        headers = {"Cache-Control": "no-store"}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description}, status_code=exc.status, headers=headers
        )


def token_endpoint(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/oauth/token"


def read_client_assertion(assertion: str, algs: list[str] = ASSERTION_ALGS) -> tuple[dict, str]:
    """The unverified header and client id (``iss`` = ``sub``) of a client assertion."""
    try:
        unverified = jws.extract_compact(assertion.encode())
        payload = json.loads(unverified.payload)
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise OAuthError("invalid_client", "client_assertion is not a JWT", 401) from exc
    header = unverified.protected
    if header.get("alg") not in algs:
        raise OAuthError("invalid_client", f"client_assertion must be signed with {' or '.join(algs)}", 401)
    if not isinstance(payload, dict):
        raise OAuthError("invalid_client", "client_assertion has no claims", 401)
    client_id = payload.get("iss")
    if not isinstance(client_id, str) or payload.get("sub") != client_id:
        raise OAuthError("invalid_client", "client_assertion iss and sub must both be the client id", 401)
    return header, client_id


def verify_client_assertion(platform: Platform, session, assertion: str, client_id: str, jwks: list[dict],
                            algs: list[str] = ASSERTION_ALGS, max_lifetime: int | None = None) -> dict:
    """RFC 7523 §3: signed by one of the client's keys, for our token endpoint, unexpired, never replayed."""
    header = jws.extract_compact(assertion.encode()).protected
    verified = None
    for jwk in jwks:
        if header.get("kid") not in (None, jwk.get("kid")):
            continue
        try:
            verified = jwt.decode(assertion, JWKRegistry.import_key(jwk), algorithms=algs)
            break
        except (JoseError, ValueError, TypeError):
            continue
    if verified is None:
        raise OAuthError("invalid_client", "client_assertion is not signed by an active key of the client", 401)

    claims = verified.claims
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if not {token_endpoint(platform.settings), platform.settings.public_url} & set(audiences):
        raise OAuthError("invalid_client", "client_assertion aud must be the token endpoint URL", 401)
    now = time.time()
    exp, iat = claims.get("exp"), claims.get("iat", now)
    if not isinstance(exp, (int, float)) or exp < now - CLOCK_SKEW:
        raise OAuthError("invalid_client", "client_assertion has expired or has no exp", 401)
    if exp > now + (max_lifetime or platform.settings.client_assertion_max_seconds):
        raise OAuthError("invalid_client", "client_assertion lifetime is too long", 401)
    if not isinstance(iat, (int, float)) or iat > now + CLOCK_SKEW:
        raise OAuthError("invalid_client", "client_assertion iat is in the future", 401)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 128:
        raise OAuthError("invalid_client", "client_assertion needs a jti", 401)
    # Replay protection: each jti once, remembered until the assertion expires.
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < datetime.now(UTC)))
    try:
        with session.begin_nested():
            session.add(
                UsedAssertion(
                    jti=f"{client_id}:{jti}",
                    participant_id=client_id,
                    expires_at=datetime.fromtimestamp(exp + CLOCK_SKEW, UTC),
                )
            )
    except IntegrityError as exc:
        raise OAuthError("invalid_client", "client_assertion has already been used (jti replay)", 401) from exc
    return claims


def _verify_participant_assertion(platform: Platform, session, assertion: str) -> Participant:
    """A participant's assertion: signed by one of its active registered keys."""
    _, client_id = read_client_assertion(assertion)
    participant = session.get(Participant, client_id)
    if participant is None:
        raise OAuthError("invalid_client", "unknown client", 401)
    if participant.status != "active":
        raise OAuthError("invalid_client", f"participant {client_id} is {participant.status}, not active", 401)
    keys = [{**k.jwk, "kid": k.kid} for k in
            session.query(ParticipantKey).filter_by(participant_id=client_id, status="active")]
    verify_client_assertion(platform, session, assertion, client_id, keys)
    return participant


def allowed_scopes(participant: Participant) -> set[str]:
    """A token's scopes are the roles the participant acts in, plus taking part in governance."""
    return {"governance", *participant.roles}


def issue_client_credentials_token(
    platform: Platform, assertion: str, scopes: list[str] | None = None, client_id: str | None = None
) -> dict:
    with platform.db.uow(write=True) as session:
        participant = _verify_participant_assertion(platform, session, assertion)
        if client_id and client_id != participant.id:
            # A client_id sent alongside the assertion must name the same client (RFC 7521 §4.2).
            raise OAuthError("invalid_client", "client_id does not match the client_assertion", 401)
        allowed = allowed_scopes(participant)
        granted = set(scopes) if scopes else allowed
        if not granted <= allowed:
            raise OAuthError("invalid_scope", f"scopes not allowed for {participant.id}: {' '.join(sorted(granted - allowed))}")
        participant_id = participant.id
    return mint_access_token(platform, participant_id, granted)


def mint_access_token(platform: Platform, participant_id: str, scopes: set[str]) -> dict:
    now = int(time.time())
    lifetime = platform.settings.access_token_seconds
    claims = {
        "iss": platform.settings.public_url,
        "sub": participant_id,
        "aud": ACCESS_TOKEN_AUDIENCE,
        "client_id": participant_id,
        "scope": " ".join(sorted(scopes)),
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    token = sign_jwt(platform, claims, typ=ACCESS_TOKEN_TYPE)
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": claims["scope"]}


# A grant handler runs in a worker thread (it does blocking database work).
GrantHandler = Callable[[Platform, dict[str, str]], dict]


def _client_credentials(platform: Platform, form: dict[str, str]) -> dict:
    if form.get("client_assertion_type") != JWT_BEARER:
        raise OAuthError("invalid_client", f"client authentication must be private_key_jwt ({JWT_BEARER})", 401)
    assertion = form.get("client_assertion")
    if not assertion:
        raise OAuthError("invalid_request", "client_assertion is missing")
    return issue_client_credentials_token(
        platform, assertion, form.get("scope", "").split() or None, client_id=form.get("client_id")
    )


GRANT_HANDLERS: dict[str, GrantHandler] = {"client_credentials": _client_credentials}
# The Authorization Server Metadata (RFC 8414) is identity's OpenID Provider metadata, which
# lists these grants (identity/oidc.py: discovery).


@router.post(
    "/oauth/token",
    summary="OAuth 2.0 token endpoint (client_credentials with private_key_jwt)",
    responses={400: {"description": "OAuth error (RFC 6749 §5.2)"}, 401: {"description": "invalid_client"}},
)
async def token(request: Request) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "send the token request as application/x-www-form-urlencoded")
    try:
        raw = await request.form()
    except Exception as exc:  # malformed body
        raise OAuthError("invalid_request", "the request body is not a valid form") from exc
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is missing")
    handler = GRANT_HANDLERS.get(grant_type)
    if handler is None:
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported here")
    result = await run_in_threadpool(handler, request.app.state.platform, form)
    return JSONResponse(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
