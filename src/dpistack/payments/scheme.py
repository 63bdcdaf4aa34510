"""Setting up a payment scheme over the public APIs, as its authorities would: the hub's accounts,
then each FSP onboarded by governance (the payments regulator approves), put on the switch
with a net debit cap, its callback endpoints and its collateral. Used by the demo, the
benchmark and the end-to-end tests (every step is an HTTP call a real operator makes)."""

from __future__ import annotations

import uuid
from pathlib import Path

from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload

ADMIN = "/payments/admin"


class SchemeError(Exception):
    pass


def _ok(response, what: str) -> dict | list | None:
    if response.status_code >= 300:
        raise SchemeError(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def open_hub(regulator: ParticipantClient, currency: str) -> None:
    """The hub's multilateral-settlement and reconciliation accounts, and a deferred net model."""
    hub = regulator.get(f"{ADMIN}/participants/Hub/accounts")
    existing = {(a["ledgerAccountType"], a["currency"]) for a in hub.json()} if hub.status_code == 200 else set()
    for kind in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
        if (kind, currency) not in existing:
            _ok(regulator.post(f"{ADMIN}/participants/Hub/accounts", json={"currency": currency, "type": kind}),
                f"hub {kind} account")
    if regulator.get(f"{ADMIN}/settlementModels/DEFERREDNET").status_code == 404:
        _ok(regulator.post(f"{ADMIN}/settlementModels", json={
            "name": "DEFERREDNET", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
            "settlementDelay": "DEFERRED", "currency": currency, "requireLiquidityCheck": True,
            "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": True}),
            "settlement model")


def onboard_fsp(proposer: ParticipantClient, regulator: ParticipantClient, data_dir: Path, fsp_id: str, name: str,
                endpoints: dict[str, str], currency: str, net_debit_cap: str, collateral: str) -> None:
    """Governance onboards the FSP (its development key kept in ``data_dir``), then the hub
    operator puts it on the switch."""
    key = credentials.new_key()
    credentials.save_private_jwk(data_dir, fsp_id, key)
    proposal = _ok(proposer.propose("participant.onboard", onboarding_payload(fsp_id, name, "bank", ["fsp"], key)),
                   f"onboarding proposal for {fsp_id}")
    decided = _ok(regulator.decide(proposal), f"the regulator's approval of {fsp_id}")
    if decided["status"] != "enacted":
        raise SchemeError(f"{fsp_id} is not onboarded: {decided}")
    _ok(regulator.post(f"{ADMIN}/participants", json={"name": fsp_id, "currency": currency}), f"{fsp_id} on the switch")
    _ok(regulator.post(f"{ADMIN}/participants/{fsp_id}/initialPositionAndLimits", json={
        "currency": currency, "limit": {"type": "NET_DEBIT_CAP", "value": net_debit_cap}, "initialPosition": 0}),
        f"{fsp_id}'s net debit cap")
    for kind, url in endpoints.items():
        _ok(regulator.post(f"{ADMIN}/participants/{fsp_id}/endpoints", json={"type": kind, "value": url}),
            f"{fsp_id}'s {kind}")
    fund(regulator, fsp_id, currency, collateral)


def fund(regulator: ParticipantClient, fsp_id: str, currency: str, amount: str) -> None:
    accounts = _ok(regulator.get(f"{ADMIN}/participants/{fsp_id}/accounts"), f"{fsp_id}'s accounts")
    settlement = next(a for a in accounts if a["ledgerAccountType"] == "SETTLEMENT" and a["currency"] == currency)
    _ok(regulator.post(f"{ADMIN}/participants/{fsp_id}/accounts/{settlement['id']}", json={
        "transferId": str(uuid.uuid4()), "externalReference": "collateral deposit", "action": "recordFundsIn",
        "reason": "collateral at the central bank", "amount": {"amount": amount, "currency": currency}}),
        f"{fsp_id}'s collateral")


def account(regulator: ParticipantClient, fsp_id: str, kind: str, currency: str) -> dict:
    accounts = _ok(regulator.get(f"{ADMIN}/participants/{fsp_id}/accounts"), f"{fsp_id}'s accounts")
    return next(a for a in accounts if a["ledgerAccountType"] == kind and a["currency"] == currency)
