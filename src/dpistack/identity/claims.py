"""Identity claims a relying party may receive (eKYC, OIDC userinfo) and who allows them.

Claim names are OpenID Connect's standard claims (Core 1.0 §5.1), the set GovStack's Identity
BB lists for ``userClaims``. What a relying party may receive is decided by governance: an
enacted ``access.grant`` of ``data:read`` on category ``kyc-<claim>`` (``_`` → ``-``) owned by
an identity authority. What it actually receives is that, intersected with what the person
consented to in the transaction.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.governance.models import AccessGrant, Participant

# Claims this identity system can provide, from the enrolled demographics.
SUPPORTED_CLAIMS = ("name", "given_name", "family_name", "gender", "birthdate", "address", "phone_number", "email")
# Claims the GovStack Identity BB lets a client register (some of which we cannot provide).
REGISTRABLE_CLAIMS = SUPPORTED_CLAIMS + ("middle_name", "preferred_username", "nickname", "email_verified",
                                         "phone_number_verified", "picture", "locale", "zoneinfo")


def category(claim: str) -> str:
    """The governance data category that guards a claim."""
    return "kyc-" + claim.replace("_", "-")


def granted(session: Session, participant_id: str) -> set[str]:
    """Claims governance has granted ``participant_id`` (by an identity authority's grant)."""
    rows = session.execute(select(AccessGrant.category, AccessGrant.owner_id).where(
        AccessGrant.participant_id == participant_id, AccessGrant.action == "data:read",
        AccessGrant.status == "active", AccessGrant.category.like("kyc-%"))).all()
    owners = {owner for _, owner in rows}
    authorities = {p.id for p in session.scalars(select(Participant).where(Participant.id.in_(owners)))
                   if "identity-authority" in (p.roles or []) and p.status == "active"}
    by_category = {category(c): c for c in REGISTRABLE_CLAIMS}
    return {by_category[c] for c, owner in rows if owner in authorities and c in by_category}


def _pick_name(names: list[dict], locales: Iterable[str]) -> dict:
    for locale in locales:
        for name in names:
            if name["language"].split("-")[0] == locale.split("-")[0]:
                return name
    return names[0]


def values(data: dict[str, Any], claims: Iterable[str], locales: Iterable[str] = ()) -> dict[str, Any]:
    """The claims' values for a person. Names come in the first of ``locales`` the person has
    (else their first name); with several locales, also as ``name#<lang>`` (OIDC §5.2)."""
    locales = list(locales)
    names: list[dict] = data["names"]
    name = _pick_name(names, locales)
    out: dict[str, Any] = {}
    for claim in claims:
        if claim in ("name", "given_name", "family_name"):
            part = {"name": lambda n: f"{n['given']} {n['family']}", "given_name": lambda n: n["given"],
                    "family_name": lambda n: n["family"]}[claim]
            out[claim] = part(name)
            if len(locales) > 1:
                for n in names:
                    if any(n["language"].split("-")[0] == loc.split("-")[0] for loc in locales):
                        out[f"{claim}#{n['language']}"] = part(n)
        elif claim == "gender":
            out[claim] = data["sex"]
        elif claim == "birthdate":
            out[claim] = data["birth_date"]
        elif claim == "address":
            out[claim] = {"formatted": data["address"]}
        elif claim == "phone_number" and data.get("phone"):
            out[claim] = data["phone"]
        elif claim == "email" and data.get("email"):
            out[claim] = data["email"]
    return out
