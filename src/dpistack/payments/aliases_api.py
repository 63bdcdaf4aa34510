"""``POST /payments/v1/aliases/lookup``: where a person's aliases (phone number, national ID)
resolve on the switch, for a relying party acting for that person (the citizen portal's "My
payments aliases"). FSPs ask the oracle through FSPIOP (``GET /participants/{Type}/{ID}``,
answered by callback); a relying party has no callback endpoint, so this answers at once.

Authorised twice by Cedar: the policy ``payments-aliases`` (relying parties) and the
governance grant of ``data:read`` on ``payment-aliases@<payments regulator>``. The relying
party names the person by their UIN (which it got from identity for the person logged in):
the switch keeps it only long enough to write one transparency-log entry under the person's
pseudonym, so that the lookup appears in the person's data tracker. Errors are problem+json.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from dpistack.core.auth import Caller
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.governance.errors import AccessDenied
from dpistack.governance.models import Participant
from dpistack.governance.policy import authorize, require
from dpistack.payments import lookup
from dpistack.payments.lookup import PartyRef
from dpistack.transparency import service as tlog

router = APIRouter(prefix="/payments/v1", tags=["payments aliases"])
CATEGORY = "payment-aliases"  # the data category governance grants (owned by the payments regulator)
POLICY = "payments-aliases"  # the Cedar policy's @id, recorded as the lookup's legal basis
PROBLEM = {"content": {"application/problem+json": {}}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartyIn(_Strict):
    partyIdType: Literal["MSISDN", "EMAIL", "PERSONAL_ID", "ACCOUNT_ID", "IBAN", "ALIAS"]
    partyIdentifier: Annotated[str, Field(min_length=1, max_length=128)]
    partySubIdOrType: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class AliasLookup(_Strict):
    uin: Annotated[str, Field(pattern=r"^[0-9]{8,16}$",
                              description="the person the aliases are of (for the transparency log only)")]
    parties: list[PartyIn] = Field(min_length=1, max_length=10)
    purpose: Annotated[str, Field(min_length=1, max_length=200)] = "the person's own payments aliases"


def regulators(session) -> list[str]:
    return sorted(p.id for p in session.query(Participant).filter(Participant.status == "active")
                  if "payments-regulator" in (p.roles or []))


@router.post("/aliases/lookup", responses={401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
             summary="Which FSP each of a person's aliases resolves to (for a relying party acting for the person)")
def aliases_lookup(body: AliasLookup, caller: Caller = Depends(require("payments:aliases")),
                   platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        if not any(authorize(session, caller.participant_id, "data:read", ("DataCategory", f"{CATEGORY}@{owner}"))
                   .allowed for owner in regulators(session)):
            raise AccessDenied(caller.participant_id, f"data:read on {CATEGORY}")
        parties = [{**p.model_dump(exclude_none=True),
                    "accounts": lookup.accounts_of(session, platform, PartyRef(p.partyIdType, p.partyIdentifier,
                                                                               p.partySubIdOrType))}
                   for p in body.parties]
        secret = platform.extras.get("tlog_pseudonym_key")
        if secret is None:
            secret = platform.extras["tlog_pseudonym_key"] = platform.keys.derived_secret("transparency:pseudonym")
        tlog.append(session, tlog.access_entry(
            subject_pseudonym=tlog.pseudonym(secret, body.uin), accessor=caller.participant_id,
            categories=[CATEGORY], purpose=body.purpose, legal_basis=POLICY))
    return {"parties": parties}
