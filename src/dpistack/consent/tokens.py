"""Who the person is: a short-lived token issued by the identity block to a resident logged in
with the national ID (``POST /resident/v1/consent-token``), signed with the platform's keys,
``sub`` = the person's transparency-log pseudonym, ``aud`` = this API. Consent never sees a UIN."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import JoseError

from dpistack.core.auth import SIGNING_ALGS
from dpistack.core.platform import Platform
from dpistack.consent.errors import PersonTokenInvalid

PERSON_TOKEN_TYPE = "dpi-consent+jwt"


def audience(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/") + "/consent"


def person_of(platform: Platform, token: str) -> str | None:
    """The pseudonym named by a valid person token; None when the token is not a person token
    at all (so the caller may try it as a participant's access token); raises when it is one
    but is not valid."""
    try:
        decoded = jwt.decode(token, platform.keys.verification_keyset(), algorithms=SIGNING_ALGS)
    except (JoseError, ValueError, TypeError):
        return None
    if decoded.header.get("typ") != PERSON_TOKEN_TYPE:
        return None
    claims = decoded.claims
    if claims.get("iss") != platform.settings.public_url or claims.get("aud") != audience(platform):
        raise PersonTokenInvalid("The person token was not issued for this consent service.")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= time.time():
        raise PersonTokenInvalid("The person token has expired; ask the residents' API for a new one.")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 16 <= len(sub) <= 64:
        raise PersonTokenInvalid("The person token names no person.")
    return sub
