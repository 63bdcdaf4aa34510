"""The credentials chapter of `dpi demo`: Amina's wallet gets her national ID as an SD-JWT VC
(OpenID4VCI, pre-authorized code), shows a bar only that she is over 18 (OpenID4VP), and a
credential from a second country verifies only once our governance trusts its issuer.

Only public HTTP APIs are called; each person's wallet is :class:`~dpistack.credentials.wallet.Holder`
(in memory here), which speaks to issuers and verifiers over HTTP only, as a wallet app does. The second country is a separate instance the caller starts
(``abroad``): this block cannot set up another instance's identity block itself.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

import httpx
from rich.console import Console

from dpistack.credentials import qr, sdjwt, trust
from dpistack.credentials.wallet import Holder, WalletError
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.credentials import new_key

Actor = Callable[..., ParticipantClient]
Expect = Callable[[bool, str], None]
VCT = "urn:dpistack:vct:national-id:1"
OVER_18 = {"credentials": [{"id": "id_card", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]},
                            "claims": [{"path": ["age_over_18"]}]}]}
ISSUER_CLAIMS = ("given_name", "family_name", "birthdate")
OKELLO = {"names": [{"language": "en", "given": "Okello", "family": "Mugisha"}], "birth_date": "1988-02-03",
          "sex": "male", "birth_place": "Gulu", "address": "4 Acholi Road, Gulu", "phone": "+256700000002"}


def _onboard(actor: Actor, expect: Expect, pid: str, name: str, kind: str, roles: list[str]) -> ParticipantClient:
    """Onboarded by governance: the digital agency proposes, whoever the rules name approves."""
    agency, id_authority = actor("digital-agency"), actor("identity-authority")
    key = new_key()
    proposal = agency.propose("participant.onboard", onboarding_payload(pid, name, kind, roles, key)).json()
    status = id_authority.decide(proposal).json()["status"]
    if status != "enacted":
        status = agency.decide(proposal).json()["status"]
    expect(status == "enacted", f"{pid} is onboarded")
    return actor(pid, key)


def _issuer_agent(actor: Actor, expect: Expect, name: str) -> ParticipantClient:
    agent = _onboard(actor, expect, "id-wallet-service", name, "agency", ["relying-party", "credential-issuer"])
    for claim in ISSUER_CLAIMS:
        # The data category guarding an identity claim (the identity block's naming, spelt here).
        p = agent.propose("access.grant", {"participant_id": "id-wallet-service", "action": "data:read",
                                           "category": "kyc-" + claim.replace("_", "-"), "owner_id": "identity-authority",
                                           "purpose": "national ID credential"}).json()
        expect(actor("identity-authority").decide(p).json()["status"] == "enacted", f"the agent may read {claim}")
    return agent


def _wallet_receives(holder: Holder, agent: ParticipantClient, kyc_body: dict, expect: Expect,
                     tx_code: bool = False) -> tuple[dict, dict]:
    """eKYC release → offer → the holder's wallet redeems the code, proves a new key, keeps the credential."""
    r = agent.post("/identity/v1/kyc", json={**kyc_body, "consented_claims": list(ISSUER_CLAIMS)})
    expect(r.status_code == 200 and bool(r.json().get("kyc")), f"the eKYC release is made ({r.text})")
    body: dict = {"kyc": r.json()["kyc"]}
    if tx_code:
        body["tx_code"] = {"length": 6, "description": "The code the National ID Wallet Service sent you by SMS"}
    r = agent.post("/credentials/v1/offers", json=body)
    expect(r.status_code == 201, f"the agent makes a credential offer ({r.text})")
    offer = r.json()
    expect(not tx_code or offer["tx_code_value"] not in offer["credential_offer_uri"],
           "the offer describes its transaction code but does not carry it")
    try:
        [entry] = holder.receive(holder.parse_offer(offer["credential_offer_uri"]), offer.get("tx_code_value"))
    except WalletError as exc:
        expect(False, f"the wallet receives its credential ({exc.message})")
        raise
    return entry, offer


def _ask_over_18(verifier: ParticipantClient, expect: Expect) -> dict:
    r = verifier.post("/credentials/v1/presentation-requests", json={"dcql_query": OVER_18})
    expect(r.status_code == 201, f"the verifier makes an OpenID4VP request ({r.text})")
    return r.json()


def _answer(http: httpx.Client, made: dict, form: dict) -> httpx.Response:
    """A response posted as is (how a replay of a captured answer arrives)."""
    return http.post(made["authorization_request"]["response_uri"], data=form)


def _shows(holder: Holder, made: dict, expect: Expect) -> tuple[dict, WalletError | None]:
    """The holder's wallet answers the request (only age_over_18): the form it sent, and the
    verifier's refusal if it refused."""
    request = holder.parse_request(made["authorization_request_uri"])
    [match] = holder.match(request)
    expect(match.disclose == ["age_over_18"], "the wallet discloses only what is asked")
    form = holder.answer(request, [match])
    try:
        holder.send(request, form)
    except WalletError as exc:
        return form, exc
    return form, None


def _outcome(verifier: ParticipantClient, made: dict) -> dict:
    return verifier.get(f"/credentials/v1/presentation-requests/{made['id']}").json()


def chapter(console: Console, actor: Actor, base_url: str, data_dir: Path, expect: Expect, *, uin: str,
            birth_date: str, last_code: Callable[[], str],
            abroad: Callable[[], AbstractContextManager[tuple[str, Actor]]]) -> None:
    """``last_code()`` reads the one-time code last sent to Amina's phone; ``abroad()`` starts a
    second country's fresh instance and yields its base URL and its ``actor``."""
    with httpx.Client(timeout=30) as http:  # the wallet's and the foreign verifier's own connections
        _story(console, http, actor, base_url, expect, uin, birth_date, last_code, abroad)


def _story(console: Console, http: httpx.Client, actor: Actor, base_url: str, expect: Expect, uin: str,
           birth_date: str, last_code: Callable[[], str],
           abroad: Callable[[], AbstractContextManager[tuple[str, Actor]]]) -> None:
    agent = _issuer_agent(actor, expect, "National ID Wallet Service")
    console.print("The identity authority's [bold]National ID Wallet Service[/] is onboarded by governance as a "
                  "credential issuer and granted her name and birth date.")
    r = agent.post("/identity/v1/otp", json={"individual_id": uin, "transaction_id": "vc-1", "channels": ["sms"]})
    expect(r.status_code == 200, "an OTP is sent for the eKYC")
    amina = Holder({}, http)  # her wallet: it speaks to the issuer and the bar over HTTP only
    entry, offer = _wallet_receives(amina, agent, {"individual_id": uin, "transaction_id": "vc-1",
                                                   "otp": last_code()}, expect, tx_code=True)
    credential = entry["credential"]
    issued = sdjwt.b64json(credential.split("~")[0].split(".")[1])
    expect(issued["vct"] == VCT and issued["iss"] == base_url, "it is the national ID, issued by this platform")
    expect(issued["cnf"]["jwk"] == {k: entry["key"][k] for k in ("kty", "crv", "x", "y")},
           "the credential is bound to her wallet's key")
    console.print(f"Amina consents with an OTP; the service makes an offer "
                  f"([italic]{offer['credential_offer_uri'][:40]}…[/]) and texts her its transaction code; her "
                  f"wallet redeems the pre-authorized code with it (five wrong codes withdraw the offer), "
                  f"proves a new key and receives her national ID: an SD-JWT VC ({len(credential)} characters, "
                  f"{len(credential.split('~')) - 2} selectively disclosable claims, bound to her wallet's key).")

    bar = _onboard(actor, expect, "harbour-bar", "Harbour Bar", "relying-party", ["relying-party"])
    made = _ask_over_18(bar, expect)
    form, refused = _shows(amina, made, expect)
    expect(refused is None, f"the bar accepts her answer ({refused and refused.message})")
    result = _outcome(bar, made)
    expect(result["status"] == "verified", f"the presentation is verified ({result})")
    [card] = result["credentials"]["id_card"]
    expect(card["claims"] == {"age_over_18": True} and card["holder_bound"], "the bar learns only age_over_18")
    expect("Amina" not in json.dumps(result) and birth_date not in json.dumps(result), "no name, no birth date")
    console.print(f"Harbour Bar asks through OpenID4VP (DCQL) for one claim; her wallet discloses only that one: "
                  f"[green]age_over_18: {json.dumps(card['claims']['age_over_18'])}[/], holder-bound — "
                  "no name and no birth date reach the bar.")
    replay = _answer(http, made, form)
    expect(replay.status_code == 400 and "already answered" in replay.json()["error_description"], "a replay fails")
    console.print(f"The same answer sent again is refused: [red]{replay.json()['error']}[/] — already answered.")
    card_code = amina.card(entry["id"], ["age_over_18"])
    _, symbol = qr.render(card_code)
    listed = trust.TrustList.from_payload(trust.verify_signed_list(
        http.get(f"{base_url}/governance/v1/trusted-issuers").text,
        http.get(f"{base_url}/.well-known/jwks.json").json()))  # what a checker saves to work offline
    offline, _ = trust.verify(qr.decode(card_code), listed, require_key_binding=False)
    expect(offline.claims.get("age_over_18") is True and not set(ISSUER_CLAIMS) & set(offline.claims),
           "the printed card verifies offline and shows only age_over_18")
    console.print(f"Printed as a QR code for offline checks, her over-18 card is {len(card_code)} characters "
                  f"(QR version {symbol['version']}); a checker with the saved signed trust list verifies it "
                  "with no network: age_over_18, nothing else.")

    with abroad() as (foreign_url, foreign_actor):
        registry = _onboard(foreign_actor, expect, "civil-registry", "Civil Registration Office", "registry",
                            ["registration"])
        r = registry.post("/identity/v1/enrolments", json=OKELLO)
        expect(r.status_code in (201, 202) and r.json()["status"] == "issued", f"Okello is enrolled abroad ({r.text})")
        foreign_agent = _issuer_agent(foreign_actor, expect, "Uganda ID Wallet Service")
        okello = Holder({}, http)
        _wallet_receives(okello, foreign_agent, {
            "individual_id": r.json()["uin"], "transaction_id": "vc-ug-1",
            "demographics": {"birth_date": OKELLO["birth_date"]}}, expect)
        console.print(f"A second country runs its own instance ({foreign_url}): it enrols Okello Mugisha and "
                      "issues him his national ID credential the same way.")
        made = _ask_over_18(bar, expect)
        _, wallet_told = _shows(okello, made, expect)
        refused = _outcome(bar, made)
        expect(wallet_told is not None and refused["error"] == "untrusted_issuer",
               f"a foreign issuer is refused ({refused})")
        console.print(f"Okello shows Harbour Bar his over-18 claim: [red]{refused['error']}[/] — his country's issuer "
                      "is not on our trust list.")

        metadata = http.get(f"{foreign_url}/.well-known/jwt-vc-issuer").json()
        expect(metadata["issuer"] == foreign_url, "the foreign issuer publishes its keys")
        proposal = actor("digital-agency").propose("issuer.trust", {
            "iss": metadata["issuer"], "name": "Uganda national ID", "country": "UG", "vcts": [VCT],
            "jwks": metadata["jwks"], "jwks_source": f"{foreign_url}/.well-known/jwt-vc-issuer"})
        expect(proposal.status_code == 201, f"the trust proposal is accepted ({proposal.text})")
        proposal = proposal.json()
        for approver in ("identity-authority", "digital-agency"):
            decided = actor(approver).decide(proposal).json()
        expect(proposal["required"] == ["role:identity-authority", "role:platform-operator"]
               and decided["status"] == "enacted", "our governance trusts the foreign issuer")
        console.print("Our governance takes its keys from its /.well-known/jwt-vc-issuer and enacts "
                      "[bold]issuer.trust[/] (the identity authority and the platform operator approve).")
        made = _ask_over_18(bar, expect)
        _, wallet_told = _shows(okello, made, expect)
        accepted = _outcome(bar, made)
        expect(wallet_told is None and accepted["status"] == "verified", f"now it verifies ({accepted})")
        [card] = accepted["credentials"]["id_card"]
        expect(card["claims"] == {"age_over_18": True} and card["issuer"]["country"] == "UG", "trusted, from UG")
        listed = trust.verify_signed_list(http.get(f"{base_url}/governance/v1/trusted-issuers").text,
                                          http.get(f"{base_url}/.well-known/jwks.json").json())
        expect([i["iss"] for i in listed["issuers"]] == [base_url, foreign_url], "the signed list names it")
        console.print(f"He shows it again: [green]verified[/], age_over_18: true, issuer {card['issuer']['name']} "
                      f"({card['issuer']['country']}); our signed trust list (/governance/v1/trusted-issuers) "
                      "now names it.")
