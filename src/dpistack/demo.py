"""`dpi demo`: a fresh instance, narrated. Every later building block extends this story.

Everything goes through the public HTTP APIs of a server listening on loopback, exactly as
institutions would use them; the verification at the end uses only what an outside auditor
gets from the transparency endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from dpistack.app import create_app
from dpistack.consent import service as consent_service
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.core.server import free_port, serve_in_thread
from dpistack.credentials import demo as credentials_demo
from dpistack.exchange import messagelog
from dpistack.governance import credentials
from dpistack.governance import service as governance
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.setup import init_instance
from dpistack.identity import claims
from dpistack.identity.service import IdentityContext
from dpistack.payments import demo as payments_demo
from dpistack.payments.check import check as payments_check
from dpistack.services import service as services
from dpistack.transparency import merkle, note
from dpistack.transparency import service as tlog
from dpistack.web.setup import setup_portal


class DemoFailed(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


def run_demo(console: Console, keep: Path | None = None) -> int:
    data_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="dpi-demo-"))
    if keep and data_dir.exists() and any(data_dir.iterdir()):
        console.print(f"[red]{data_dir} is not empty; the demo builds a fresh instance.[/]")
        return 2
    port = free_port()
    settings = Settings(data_dir=data_dir, database_url=None, public_url=f"http://127.0.0.1:{port}")
    platform = Platform.open(settings)
    try:
        ready = _story(console, platform, port)
        console.print(Panel.fit("[bold green]The demo ran to the end: every check passed.[/]"))
        console.print(f"Portal: [bold]{settings.public_url}/[/] — log in as Amina with UIN {ready['uin']} (one-time "
                      f"codes land in {ready['sms']}) to see her consents (/me/consents), who used her data "
                      f"(/me/data-usage) and the service finder (/services); or open the operator console as identity-authority with the "
                      f"key {data_dir}/credentials/identity-authority.jwk: a proposal awaits its approval.",
                      soft_wrap=True, highlight=False)
        if keep:
            console.print(f"The instance is kept in {data_dir}. Serve it with:\n"
                          f"  dpi serve --data-dir {data_dir} --port {port}\n"
                          "and, beside it, for the online forms prefilled from the population register "
                          f"(/services/child-benefit/apply):\n"
                          f"  dpi services demo-register --data-dir {data_dir} --uin {ready['uin']}")
        else:
            console.print("(This instance is removed now: `dpi demo --keep DIR` keeps it to serve.)")
        return 0
    except DemoFailed as exc:
        console.print(f"[bold red]Demo check failed:[/] {exc}")
        return 1
    finally:
        platform.close()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the first form on one of the provider's pages."""
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))


def _login_with_national_id(console: Console, http: httpx.Client, base_url: str, agency: ParticipantClient,
                            id_authority: ParticipantClient, portal: ParticipantClient, outbox, uin: str,
                            amina: dict) -> None:
    """Step 5b: the portal's website offers "log in with national ID" (OpenID Connect)."""
    _step(console, "5b. Amina logs in to the portal's website with her national ID (OpenID Connect)")
    for claim in ("name", "birthdate"):
        p = portal.propose("access.grant", {"participant_id": "pension-portal", "action": "data:read",
                                            "category": claims.category(claim), "owner_id": "identity-authority",
                                            "purpose": "identify pensioners"}).json()
        expect(id_authority.decide(p).json()["status"] == "enacted", f"the portal is granted {claim}")
    console.print("Governance grants the portal two identity claims: name and birth date (identity authority approves).")
    client_key = credentials.new_key()
    redirect_uri = "https://pensions.example/callback"
    r = portal.post("/client-mgmt/oidc-client", json={"requestTime": "2026-11-22T10:00:00.000Z", "request": {
        "clientId": "pension-web", "clientName": "Pension Fund Portal", "relyingPartyId": "pension-portal",
        "logoUri": "https://pensions.example/logo.png", "redirectUris": [redirect_uri],
        "authContextRefs": ["idbb:acr:generated-code"], "publicKey": credentials.public_jwk(client_key),
        "userClaims": ["name", "birthdate"], "grantTypes": ["authorization_code"],
        "clientAuthMethods": ["private_key_jwt"]}})
    expect(r.status_code == 200, f"the portal registers its OIDC client ({r.text})")
    refused = portal.post("/client-mgmt/oidc-client", json={"requestTime": "2026-11-22T10:00:00.000Z", "request": {
        "clientId": "pension-web-2", "clientName": "x", "relyingPartyId": "pension-portal",
        "logoUri": "https://pensions.example/l.png", "redirectUris": [redirect_uri],
        "authContextRefs": ["idbb:acr:generated-code"], "publicKey": credentials.public_jwk(client_key),
        "userClaims": ["address"], "grantTypes": ["authorization_code"], "clientAuthMethods": ["private_key_jwt"]}})
    expect(refused.json()["errors"][0]["errorCode"] == "invalid_claim", "claims not granted cannot be registered")
    console.print("It registers its OpenID Connect client (GovStack client-mgmt API); asking for her address, "
                  "never granted, is refused: [red]invalid_claim[/].")

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    browser = httpx.Client(base_url=base_url)
    page = browser.get("/authorize", params={
        "response_type": "code", "client_id": "pension-web", "redirect_uri": redirect_uri, "scope": "openid",
        "state": "st-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256",
        "claims": '{"userinfo": {"name": {"essential": true}, "birthdate": {"essential": true}}}'})
    expect(page.status_code == 200 and "Log in with your national ID" in page.text, "the login page opens")
    page = browser.post("/authorize/otp", data={**_form(page.text), "individual_id": uin})
    code = re.search(r"\b(\d{6})\b", outbox.messages(amina["phone"])[-1]["message"]).group(1)
    page = browser.post("/authorize/login", data={**_form(page.text), "otp": code})
    expect("Share your information?" in page.text, "after the OTP, the consent page lists the claims")
    back = browser.post("/authorize/consent", data={**_form(page.text), "decision": "allow"})
    query = parse_qs(urlsplit(back.headers["location"]).query)
    expect(back.status_code == 303 and query["state"] == ["st-1"], "the browser goes back to the portal with a code")
    console.print("Her browser: login page → UIN → OTP → consent page (name, date of birth) → Allow → back to the "
                  "portal with a one-time code.")

    token_url = f"{base_url}/oauth/token"
    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri,
            "client_id": "pension-web", "code_verifier": verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    tokens = http.post("/oauth/token", data={**form, "client_assertion": credentials.client_assertion(
        "pension-web", client_key, token_url)}).json()
    expect("id_token" in tokens, f"the code is exchanged for tokens ({tokens})")
    keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    person = jwt.decode(info.text, keys, algorithms=["RS256"]).claims
    expect(person["name"] == "Amina Hassan" and person["sub"] == id_token["sub"], "userinfo gives the consented claims")
    console.print(f"The portal's server exchanges the code (PKCE + private_key_jwt) and reads userinfo, a signed JWT: "
                  f"name [bold]{person['name']}[/], birth date {person['birthdate']}, sub {person['sub'][:12]}… "
                  "(pairwise: her UIN is never given out).")
    again = http.post("/oauth/token", data={**form, "client_assertion": credentials.client_assertion(
        "pension-web", client_key, token_url)})
    expect(again.status_code == 400 and again.json()["error"] == "invalid_grant", "a reused code is refused")
    console.print("The same code a second time: [red]invalid_grant[/], and the tokens it gave are revoked.")

    r = http.post("/resident/v1/login/otp", json={"individual_id": uin, "transaction_id": "me-1"})
    code = re.search(r"\b(\d{6})\b", outbox.messages(amina["phone"])[-1]["message"]).group(1)
    me = {"Authorization": "Bearer " + http.post("/resident/v1/login", json={
        "individual_id": uin, "transaction_id": "me-1", "otp": code}).json()["access_token"]}
    history = http.get("/resident/v1/auth-history", headers=me).json()
    table = Table("when", "who", "why", "how", "outcome", title="Amina's authentication history (residents' API)")
    for h in reversed(history):
        table.add_row(h["time"][11:19], h["relying_party"], h["purpose"], ", ".join(h["factors"]), h["outcome"])
    console.print(table)
    expect({h["relying_party"] for h in history} == {"pension-portal", "resident-portal"}, "her history is complete")


def _exchange_chapter(console: Console, http: httpx.Client, data_dir: Path, ministry: ParticipantClient,
                      social: ParticipantClient, outbox, uin: str, amina: dict) -> None:
    """Step 5c: data exchange through the information mediator, with the person's consent."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    _step(console, "5c. A ministry publishes a service; another reads it with Amina's consent, until she revokes")

    async def vaccinations(request: Request) -> JSONResponse:  # the ministry's own information system
        return JSONResponse({"person": request.query_params.get("person"),
                             "vaccinations": [{"vaccine": "measles", "date": "1991-04-20"}]})

    backend_app = Starlette(routes=[Route("/v1/vaccinations", vaccinations)])
    with serve_in_thread(backend_app) as backend_url:
        expect(ministry.post("/exchange/v1/subsystems", json={"code": "immunisation"}).status_code == 201,
               "the ministry registers its subsystem")
        expect(social.post("/exchange/v1/subsystems", json={"code": "benefits"}).status_code == 201,
               "the agency registers its subsystem")
        r = ministry.put("/exchange/v1/services", json={
            "subsystem": "immunisation", "service_code": "vaccinations", "backend_url": backend_url,
            "category": "immunisation", "personal_data": True, "openapi": {
                "openapi": "3.0.0", "info": {"title": "Vaccination records", "version": "1"},
                "paths": {"/v1/vaccinations": {"get": {"responses": {"200": {"description": "records"}}}}}}})
        expect(r.status_code == 200, f"the ministry publishes its service ({r.text})")
        service = r.json()["id"]
        console.print(f"The Ministry of Health publishes [bold]{service}[/] on the information mediator "
                      "(X-Road REST), marked as personal data, with its OpenAPI description.")
        path = f"/r1/{service}/v1/vaccinations?person={uin}"
        headers = {"X-Road-Client": "DPI/GOV/social-agency/benefits", "X-Road-Id": "demo-1"}

        def fetch(extra: dict | None = None) -> httpx.Response:
            return http.get(path, headers={**social.headers, **headers, **(extra or {})})

        r = fetch()
        expect(r.status_code == 403 and r.headers["x-road-error"] == "Server.ServerProxy.AccessDenied",
               "no access right, no data")
        console.print(f"The Social Protection Agency calls it: [red]{r.headers['x-road-error']}[/] — governance has "
                      "granted it nothing.")
        grant = social.propose("access.grant", {"participant_id": "social-agency", "action": "data:read",
                                                "category": "immunisation", "owner_id": "ministry-of-health",
                                                "purpose": "child benefit: proof of vaccination"}).json()
        expect(ministry.decide(grant).json()["status"] == "enacted", "the ministry approves the access right")
        console.print("It asks governance for access to immunisation records; the ministry, the data owner, "
                      "approves: [green]enacted[/].")
        r = fetch()
        expect(r.headers.get("x-road-error") == "Server.ServerProxy.ConsentRequired", "personal data needs consent")
        console.print(f"Now the mediator asks for the person's consent: [red]{r.headers['x-road-error']}[/].")

        consent = social.post("/consent/v1/consents", json={
            "provider": "ministry-of-health", "services": [service],
            "purpose": {"code": "child-benefit", "text": "checking vaccinations for the child benefit"},
            "data_types": ["vaccination-record"], "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2027-12-31T00:00:00Z", "fetch_type": "ONETIME",
            "frequency": {"unit": "MONTH", "value": 1}, "data_life": {"unit": "MONTH", "value": 3}}).json()
        consent_id = consent["id"]
        console.print(f"The agency requests a consent artefact ({consent_id[:8]}…, status {consent['status']}), "
                      "signed by the platform (detached JWS over RFC 8785 JSON).")
        http.post("/resident/v1/login/otp", json={"individual_id": uin, "transaction_id": "consent-1"})
        code = re.search(r"\b(\d{6})\b", outbox.messages(amina["phone"])[-1]["message"]).group(1)
        me = {"Authorization": "Bearer " + http.post("/resident/v1/login", json={
            "individual_id": uin, "transaction_id": "consent-1", "otp": code}).json()["access_token"]}
        person = {"Authorization": "Bearer " + http.post("/resident/v1/consent-token",
                                                         headers=me).json()["access_token"]}
        approved = http.post(f"/consent/v1/consents/{consent_id}/approve", headers=person).json()
        expect(approved["status"] == "ACTIVE", "Amina approves")
        console.print("Amina logs in with her national ID and approves it in the residents' portal: "
                      f"[green]{approved['status']}[/] (revision {approved['revision']}, chained to the request; "
                      "the consent service knows her only by a pseudonym).")
        r = fetch({"X-Consent-Id": consent_id})
        expect(r.status_code == 200 and r.json()["vaccinations"], f"the data flows ({r.text})")
        console.print(f"The agency calls again with the consent: [green]{r.status_code}[/], "
                      f"{r.json()['vaccinations'][0]['vaccine']} vaccination on record. Request hash "
                      f"{r.headers['x-road-request-hash'][:16]}… in the signed message log, and the access in the "
                      "transparency log, in one commit.")
        revoked = http.post(f"/consent/v1/consents/{consent_id}/revoke", headers=person).json()
        expect(revoked["status"] == "REVOKED", "Amina revokes")
        r = fetch({"X-Consent-Id": consent_id, "X-Road-Id": "demo-2"})
        expect(r.status_code == 403 and r.headers["x-road-error"] == "Server.ServerProxy.ConsentRevoked",
               "the next request after a revocation is refused")
        console.print(f"Amina revokes; the very next request: [red]{r.headers['x-road-error']}[/].")

        usage = http.get("/resident/v1/data-usage", headers=me).json()
        table = Table("when", "who", "why", "consent / law", "proof", title="Amina's data tracker (residents' API)")
        for e in reversed(usage["entries"]):
            table.add_row((e["time"] or "")[11:19], e["accessor"], (e["purpose"] or "")[:48],
                          (e["consent_id"] or "")[:8] + "…" if e["consent_id"] else e["legal_basis"] or "",
                          "verified" if e["verified"] else "FAILED")
        console.print(table)
        checkpoint = note.parse_checkpoint(usage["checkpoint"])
        note.verify_note(usage["checkpoint"], http.get("/transparency/v1/verifier-key").text.strip())
        for e in usage["entries"]:
            proof = [base64.b64decode(h) for h in e["inclusion_proof"]]
            expect(merkle.verify_inclusion(merkle.hash_leaf(base64.b64decode(e["entry"])), e["index"],
                                           checkpoint.size, proof, checkpoint.root), "each access is in the log")
        expect(any(e["accessor"] == "social-agency" and e["consent_id"] == consent_id for e in usage["entries"]),
               "the agency's access is in her tracker")
        saved = data_dir / "amina-data-usage.json"
        saved.write_text(json.dumps(usage))
        console.print(f"Every entry's inclusion proof checks against the signed checkpoint ({checkpoint.size} entries). "
                      f"She can check them herself: [bold]dpi transparency verify --usage {saved.name}[/].")


@contextmanager
def _second_country(data_dir: Path) -> Iterator[tuple[str, object]]:
    """Another country's fresh instance, in this process on its own loopback port, until the block ends."""
    port = free_port()
    other_dir = data_dir / "second-country"
    other = Platform.open(Settings(data_dir=other_dir, database_url=None, public_url=f"http://127.0.0.1:{port}"))
    try:
        init_instance(other)
        with serve_in_thread(create_app(other), port=port) as base_url, httpx.Client(base_url=base_url) as http:
            def actor(pid: str, key=None) -> ParticipantClient:
                return ParticipantClient(http, pid, key or credentials.load_private_jwk(other_dir, pid),
                                         f"{base_url}/oauth/token")

            yield base_url, actor
    finally:
        other.close()


def _step(console: Console, title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def _story(console: Console, platform: Platform, port: int) -> dict:
    data_dir = platform.settings.data_dir
    _step(console, "1. A country sets up its platform")
    created = init_instance(platform)
    table = Table("authority", "role", title="Governing authorities (created at dpi init)")
    with platform.db.uow() as s:
        for a in governance.list_participants(s, kind="authority"):
            table.add_row(a.name, ", ".join(a.roles))
    console.print(table)
    expect(len(created) == 4, "four authorities are created")
    console.print("Each authority holds its own signing key; in this demo they are kept in "
                  f"{data_dir}/credentials. The genesis is entry 0 of the transparency log.")

    with serve_in_thread(create_app(platform), port=port) as base_url, httpx.Client(base_url=base_url) as http:
        console.print(f"The platform's APIs are listening on [bold]{base_url}[/] (OpenAPI at /openapi.json).")
        token_url = f"{base_url}/oauth/token"

        def actor(pid: str, key=None) -> ParticipantClient:
            return ParticipantClient(http, pid, key or credentials.load_private_jwk(data_dir, pid), token_url)

        agency, regulator, id_authority, dpa = (actor(p) for p in
                                                ("digital-agency", "central-bank", "identity-authority",
                                                 "data-protection-authority"))

        _step(console, "2. A bank asks to join the payment system")
        bank_key = credentials.new_key()
        credentials.save_private_jwk(data_dir, "first-bank", bank_key)
        r = agency.propose("participant.onboard", onboarding_payload(
            "first-bank", "First National Bank", "bank", ["fsp"], bank_key,
            {"fspiop": "https://fnb.example/fspiop"}))
        expect(r.status_code == 201, f"the onboarding proposal is accepted ({r.status_code} {r.text})")
        proposal = r.json()
        console.print(f"The digital agency proposes [bold]First National Bank[/] (proposal {proposal['id'][:8]}…).")
        console.print(f"The rules say it needs: [yellow]{', '.join(proposal['required'])}[/]")
        bank = actor("first-bank", bank_key)
        r = bank.request_token()
        expect(r.status_code == 401, "a pending bank cannot authenticate")
        console.print(f"Until then the bank cannot even log in: [red]{r.json()['error_description']}[/]")

        r = id_authority.decide(proposal)
        expect(r.status_code == 403, "the identity authority's approval does not count for a bank")
        console.print(f"The identity authority tries to approve: [red]{r.json()['detail']}[/]")
        r = regulator.decide(proposal)
        expect(r.status_code == 200 and r.json()["status"] == "enacted", "the regulator's approval enacts it")
        console.print("The central bank signs its approval (JWS with its own key): "
                      f"proposal [green]{r.json()['status']}[/].")
        r = bank.request_token()
        expect(r.status_code == 200, "the onboarded bank gets a token")
        console.print(f"The bank authenticates with private_key_jwt and gets a {r.json()['expires_in']} s "
                      f"access token, scopes: [bold]{r.json()['scope']}[/].")

        _step(console, "3. An unapproved participant is refused")
        rogue_key = credentials.new_key()
        r = actor("rogue-wallet", rogue_key).request_token()
        expect(r.status_code == 401, "an unknown participant is refused")
        console.print(f"'rogue-wallet' was never onboarded: [red]{r.json()['error']}[/] — {r.json()['error_description']}")
        r = http.get("/governance/v1/participants")
        expect(r.status_code == 401, "no token, no access")
        console.print(f"Without a token the registry answers [red]{r.status_code}[/]: {r.json()['detail']}")

        _step(console, "4. Health data: the data-protection authority AND the data owner must agree")
        ministry_key, agency2_key = credentials.new_key(), credentials.new_key()
        for pid, name, kind, roles, key in (
            ("ministry-of-health", "Ministry of Health", "ministry", ["data-provider"], ministry_key),
            ("social-agency", "Social Protection Agency", "agency", ["data-consumer"], agency2_key),
        ):
            p = agency.propose("participant.onboard", onboarding_payload(pid, name, kind, roles, key)).json()
            expect(agency.decide(p).json()["status"] == "enacted", f"{pid} is onboarded")
            console.print(f"{name} joins (approved by the digital agency).")
        ministry, social = actor("ministry-of-health", ministry_key), actor("social-agency", agency2_key)

        def may_read_health() -> str:
            return social.post("/governance/v1/decisions", json={
                "action": "data:read", "resource_type": "DataCategory",
                "resource_id": "health@ministry-of-health"}).json()["decision"]

        grant = social.propose("access.grant", {
            "participant_id": "social-agency", "action": "data:read", "category": "health",
            "owner_id": "ministry-of-health", "purpose": "means-testing of disability benefit"}).json()
        console.print(f"The agency asks to read health data; needed: [yellow]{', '.join(grant['required'])}[/]")
        r = dpa.decide(grant).json()
        expect(r["status"] == "open" and may_read_health() == "deny", "half a quorum changes nothing")
        console.print(f"The data-protection authority approves; still missing {r['missing']}: "
                      f"Cedar decides [red]{may_read_health()}[/].")
        r = ministry.decide(grant).json()
        expect(r["status"] == "enacted" and may_read_health() == "allow", "full quorum grants the right")
        console.print(f"The ministry approves too: proposal {r['status']}, Cedar decides [green]{may_read_health()}[/].")

        _step(console, "5. A person enrols, gets a national ID number and authenticates")
        registry_key = credentials.new_key()
        p = agency.propose("participant.onboard", onboarding_payload(
            "civil-registry", "Civil Registration Office", "registry", ["registration"], registry_key)).json()
        expect(p["required"] == ["role:identity-authority"], "registration offices are vouched for by the ID authority")
        expect(id_authority.decide(p).json()["status"] == "enacted", "the civil registry is onboarded")
        console.print("The Civil Registration Office joins, approved by the identity authority.")
        registry = actor("civil-registry", registry_key)
        amina = {
            "names": [{"language": "en", "given": "Amina", "family": "Hassan"},
                      {"language": "ar", "given": "أمينة", "family": "حسن"}],
            "birth_date": "1990-04-12", "sex": "female", "birth_place": "Mombasa",
            "address": "12 Harbour Road, Mombasa", "phone": "+254700000001",
        }
        r = registry.post("/identity/v1/enrolments", json=amina)
        expect(r.status_code == 202 and r.json()["status"] == "issued", f"Amina is enrolled ({r.text})")
        uin = r.json()["uin"]
        console.print(f"Amina Hassan (أمينة حسن) is enrolled: UIN [bold]{uin}[/] "
                      "(random, Verhoeff check digit, MOSIP number rules). Her data is encrypted per field.")
        variant = {**amina, "names": [{"language": "en", "given": "Aminah", "family": "Hasan"}],
                   "address": "PO Box 1, Mombasa", "phone": None}
        r = registry.post("/identity/v1/enrolments", json=variant).json()
        expect(r["status"] == "duplicate" and r["duplicate_of"] == uin, "the spelling variant is caught")
        console.print(f"Someone enrols 'Aminah Hasan', same birth date and place: [red]{r['status']}[/] "
                      f"of {r['duplicate_of']} — no second identity.")

        rp_key = credentials.new_key()
        p = agency.propose("participant.onboard", onboarding_payload(
            "pension-portal", "Pension Fund Portal", "relying-party", ["relying-party"], rp_key)).json()
        expect(id_authority.decide(p).json()["status"] == "enacted", "the relying party is onboarded")
        portal = actor("pension-portal", rp_key)
        r = portal.post("/identity/v1/otp", json={"individual_id": uin, "transaction_id": "login-1",
                                                  "channels": ["sms"]})
        expect(r.status_code == 200, "an OTP is sent")
        outbox = IdentityContext.of(platform).channels["sms"]
        sms = outbox.messages(amina["phone"])[-1]["message"]
        code = re.search(r"\b(\d{6})\b", sms).group(1)
        console.print(f"The Pension Fund Portal asks for an OTP; Amina's phone receives: [italic]{sms}[/]")
        r = portal.post("/identity/v1/authenticate", json={"individual_id": uin, "transaction_id": "login-1",
                                                           "otp": code}).json()
        expect(r["authenticated"], "Amina authenticates with the OTP")
        console.print(f"She authenticates: [green]yes[/]; the portal gets her partner-specific token {r['token']} "
                      "(another service would get a different one).")
        r = portal.post("/identity/v1/authenticate", json={"individual_id": uin, "transaction_id": "login-1",
                                                           "otp": code}).json()
        expect(not r["authenticated"], "a replayed OTP fails")
        console.print("The same OTP sent again: [red]no[/] — single use. Both attempts are in her history and the log.")

        _login_with_national_id(console, http, base_url, agency, id_authority, portal, outbox, uin, amina)
        _exchange_chapter(console, http, data_dir, ministry, social, outbox, uin, amina)

        _step(console, "6. Payments: two providers join the switch, Amina pays by phone number")
        payments_demo.chapter(console, actor, base_url, data_dir, expect)

        _step(console, "6b. Credentials: Amina's national ID in her wallet, shown to a bar, trusted across borders")

        def last_code() -> str:
            return re.search(r"\b(\d{6})\b", outbox.messages(amina["phone"])[-1]["message"]).group(1)

        credentials_demo.chapter(console, actor, base_url, data_dir, expect, uin=uin, birth_date=amina["birth_date"],
                                 last_code=last_code, abroad=lambda: _second_country(data_dir))

        _step(console, "7. Anyone can audit the log")
        checkpoint = http.get("/transparency/v1/checkpoint").text
        vkey = http.get("/transparency/v1/verifier-key").text.strip()
        console.print("The signed checkpoint (a C2SP signed note), as any auditor fetches it:")
        console.print(checkpoint.rstrip("\n"), soft_wrap=True, highlight=False, markup=False, style="bold")
        console.print(f"verifier key: {vkey}", soft_wrap=True, highlight=False, markup=False)
        note.verify_note(checkpoint, vkey)
        cp = note.parse_checkpoint(checkpoint)
        origin, size, root = cp.origin, cp.size, cp.root
        console.print(f"The signature verifies: {origin} has [bold]{size}[/] entries.")
        index = size - 1
        entry = http.get(f"/transparency/v1/entries/{index}").json()
        proof = http.get("/transparency/v1/proof/inclusion", params={"index": index, "tree_size": size}).json()
        leaf = base64.b64decode(entry["leaf"])
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        ok = merkle.verify_inclusion(tlog.leaf_hash(leaf), index, size, hashes, root)
        expect(ok, "the inclusion proof verifies")
        about = f", proposal {entry['entry']['proposal_id'][:8]}…" if entry["entry"].get("proposal_id") else ""
        console.print(f"Entry {index} ({entry['entry']['type']}{about}) "
                      f"is in the tree: inclusion proof of {len(hashes)} hashes [green]verified[/].")

        _step(console, "8. The portal: people and operators use the platform through web pages")
        setup_portal(platform, http)  # onboarded through governance, OIDC client registered, as any relying party
        clinic = agency.propose("participant.onboard", onboarding_payload(
            "city-clinic", "City Clinic", "relying-party", ["relying-party"], credentials.new_key())).json()
        console.print("The citizen portal joins as a relying party (scope resident, granted by the identity "
                      f"authority); City Clinic's onboarding waits for {', '.join(clinic['required'])}.")
        count = services.load_demo(platform)
        tops = []
        for question, answer in (("our baby was born", "birth-registration"),
                                 ("¿cómo pido la pensión de jubilación?", "old-age-pension")):
            found = http.get("/services/v1/search", params={"q": question}).json()
            expect(bool(found["hits"]) and found["hits"][0]["id"] == answer,
                   f"the service finder answers {question!r} with {answer} ({found['hits'][:1]})")
            tops.append(f"“{question}” ({found['lang']}) → [bold]{found['hits'][0]['name']}[/]")
        console.print(f"The service finder holds {count} public services; people ask in their own words: "
                      + "; ".join(tops) + ".")

    _step(console, "9. Invariant checks")
    with platform.db.uow() as s:
        governance_problems = governance.check(s)
    log_problems = tlog.check(platform)
    ledger_problems = payments_check(platform)
    exchange_problems = messagelog.check(platform) + consent_service.check(platform)
    expect(not governance_problems, f"governance check: {governance_problems}")
    expect(not log_problems, f"transparency check: {log_problems}")
    expect(not ledger_problems, f"payments check: {ledger_problems}")
    expect(not exchange_problems, f"exchange check: {exchange_problems}")
    console.print("governance check: [green]ok[/] — every change was enacted with quorum and valid signatures")
    console.print("transparency check: [green]ok[/] — every leaf hash matches its entry, indexes are dense")
    console.print("payments check: [green]ok[/] — every currency sums to zero, each transfer ended once, "
                  "positions equal their transfers, every commit is in the log")
    console.print("exchange check: [green]ok[/] — every message-log batch signature and every consent revision "
                  "verifies, the revisions chain")
    return {"uin": uin, "sms": IdentityContext.of(platform).channels["sms"].path}
