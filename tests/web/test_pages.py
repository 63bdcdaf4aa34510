"""The portal's later pages through HTTP (no browser): the data tracker with each entry's
proof checked, the person's consents (grant, revoke), the operator's enrolment review queue
and the mediator's services and access rights — with bad input: CSRF, another person's
record, refused decisions, missing reasons."""

from __future__ import annotations

import base64
import copy
import json
import re

from typer.testing import CliRunner

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpistack.cli import app as cli
from dpistack.transparency import note
from dpistack.web import tracker

from .conftest import citizen_login
from .test_portal import browser_for, csrf_of


def test_data_tracker_checks_each_proof_and_offers_the_raw_answer(instance, tmp_path):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        vids = b.get("/me/vids")
        b.post("/me/vids", data={"csrf_token": csrf_of(vids.text), "vid_type": "perpetual"})  # one more access
        page = b.get("/me/data-usage")
        assert page.status_code == 200, page.text
        rows = re.findall(r'<tr class="govuk-table__row" id="entry-\d+">.*?</tr>', page.text, re.S)
        assert len(rows) >= 2  # the enrolment and the VID, at least
        assert all("Proof checked" in row for row in rows) and "does NOT check" not in page.text
        assert any("perpetual VID created by the person" in row and "resident-portal" in row for row in rows)
        assert any("civil-registry" in row and "Law" in row for row in rows)  # the enrolment, under the law
        assert 'href="/me/data-usage.json"' in page.text and "dpi transparency verify --usage" in page.text

        raw = b.get("/me/data-usage.json")
        assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
        assert "attachment" in raw.headers["content-disposition"]
        answer = raw.json()
        assert len(answer["entries"]) == len(rows) and answer["checkpoint"].count("\n") >= 3
    saved = tmp_path / "usage.json"
    saved.write_bytes(raw.content)
    result = CliRunner().invoke(cli, ["transparency", "verify", "--usage", str(saved), "--data-dir",
                                      str(instance.platform.settings.data_dir)])
    assert result.exit_code == 0 and "OK" in result.output, result.output


def test_data_tracker_flags_what_does_not_check(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        answer = b.get("/me/data-usage.json").json()
    verifier = instance.api.get("/transparency/v1/verifier-key").text.strip()
    signed, entries = tracker.check_answer(answer, verifier)
    assert signed and entries and all(e["proof_ok"] for e in entries)

    shown_otherwise = copy.deepcopy(answer)
    shown_otherwise["entries"][0]["purpose"] = "nothing to see"
    assert [e["proof_ok"] for e in tracker.check_answer(shown_otherwise, verifier)[1]][0] is False

    other_bytes = copy.deepcopy(answer)
    logged = json.loads(base64.b64decode(other_bytes["entries"][0]["entry"]))
    other_bytes["entries"][0]["entry"] = base64.b64encode(json.dumps({**logged, "x": 1}).encode()).decode()
    assert tracker.check_answer(other_bytes, verifier)[1][0]["proof_ok"] is False

    another_log = note.verifier_key(verifier.split("+")[0], Ed25519PrivateKey.generate().public_key())
    assert tracker.check_answer(answer, another_log)[0] is False
    unsigned = copy.deepcopy(answer)
    lines = unsigned["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)  # another size, same signature
    unsigned["checkpoint"] = "\n".join(lines)
    signed, entries = tracker.check_answer(unsigned, verifier)
    assert signed is False and not any(e["proof_ok"] for e in entries)


def test_data_tracker_pages_through_older_accesses(instance, monkeypatch):
    monkeypatch.setattr(tracker, "PAGE", 2)
    with browser_for(instance) as b:
        citizen_login(instance, b)
        for _ in range(3):  # three more accesses: the VIDs the person makes
            vids = b.get("/me/vids")
            b.post("/me/vids", data={"csrf_token": csrf_of(vids.text), "vid_type": "perpetual"})
        every = [e["index"] for e in b.get("/me/data-usage.json").json()["entries"]]
        assert len(every) >= 5 and every == sorted(every, reverse=True)
        seen, page = [], b.get("/me/data-usage")
        while True:
            assert page.status_code == 200 and "Proof checked" in page.text and "does NOT check" not in page.text
            shown = [int(i) for i in re.findall(r'id="entry-(\d+)"', page.text)]
            assert 1 <= len(shown) <= 2
            seen += shown
            assert len(seen) <= len(every)  # each page goes further back
            older = re.search(r'href="/me/data-usage\?before=(\d+)"', page.text)
            if older is None:
                break
            assert int(older.group(1)) == shown[-1] and 'href="/me/data-usage">' in b.get(
                f"/me/data-usage?before={older.group(1)}").text  # a later page links back to the newest
            page = b.get(f"/me/data-usage?before={older.group(1)}")
        assert seen == every  # every access once, newest first, none skipped
        assert "entry-" in b.get("/me/data-usage?before=abc").text  # not a number: the newest page


def test_data_tracker_needs_a_login(instance):
    with browser_for(instance) as b:
        assert b.get("/me/data-usage", follow_redirects=False).headers["location"] == "/login"
        assert b.get("/me/data-usage.json", follow_redirects=False).headers["location"] == "/login"


# -- consents -----------------------------------------------------------------------------------
def consumer(instance):
    """A ministry onboarded as a data consumer (as the exchange tests do)."""
    from ..conftest import Actors

    actors = Actors(instance.platform, instance.api)
    if not hasattr(instance, "ministry"):
        instance.ministry = actors.onboard("ministry-of-health", "ministry", ["data-consumer"], ["digital-agency"])
    return instance.ministry


def ask_consent(instance, purpose="treating the patient") -> str:
    r = consumer(instance).post("/consent/v1/consents", json={
        "provider": "civil-registry", "services": [], "purpose": {"code": "care", "text": purpose},
        "data_types": ["birth-record"], "valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z",
        "frequency": {"unit": "DAY", "value": 3}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_person_grants_then_revokes_a_consent(instance):
    consent_id = ask_consent(instance)
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get("/me/consents")
        assert page.status_code == 200 and "You have not given any consent yet." in page.text
        page = b.get("/me/consents", params={"request": consent_id.upper()})  # as typed, in capitals
        assert page.status_code == 200 and str(page.url).endswith(f"/me/consents/{consent_id}")
        assert "ministry-of-health" in page.text and "birth-record" in page.text and "At most 3 times per day" in page.text
        # no choice made: the page says so and nothing changes
        r = b.post(f"/me/consents/{consent_id}/decision", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 422 and "Choose whether you give or refuse your consent." in r.text
        r = b.post(f"/me/consents/{consent_id}/decision", data={"csrf_token": csrf_of(page.text), "decision": "approve"})
        assert r.status_code == 200 and "You gave your consent to ministry-of-health" in r.text
        assert ">Given</strong>" in r.text
        listed = b.get("/me/consents")
        assert f'id="consent-{consent_id}"' in listed.text
        # the consumer's exchange check says allowed
        check = {"consent_id": consent_id, "consumer": "ministry-of-health", "provider": "civil-registry",
                 "service": "DPI/GOV/civil-registry/registry/persons"}
        assert instance.ministry.post("/consent/v1/check", json=check).json()["allowed"] is True

        # revoking asks first; the first POST changes nothing
        r = b.post(f"/me/consents/{consent_id}/revoke", data={"csrf_token": csrf_of(r.text)})
        assert r.status_code == 200 and 'id="revoke-confirm"' in r.text and 'name="confirm" value="yes"' in r.text
        assert instance.ministry.post("/consent/v1/check", json=check).json()["allowed"] is True
        # a forged token revokes nothing
        forged = b.post(f"/me/consents/{consent_id}/revoke", data={"csrf_token": "forged", "confirm": "yes"})
        assert forged.status_code == 403 and "This form has expired" in forged.text
        assert instance.ministry.post("/consent/v1/check", json=check).json()["allowed"] is True
        # confirmed, in French: the result in the person's language
        b.get(f"/me/consents/{consent_id}?lang=fr")
        r = b.post(f"/me/consents/{consent_id}/revoke", data={"csrf_token": csrf_of(r.text), "confirm": "yes"})
        assert r.status_code == 200 and 'lang="fr"' in r.text and "est révoqué" in r.text, r.text
        assert instance.ministry.post("/consent/v1/check", json=check).json()["reason"] == "revoked"
        assert 'id="revoke-form"' not in r.text  # nothing left to revoke


def test_person_refuses_a_request(instance):
    consent_id = ask_consent(instance)
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get(f"/me/consents/{consent_id}")
        r = b.post(f"/me/consents/{consent_id}/decision", data={"csrf_token": csrf_of(page.text), "decision": "reject"})
        assert "You refused the request of ministry-of-health" in r.text and ">Refused</strong>" in r.text
        # a second answer is not accepted, with a clear page
        r = b.post(f"/me/consents/{consent_id}/decision", data={"csrf_token": csrf_of(page.text), "decision": "approve"})
        assert r.status_code == 422 and "This was not accepted" in r.text


def test_another_persons_consent_is_not_found(instance):
    consent_id = ask_consent(instance)
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get(f"/me/consents/{consent_id}")
        b.post(f"/me/consents/{consent_id}/decision", data={"csrf_token": csrf_of(page.text), "decision": "approve"})
    with browser_for(instance) as other:
        citizen_login(instance, other, "baraka")
        assert other.get(f"/me/consents/{consent_id}").status_code == 404
        page = other.get("/me/consents")
        assert consent_id not in page.text
        r = other.post(f"/me/consents/{consent_id}/revoke", data={"csrf_token": csrf_of(page.text), "confirm": "yes"})
        assert r.status_code == 404 and "Not found" in r.text
        assert other.get("/me/consents/not-a-consent").status_code == 404
        r = other.get("/me/consents", params={"request": "12345"})
        assert r.status_code == 422 and 'value="12345"' in r.text and "Enter the request code" in r.text
    check = {"consent_id": consent_id, "consumer": "ministry-of-health", "provider": "civil-registry",
             "service": "DPI/GOV/civil-registry/registry/persons"}
    assert instance.ministry.post("/consent/v1/check", json=check).json()["allowed"] is True


# -- the enrolment review queue -----------------------------------------------------------------
def operator_login(instance, b, participant_id="identity-authority"):
    page = b.get("/operator/login")
    r = b.post("/operator/login", data={"csrf_token": csrf_of(page.text), "participant_id": participant_id,
                                        "key": instance.key_text(participant_id)})
    assert r.status_code == 200, r.text
    return r


def under_review(instance) -> str:
    """Amina again, born a month later and living elsewhere: maybe her, maybe not."""
    from ..conftest import Actors
    from .conftest import AMINA

    registry = Actors(instance.platform, instance.api).onboard("district-office", "registry", ["registration"],
                                                               ["identity-authority"])
    r = registry.post("/identity/v1/enrolments", json={**AMINA, "birth_date": "1990-05-12", "phone": None,
                                                       "address": "3 Hill Street, Nairobi"}).json()
    assert r["status"] == "review", r
    return r["enrolment_id"]


def test_operator_compares_and_decides_a_review_with_a_reason(instance):
    enrolment_id = under_review(instance)
    with browser_for(instance) as b:
        r = operator_login(instance, b)
        assert 'href="/operator/reviews"' in r.text  # the identity authority's console lists the queue
        queue = b.get("/operator/reviews")
        assert queue.status_code == 200 and f'id="review-{enrolment_id}"' in queue.text
        page = b.get(f"/operator/reviews/{enrolment_id}")
        assert page.status_code == 200, page.text
        table = re.search(r'<table class="govuk-table" id="comparison">.*?</table>', page.text, re.S).group(0)
        assert instance.uins["amina"] in table and "3 Hill Street, Nairobi" in table
        assert "12 Harbour Road, Mombasa" in table and "differs" in table
        # no reason: refused, the choice kept
        choice = f"duplicate:{instance.uins['amina']}"
        r = b.post(f"/operator/reviews/{enrolment_id}/decision", data={"csrf_token": csrf_of(page.text),
                                                                       "decision": choice, "reason": "  "})
        assert r.status_code == 422 and "Give the reason for your decision" in r.text
        assert f'value="{choice}" checked' in r.text
        # no choice: refused, the reason kept
        r = b.post(f"/operator/reviews/{enrolment_id}/decision", data={"csrf_token": csrf_of(page.text),
                                                                       "reason": "checked the certificate"})
        assert r.status_code == 422 and "checked the certificate</textarea>" in r.text
        # forged CSRF token: nothing decided
        r = b.post(f"/operator/reviews/{enrolment_id}/decision", data={"csrf_token": "x", "decision": choice,
                                                                       "reason": "same"})
        assert r.status_code == 403
        assert f'id="review-{enrolment_id}"' in b.get("/operator/reviews").text
        r = b.post(f"/operator/reviews/{enrolment_id}/decision", data={
            "csrf_token": csrf_of(page.text), "decision": choice, "reason": "same person: moved house"})
        assert r.status_code == 200 and f"the same person as {instance.uins['amina']}" in r.text
        assert 'id="no-reviews"' in r.text
        # decided: the page says so instead of a form
        again = b.get(f"/operator/reviews/{enrolment_id}")
        assert again.status_code == 409 and "already decided" in again.text
        r = b.post(f"/operator/reviews/{enrolment_id}/decision", data={
            "csrf_token": csrf_of(page.text), "decision": "issue", "reason": "changed my mind"})
        assert r.status_code == 409 and "already decided" in r.text
        assert b.get("/operator/reviews/not-an-id").status_code == 404
        assert b.get("/operator/reviews/00000000-0000-0000-0000-000000000000").status_code == 404


def test_review_queue_is_for_the_identity_authority_only(instance):
    enrolment_id = under_review(instance)
    with browser_for(instance) as b:
        r = operator_login(instance, b, "digital-agency")
        assert 'href="/operator/reviews"' not in r.text
        page = b.get("/operator/reviews")
        assert page.status_code == 403 and "Not allowed" in page.text
        assert b.get(f"/operator/reviews/{enrolment_id}").status_code == 403
    with browser_for(instance) as citizen:
        assert citizen.get("/operator/reviews", follow_redirects=False).headers["location"] == "/operator/login"


# -- the mediator's services and access rights ---------------------------------------------------
def test_operator_sees_services_and_who_may_call_them(instance):
    from ..conftest import Actors

    actors = Actors(instance.platform, instance.api)
    land = actors.onboard("land-registry", "registry", ["data-provider"], ["digital-agency"])
    ministry = consumer(instance)
    assert land.post("/exchange/v1/subsystems", json={"code": "titles"}).status_code == 201
    assert ministry.post("/exchange/v1/subsystems", json={"code": "clinics"}).status_code == 201
    for code, category, personal in (("parcels", "land-parcels", False), ("owners", "land-owners", True)):
        r = land.put("/exchange/v1/services", json={"subsystem": "titles", "service_code": code,
                                                     "backend_url": "http://127.0.0.1:9/", "category": category,
                                                     "personal_data": personal})
        assert r.status_code == 200, r.text
    proposal = ministry.propose("access.grant", {"participant_id": "ministry-of-health", "action": "data:read",
                                                 "category": "land-owners", "owner_id": "land-registry",
                                                 "purpose": "home visits"}).json()
    assert land.decide(proposal).json()["status"] == "enacted"
    with browser_for(instance) as b:
        r = operator_login(instance, b, "digital-agency")
        assert 'href="/operator/exchange"' in r.text
        page = b.get("/operator/exchange")
        assert page.status_code == 200, page.text
        owners = re.search(r'id="service-land-registry-titles-owners">.*?</tr>', page.text, re.S).group(0)
        parcels = re.search(r'id="service-land-registry-titles-parcels">.*?</tr>', page.text, re.S).group(0)
        assert "DPI/GOV/land-registry/titles/owners" in owners and "ministry-of-health" in owners and "Yes" in owners
        assert "ministry-of-health" not in parcels and "No one yet" in parcels
        members = re.search(r'id="members">.*?</table>', page.text, re.S).group(0)
        assert "titles" in members and "clinics" in members
        assert 'lang="pt"' in b.get("/operator/exchange?lang=pt").text
    with browser_for(instance) as citizen:
        assert citizen.get("/operator/exchange", follow_redirects=False).headers["location"] == "/operator/login"


def test_a_provider_publishes_and_withdraws_a_service_and_access_rights_go_through_governance(instance):
    from ..conftest import Actors

    land = Actors(instance.platform, instance.api).onboard("land-registry", "registry", ["data-provider"],
                                                          ["digital-agency"])
    consumer(instance)
    assert land.post("/exchange/v1/subsystems", json={"code": "titles"}).status_code == 201
    with browser_for(instance) as b:
        operator_login(instance, b, "land-registry")
        page = b.get("/operator/exchange")
        assert page.status_code == 200 and 'id="publish-form"' in page.text
        csrf = csrf_of(page.text)
        # validation: the entries kept, each error in the summary
        r = b.post("/operator/exchange/services", data={"csrf_token": csrf, "subsystem": "titles",
                                                        "service_code": "owners", "backend_url": "ftp://x",
                                                        "category": "Land Owners"})
        assert r.status_code == 422 and 'href="#backend-url"' in r.text and 'href="#category"' in r.text
        assert 'href="#personal-data"' in r.text and 'value="owners"' in r.text and 'value="Land Owners"' in r.text
        entries = {"csrf_token": csrf, "subsystem": "titles", "service_code": "owners",
                   "backend_url": "http://127.0.0.1:9/", "category": "land-owners", "personal_data": "yes"}
        assert b.post("/operator/exchange/services", data={**entries, "csrf_token": "forged"}).status_code == 403
        r = b.post("/operator/exchange/services", data=entries)
        assert r.status_code == 200 and "DPI/GOV/land-registry/titles/owners is published" in r.text
        row = re.search(r'id="service-land-registry-titles-owners">.*?</tr>', r.text, re.S).group(0)
        assert "No one yet" in row
        # an access right is a proposal: nothing changes until the owner approves it
        r = b.post("/operator/exchange/grants", data={"csrf_token": csrf, "service": "land-owners@land-registry",
                                                      "grantee": "ministry-of-health", "purpose": ""})
        assert r.status_code == 422 and 'href="#purpose"' in r.text and 'value="ministry-of-health"' in r.text
        r = b.post("/operator/exchange/grants", data={"csrf_token": csrf, "service": "land-owners@land-registry",
                                                      "grantee": "ministry-of-health", "purpose": "home visits"})
        assert r.status_code == 200 and "/operator/proposals/" in str(r.url) and "access.grant" in r.text
        assert "participant:land-registry" in r.text
        row = re.search(r'id="service-land-registry-titles-owners">.*?</tr>', b.get("/operator/exchange").text,
                        re.S).group(0)
        assert "ministry-of-health" not in row
        proposal_id = str(r.url).rsplit("/", 1)[1]
        r = b.post(f"/operator/proposals/{proposal_id}/decision", data={
            "csrf_token": csrf, "decision": "approve", "key": instance.key_text("land-registry")})
        assert "the proposal is enacted" in r.text
        page = b.get("/operator/exchange")
        row = re.search(r'id="service-land-registry-titles-owners">.*?</tr>', page.text, re.S).group(0)
        assert "ministry-of-health" in row
        grant_id = re.search(r'name="grant_id" type="radio" value="([^"]+)"', page.text).group(1)
        r = b.post("/operator/exchange/grants/revoke", data={"csrf_token": csrf, "grant_id": grant_id})
        assert r.status_code == 422 and 'href="#revoke-reason"' in r.text
        r = b.post("/operator/exchange/grants/revoke", data={"csrf_token": csrf, "grant_id": grant_id,
                                                             "revoke_reason": "no longer needed"})
        assert r.status_code == 200 and "access.revoke" in r.text
        # withdrawing asks first
        r = b.post("/operator/exchange/services/titles/owners/withdraw", data={"csrf_token": csrf})
        assert r.status_code == 200 and 'id="withdraw-confirm"' in r.text
        assert 'id="service-land-registry-titles-owners"' in b.get("/operator/exchange").text
        r = b.post("/operator/exchange/services/titles/owners/withdraw", data={"csrf_token": csrf, "confirm": "yes"})
        assert r.status_code == 200 and "titles/owners is withdrawn" in r.text
        assert 'id="service-land-registry-titles-owners"' not in r.text
    with browser_for(instance) as b:  # not a data provider: no form, and the mediator refuses
        page = operator_login(instance, b, "digital-agency")
        assert 'id="publish-form"' not in b.get("/operator/exchange").text
        r = b.post("/operator/exchange/services", data={**entries, "csrf_token": csrf_of(page.text)})
        assert r.status_code == 403 and "Not allowed" in r.text


# -- HTMX enhancement ---------------------------------------------------------------------------
def test_htmx_is_served_by_the_platform_under_the_strict_csp(instance):
    from dpistack.web.pages import static_path

    with browser_for(instance) as b:
        home = b.get("/")
        assert '<script src="/static/htmx.min.js" defer></script>' in home.text
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", home.text) is None  # no inline script
        config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", home.text).group(1))
        assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
        assert config["historyCacheSize"] == 0  # no copy of a page (CSRF token, personal data) in localStorage
        csp = home.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp
        plain = b.get("/static/htmx.min.js", headers={"Accept-Encoding": "identity"})
        assert plain.content == static_path("htmx.min.js").read_bytes() and "content-encoding" not in plain.headers
        packed = b.get("/static/htmx.min.js", headers={"Accept-Encoding": "gzip, br"})
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
        assert packed.content == plain.content  # httpx decodes it
        assert int(packed.headers["content-length"]) < len(plain.content) / 2
        assert b.get("/static/HTMX-LICENCE.txt").status_code == 200


def test_a_form_sent_by_htmx_names_the_page_it_ended_on(instance):
    consent_id = ask_consent(instance)
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get(f"/me/consents/{consent_id}")
        assert f'hx-post="/me/consents/{consent_id}/decision"' in page.text and 'hx-select="#main-content"' in page.text
        r = b.post(f"/me/consents/{consent_id}/decision", headers={"HX-Request": "true"},
                   data={"csrf_token": csrf_of(page.text), "decision": "approve"})
        assert r.status_code == 200 and r.headers["hx-replace-url"] == f"/me/consents/{consent_id}"
        assert 'id="main-content"' in r.text and "You gave your consent" in r.text
        # a refused form is answered in place, at the form's own address (nothing to replace)
        r = b.post(f"/me/consents/{consent_id}/revoke", headers={"HX-Request": "true"}, data={"csrf_token": "x"})
        assert r.status_code == 403 and "hx-replace-url" not in r.headers
        assert "hx-replace-url" not in b.get("/me/consents").headers
