"""The trust registry (issue #11): which credential issuers this country trusts, as decided by
``issuer.trust`` / ``issuer.distrust`` proposals, published as one signed list.

The list is a JWT (``typ: trust-list+jwt``) signed with the platform's active ES256 key, so a
verifier that holds the platform's JWKS (``/.well-known/jwks.json``) checks it offline. Its
payload:

* ``iss`` (the platform), ``iat``, ``exp`` (a cached copy is good for ``LIST_LIFETIME``),
  ``seq`` (the number of trust decisions so far: a newer list has a larger one);
* ``issuers``: each trusted issuer's ``iss``, ``name``, ``country``, ``vcts`` (the credential
  types it is trusted for), ``jwks`` (its keys), optional ``valid_until``, and the ``proposal``
  that decided it. This platform's own issuer comes first, with ``self: true``, its ES256 keys
  and no ``vcts`` (trusted for every type it issues): it is trusted without a proposal;
* ``distrusted``: issuers whose trust governance withdrew (``iss``, ``since``, ``proposal``),
  so a verifier can say so rather than "unknown".
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso
from dpistack.governance.models import TrustedIssuer

TRUST_LIST_TYP = "trust-list+jwt"
MEDIA_TYPE = "application/trust-list+jwt"
LIST_LIFETIME = 30 * 86400  # seconds a cached list stays good for an offline verifier


def own_issuer(platform: Platform) -> str:
    """This platform's credential issuer identifier (its public URL, as the credentials block
    puts in ``iss``)."""
    return platform.settings.public_url.rstrip("/")


def own_issuer_jwks(platform: Platform) -> dict:
    """The platform's ES256 public keys (active and retired): what its credentials are signed with."""
    return {"keys": [k for k in platform.keys.jwks()["keys"] if k.get("alg") == "ES256"]}


def sequence(session: Session) -> int:
    return session.scalar(select(func.max(TrustedIssuer.sequence))) or 0


def list_payload(session: Session, platform: Platform, now: int | None = None) -> dict:
    """The trust list's content (unsigned)."""
    now = int(time.time()) if now is None else now
    issuers = [{"iss": own_issuer(platform), "name": "this platform",
                "country": platform.settings.xroad_instance, "self": True, "jwks": own_issuer_jwks(platform)}]
    distrusted = []
    for row in session.scalars(select(TrustedIssuer).order_by(TrustedIssuer.iss)):
        if row.iss == issuers[0]["iss"]:
            continue  # our own issuer is trusted implicitly
        if row.status == "trusted":
            entry = {"iss": row.iss, "name": row.name, "country": row.country, "vcts": list(row.vcts),
                     "jwks": row.jwks, "proposal": row.proposal_id}
            if row.valid_until is not None:
                entry["valid_until"] = iso(row.valid_until)
            issuers.append(entry)
        else:
            distrusted.append({"iss": row.iss, "since": iso(row.updated_at), "proposal": row.proposal_id})
    return {"iss": platform.settings.public_url, "iat": now, "exp": now + LIST_LIFETIME, "seq": sequence(session),
            "issuers": issuers, "distrusted": distrusted}


def signed_list(platform: Platform) -> str:
    """The trust list as a JWT signed with the platform's active ES256 key."""
    from dpistack.core.auth import sign_jwt

    with platform.db.uow() as session:
        payload = list_payload(session, platform)
    return sign_jwt(platform, payload, typ=TRUST_LIST_TYP)
