"""Setting the portal up as what it is to the platform: a participant (relying party) onboarded
through governance, allowed the scope ``resident``, the claim ``name``, to be the person's
wallet for the national ID credential (OpenID4VCI) and the lookup of a person's payments
aliases, with its own OpenID Connect client — all through the public APIs, as any relying party would.

``dpi portal setup`` and the demo run it once per instance; the authorities' approvals are
signed with their keys under ``<data-dir>/credentials`` (development and demo instances keep
them there; in production each authority approves the same proposals from its own side).
The portal's own keys (participant and OIDC client) are kept there too, 0600.
"""

from __future__ import annotations

import httpx

from dpistack.core.platform import Platform
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.oauth import token_endpoint

PARTICIPANT = "citizen-portal"
CLIENT_ID = "citizen-portal-web"
CLIENT_KEY = "citizen-portal-oidc-client"  # the file name of the client's key under credentials/
CLAIMS = ["name"]
RESIDENT_CATEGORY = "resident-self-service"  # identity's governance category for scope "resident"
CREDENTIAL_CONFIGURATION = "national-id-sd-jwt"  # the credential the portal's wallet asks for
WALLET_CATEGORY = "credential-national-id-sd-jwt"  # identity's governance category for being its wallet
ALIASES_CATEGORY = "payment-aliases"  # the switch's category for a person's aliases (POST /payments/v1/aliases/lookup)
PAYMENTS_REGULATOR = "central-bank"  # who owns it: the payments regulator created by `dpi init`


class SetupFailed(Exception):
    pass


def callback_url(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/") + "/login/callback"


def credentials_callback_url(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/") + "/me/credentials/callback"


def is_set_up(platform: Platform) -> bool:
    return credentials.load_private_jwk(platform.settings.data_dir, CLIENT_KEY) is not None


def client_body(platform: Platform, key) -> dict:
    return {"clientName": "Citizen portal", "logoUri": platform.settings.public_url.rstrip("/") + "/static/logo.svg",
            "redirectUris": [callback_url(platform), credentials_callback_url(platform)],
            "authContextRefs": ["idbb:acr:generated-code"],
            "userClaims": CLAIMS, "grantTypes": ["authorization_code"], "clientAuthMethods": ["private_key_jwt"],
            "publicKey": credentials.public_jwk(key)}


def setup_portal(platform: Platform, http: httpx.Client) -> None:
    """Onboard the portal, have its rights granted, register its OIDC client (idempotent)."""
    data_dir, token_url = platform.settings.data_dir, token_endpoint(platform.settings)

    def actor(pid: str) -> ParticipantClient:
        key = credentials.load_private_jwk(data_dir, pid)
        if key is None:
            raise SetupFailed(f"no key for {pid} under {data_dir}/credentials")
        return ParticipantClient(http, pid, key, token_url)

    agency, id_authority = actor("digital-agency"), actor("identity-authority")
    if credentials.load_private_jwk(data_dir, PARTICIPANT) is None:
        key = credentials.new_key()
        proposal = agency.propose("participant.onboard", onboarding_payload(
            PARTICIPANT, "Citizen portal", "relying-party", ["relying-party"], key))
        if proposal.status_code != 201:
            raise SetupFailed(f"onboarding the portal was refused: {proposal.text}")
        for approver in proposal.json()["required"]:
            who = {"role:identity-authority": id_authority, "role:platform-operator": agency}.get(approver)
            if who is None:
                raise SetupFailed(f"the rules ask for {approver}; approve proposal {proposal.json()['id']} there")
            decided = who.decide(proposal.json())
            if decided.status_code != 200:
                raise SetupFailed(f"approval of the portal's onboarding refused: {decided.text}")
        credentials.save_private_jwk(data_dir, PARTICIPANT, key)
    portal = actor(PARTICIPANT)
    held = {(g["category"], g["owner_id"]) for g in portal.get("/governance/v1/grants",
                                                               params={"participant_id": PARTICIPANT}).json()
            if g["status"] == "active"}
    rights = [(RESIDENT_CATEGORY, "identity-authority", "people manage their own national ID in the citizen portal"),
              (WALLET_CATEGORY, "identity-authority", "people keep their national ID credential in the portal's wallet"),
              *((f"kyc-{c.replace('_', '-')}", "identity-authority", "greet the person who logged in") for c in CLAIMS),
              (ALIASES_CATEGORY, PAYMENTS_REGULATOR, "people see where their payments aliases resolve")]
    for category, owner, purpose in rights:
        if (category, owner) in held:
            continue
        proposal = portal.propose("access.grant", {"participant_id": PARTICIPANT, "action": "data:read",
                                                   "category": category, "owner_id": owner, "purpose": purpose})
        approver = id_authority if owner == "identity-authority" else actor(owner)
        decided = approver.decide(proposal.json()) if proposal.status_code == 201 else proposal
        if decided.status_code != 200 or decided.json().get("status") != "enacted":
            raise SetupFailed(f"the grant of {category} was not enacted: {decided.text}")
    key = credentials.load_private_jwk(data_dir, CLIENT_KEY) or credentials.new_key()
    body = client_body(platform, key)
    envelope = {"requestTime": "2026-01-01T00:00:00.000Z"}
    created = portal.post("/client-mgmt/oidc-client", json={**envelope, "request": {
        **body, "clientId": CLIENT_ID, "relyingPartyId": PARTICIPANT}})
    if created.status_code == 409:  # registered before: bring it up to date (key, address)
        created = portal.put(f"/client-mgmt/oidc-client/{CLIENT_ID}", json={**envelope, "request": {
            **{k: v for k, v in body.items() if k != "publicKey"}, "status": "active"}})
    if created.status_code != 200:
        raise SetupFailed(f"registering the portal's OIDC client failed: {created.text}")
    credentials.save_private_jwk(data_dir, CLIENT_KEY, key)
