"""Authentication of participants on protected APIs: platform-issued JWT access tokens.

Tokens are issued at ``POST /oauth/token`` (see ``dpistack.governance.oauth``) and verified
here with the platform's own JWKS: signature, issuer, audience, expiry. Authorisation (what
the participant may do) is a separate, policy-driven step (``dpistack.governance.policy``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request
from joserfc import jwt
from joserfc.errors import JoseError

from dpistack.core.errors import Unauthorized
from dpistack.core.platform import Platform

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068
ACCESS_TOKEN_AUDIENCE = "dpistack"
SIGNING_ALGS = ["ES256", "EdDSA"]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the participant named by a verified access token, and its scopes."""

    participant_id: str
    scopes: frozenset[str]
    token_id: str


def sign_jwt(platform: Platform, claims: dict, typ: str = "JWT", alg: str = "ES256") -> str:
    """A JWT signed with the platform's active key; verifiable with /.well-known/jwks.json."""
    info, key = platform.keys.active(alg)
    return jwt.encode({"alg": alg, "kid": info.kid, "typ": typ}, claims, key)


_VERIFIED_MAX = 10_000


def verify_access_token(platform: Platform, token: str) -> Caller:
    """The caller named by a valid token. A verified token is remembered until it expires (it
    cannot change, and access tokens are not revocable), so a busy client costs one signature
    check per token, not per request."""
    verified: dict[str, tuple[Caller, float]] = platform.extras.setdefault("verified_tokens", {})
    hit = verified.get(token)
    if hit is not None and hit[1] > time.time():
        return hit[0]
    caller, exp = _verify_access_token(platform, token)
    if len(verified) >= _VERIFIED_MAX:
        verified.clear()  # crude but bounded; refilled at one signature check per token
    verified[token] = (caller, exp)
    return caller


def _verify_access_token(platform: Platform, token: str) -> tuple[Caller, float]:
    try:
        decoded = jwt.decode(token, platform.keys.verification_keyset(), algorithms=SIGNING_ALGS)
    except (JoseError, ValueError, TypeError) as exc:
        raise Unauthorized("The access token is malformed or its signature does not verify.") from exc
    if decoded.header.get("typ") != ACCESS_TOKEN_TYPE:
        raise Unauthorized("This is not an access token (typ must be at+jwt).")
    claims = decoded.claims
    now = time.time()
    if claims.get("iss") != platform.settings.public_url or claims.get("aud") != ACCESS_TOKEN_AUDIENCE:
        raise Unauthorized("The access token was not issued for this platform.")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= now:
        raise Unauthorized("The access token has expired.")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("The access token names no participant.")
    scopes = frozenset(str(claims.get("scope", "")).split())
    return Caller(participant_id=sub, scopes=scopes, token_id=str(claims.get("jti", ""))), float(exp)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("This API needs an access token: Authorization: Bearer <token> (see POST /oauth/token).")
    return token.strip()
