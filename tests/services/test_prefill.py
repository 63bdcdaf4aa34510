"""Online forms prefilled from what registries already hold (the once-only principle): the
person's own record through the residents' API, the population register's record through the
information mediator (a separate participant, its own backend on loopback), each answer marked
with its source, editable, checked by the person before sending, the reads in the person's data
tracker, the application kept (sealed) with a reference number — with bad input: CSRF, no login,
validation errors that keep the entries, a forged draft, a service without a form, a register
that does not answer."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from dpistack.core.server import serve_in_thread
from dpistack.services import applications, registry_demo, service
from dpistack.services.models import Application
from dpistack.transparency import service as tlog
from dpistack.web import setup as web_setup

from ..web.conftest import AMINA, citizen_login, hidden_fields, instance  # noqa: F401 - the fixture
from ..web.test_portal import browser_for, csrf_of

DRAFT = re.compile(r'name="draft" value="([^"]+)"')


@pytest.fixture
def register(instance):  # noqa: F811
    """The demo catalogue, and the population register on the exchange with Amina's record."""
    service.load_demo(instance.platform)
    records: dict = {}
    with serve_in_thread(registry_demo.app(records)) as url:
        registry_demo.setup(instance.platform, instance.api, url, web_setup.PARTICIPANT)
        registry_demo.setup(instance.platform, instance.api, url, web_setup.PARTICIPANT)  # idempotent
        records[instance.uins["amina"]] = registry_demo.demo_records(instance.uins["amina"], AMINA["address"])
        yield records


def value_of(page: str, name: str) -> str:
    m = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', page) or \
        re.search(rf'<textarea[^>]*\bname="{name}"[^>]*>([^<]*)</textarea>', page, re.S)
    return unescape(m.group(1)).strip() if m else ""


def form_data(page: str, **changes) -> dict:
    names = re.findall(r'<(?:input|textarea)[^>]*\bname="([a-z_]+)"', page)
    data = {n: value_of(page, n) for n in names}
    data.update(changes)
    return data


def answer_row(page: str, question: str) -> str:
    """The answer to one question on "Check your answers"."""
    text = unescape(page)
    return re.search(re.escape(question) + r"\s*</dt>\s*<dd[^>]*>(.*?)</dd>", text, re.S).group(1)


def tracker_entries(inst, uin):
    pseudonym = tlog.pseudonym(inst.platform.keys.derived_secret("transparency:pseudonym"), uin)
    return [json.loads(blob) for _, blob in tlog.entries_about(inst.platform, pseudonym)]


def test_child_benefit_form_is_prefilled_checked_and_sent(instance, register):  # noqa: F811
    uin = instance.uins["amina"]
    with browser_for(instance) as b:
        citizen_login(instance, b)
        service_page = b.get("/services/child-benefit")
        assert 'href="/services/child-benefit/apply"' in service_page.text
        page = b.get("/services/child-benefit/apply")
        assert page.status_code == 200, page.text
        text = unescape(page.text)
        # identity data through the residents' API, the child through the mediator, each marked
        assert value_of(page.text, "full_name") == "Amina Hassan" and value_of(page.text, "uin") == uin
        assert value_of(page.text, "phone") == AMINA["phone"]
        assert value_of(page.text, "child_name") == "Zawadi Hassan"
        assert value_of(page.text, "child_birth_date") == "2019-06-02"
        assert value_of(page.text, "payment_account") == ""  # no registry holds it
        assert re.search(r'id="full_name-source">From your national ID record<', text)
        assert re.search(r'id="child_name-source">From the population register<', text)
        assert 'id="payment_account-source"' not in text and 'id="prefill-note"' in text
        assert "<script" not in text.split("</main>")[0].split('<main')[1]  # the form needs no JavaScript

        # the register's read went through the mediator: in the message log and in her tracker
        reads = [e for e in tracker_entries(instance, uin) if e["accessor"] == web_setup.PARTICIPANT
                 and e["categories"] == [registry_demo.CATEGORY]]
        assert len(reads) == 1 and reads[0]["legal_basis"] == f"policy:{registry_demo.LEGAL_BASIS_ID}"
        assert "GOV/population-registry/records/people" in reads[0]["purpose"]

        # a validation error keeps every entry, and says what to do, in the person's language
        data = form_data(page.text, child_birth_date="02/06/2019", payment_account="")
        r = b.post("/services/child-benefit/apply?lang=fr", data=data)
        assert r.status_code == 422 and "govuk-error-summary" in r.text
        assert "Saisissez une date" in unescape(r.text) and 'href="#child_birth_date"' in r.text
        assert value_of(r.text, "child_birth_date") == "02/06/2019" and value_of(r.text, "full_name") == "Amina Hassan"
        assert "Du registre de la population" in unescape(r.text)

        # corrected, and one prefilled answer changed by the person: "Check your answers"
        data = form_data(r.text, child_birth_date="2019-06-02", payment_account="0712 345 678",
                         phone="+254711111111")
        check = b.post("/services/child-benefit/apply?lang=en", data=data)
        assert check.status_code == 200 and "Check your answers" in check.text, check.text
        assert "Zawadi Hassan" in check.text and "0712 345 678" in check.text
        phone_row = answer_row(check.text, "Your phone number")
        assert "+254711111111" in phone_row and "You changed this answer" in phone_row
        child_row = answer_row(check.text, "Child's full name")
        assert "From the population register" in child_row
        assert 'name="change" value="yes"' in check.text and 'action="/services/child-benefit/apply/send"' in check.text
        assert instance.platform.db.uow().__enter__().scalars(select(Application)).first() is None  # nothing sent yet

        # "Change your answers" brings the form back with what was answered
        draft = DRAFT.search(check.text).group(1)
        back = b.post("/services/child-benefit/apply", data={"csrf_token": csrf_of(check.text), "draft": draft,
                                                             "change": "yes"})
        assert back.status_code == 200 and value_of(back.text, "phone") == "+254711111111"

        # sent: a reference number, the application kept sealed, and in her tracker
        sent = b.post("/services/child-benefit/apply/send", data={"csrf_token": csrf_of(check.text), "draft": draft})
        assert sent.status_code == 200, sent.text
        reference = re.search(r'id="reference">([A-Z0-9-]+)<', sent.text).group(1)
        assert str(sent.url).endswith(f"/services/child-benefit/apply/sent/{reference}")
        again = b.post("/services/child-benefit/apply/send", data={"csrf_token": csrf_of(check.text), "draft": draft})
        assert re.search(r'id="reference">([A-Z0-9-]+)<', again.text).group(1) == reference  # resent: the same one
    with instance.platform.db.uow() as session:
        [row] = session.scalars(select(Application)).all()
        assert row.reference == reference and row.publisher == "social-agency" and uin not in row.subject
        assert "Zawadi" not in row.answers  # sealed at rest
        answers = applications.answers_of(instance.platform, row)
        assert answers["child_name"] == "Zawadi Hassan" and answers["phone"] == "+254711111111"
        # what was prefilled and kept is recorded as such; the changed phone is not
        assert row.sources == {"birth_certificate": "population-register", "child_birth_date": "population-register",
                               "child_name": "population-register", "full_name": "identity", "uin": "identity"}
    received = [e for e in tracker_entries(instance, uin) if e["accessor"] == "social-agency"]
    assert len(received) == 1 and reference in received[0]["purpose"]


def test_change_of_address_in_arabic(instance, register):  # noqa: F811
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get("/services/change-of-address/apply?lang=ar")
        assert page.status_code == 200 and 'dir="rtl"' in page.text
        assert value_of(page.text, "current_address") == AMINA["address"]
        assert value_of(page.text, "household_members") == "3"
        assert "من سجل السكان" in unescape(page.text)
        data = form_data(page.text, new_address="7 Market Street, Mombasa", moving_date="2027-01-15",
                         household_members="three")
        r = b.post("/services/change-of-address/apply", data=data)
        assert r.status_code == 422 and value_of(r.text, "new_address") == "7 Market Street, Mombasa"
        assert 'href="#household_members"' in r.text
        check = b.post("/services/change-of-address/apply", data={**data, "household_members": "3"})
        assert check.status_code == 200 and "7 Market Street, Mombasa" in check.text
        sent = b.post("/services/change-of-address/apply/send",
                      data={"csrf_token": csrf_of(check.text), "draft": DRAFT.search(check.text).group(1)})
        assert sent.status_code == 200 and re.search(r'id="reference">COA-[A-Z0-9]{8}<', sent.text)


def test_a_register_that_does_not_answer_leaves_those_answers_to_the_person(instance, register):  # noqa: F811
    register.clear()  # the register holds nothing about her: 404 through the mediator
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get("/services/child-benefit/apply")
        assert page.status_code == 200 and 'id="prefill-missing"' in page.text
        assert value_of(page.text, "child_name") == "" and value_of(page.text, "full_name") == "Amina Hassan"


def _log_in_from(inst, b, page):
    """The OpenID provider's pages, from its login page on."""
    assert "Log in with your national ID" in page.text
    page = b.post("/authorize/otp", data={**hidden_fields(page.text), "individual_id": inst.uins["amina"]})
    page = b.post("/authorize/login", data={**hidden_fields(page.text), "otp": inst.code_for(AMINA["phone"])})
    return b.post("/authorize/consent", data={**hidden_fields(page.text), "decision": "allow"})


def test_logging_in_comes_back_to_the_form_and_nowhere_else(instance, register):  # noqa: F811
    with browser_for(instance) as b:
        back = _log_in_from(instance, b, b.get("/services/child-benefit/apply"))  # the login remembers the form
        assert str(back.url).endswith("/services/child-benefit/apply") and value_of(back.text, "child_name")
    with browser_for(instance) as b:
        back = _log_in_from(instance, b, b.get("/login?next=https://evil.example/phish"))  # not a page of ours
        assert str(back.url).endswith("/me")


def test_bad_input_is_a_clear_page(instance, register):  # noqa: F811
    with browser_for(instance) as b:
        assert b.get("/services/child-benefit/apply", follow_redirects=False).headers["location"] == \
            "/login?next=%2Fservices%2Fchild-benefit%2Fapply"
        citizen_login(instance, b)
        page = b.get("/services/child-benefit/apply")
        data = form_data(page.text, payment_account="0712 345 678")
        forged = b.post("/services/child-benefit/apply", data={**data, "csrf_token": "forged"})
        assert forged.status_code == 403 and "This form has expired" in forged.text
        r = b.post("/services/child-benefit/apply", data={**data, "draft": "not-a-draft"})
        assert r.status_code == 400 and 'href="/services/child-benefit/apply"' in r.text
        other = b.post("/services/change-of-address/apply", data=data)  # this form's draft on another form
        assert other.status_code == 400
        r = b.post("/services/child-benefit/apply/send", data={"csrf_token": data["csrf_token"], "draft": data["draft"]})
        assert r.status_code == 422 and "govuk-error-summary" in r.text  # never answered: nothing is sent
        r = b.get("/services/passport/apply?lang=es")
        assert r.status_code == 404 and 'href="/services/passport"' in r.text
        assert b.get("/services/no-such/apply").status_code == 404
        assert b.get("/services/child-benefit/apply/sent/not-a-reference").status_code == 404
    with instance.platform.db.uow() as session:
        assert session.scalars(select(Application)).first() is None


def test_the_applications_api_checks_the_caller_and_the_answers(instance, register):  # noqa: F811
    from dpistack.governance import credentials
    from dpistack.governance.client import ParticipantClient
    from dpistack.governance.oauth import token_endpoint

    data_dir = instance.platform.settings.data_dir
    portal = ParticipantClient(instance.api, web_setup.PARTICIPANT,
                               credentials.load_private_jwk(data_dir, web_setup.PARTICIPANT),
                               token_endpoint(instance.platform.settings))
    register_ = ParticipantClient(instance.api, registry_demo.PARTICIPANT,
                                  credentials.load_private_jwk(data_dir, registry_demo.PARTICIPANT),
                                  token_endpoint(instance.platform.settings))
    body = {"service_id": "change-of-address", "data_subject": instance.uins["amina"], "request_id": "req-00001",
            "answers": {"full_name": "Amina Hassan", "uin": instance.uins["amina"], "current_address": "x",
                        "new_address": "y", "moving_date": "2027-01-15", "household_members": "3"}}
    assert instance.api.post("/services/v1/applications", json=body).status_code == 401
    assert register_.post("/services/v1/applications", json=body).status_code == 403  # not a front office
    bad = portal.post("/services/v1/applications", json={**body, "answers": {**body["answers"], "moving_date": "soon"}})
    assert bad.status_code == 422 and bad.json()["problems"] == {"moving_date": "date"}
    bad = portal.post("/services/v1/applications", json={**body, "sources": {"new_address": "tax-office"}})
    assert bad.status_code == 422 and bad.json()["bad_sources"] == ["new_address"]
    assert portal.post("/services/v1/applications", json={**body, "service_id": "passport"}).status_code == 404
    ok = portal.post("/services/v1/applications", json=body)
    assert ok.status_code == 201 and re.fullmatch(r"COA-[A-Z0-9]{8}", ok.json()["reference"])
    assert portal.post("/services/v1/applications", json=body).json()["reference"] == ok.json()["reference"]


def test_the_institution_reads_what_it_received_and_only_that(instance, register):  # noqa: F811
    from dpistack.governance import credentials
    from dpistack.governance.client import ParticipantClient, onboarding_payload
    from dpistack.governance.oauth import token_endpoint

    data_dir, token_url = instance.platform.settings.data_dir, token_endpoint(instance.platform.settings)

    def actor(pid, key=None):
        return ParticipantClient(instance.api, pid, key or credentials.load_private_jwk(data_dir, pid), token_url)

    key = credentials.new_key()
    agency = actor("digital-agency")
    p = agency.propose("participant.onboard", onboarding_payload("social-agency", "Social Protection Agency",
                                                                 "agency", ["data-consumer"], key)).json()
    assert agency.decide(p).json()["status"] == "enacted"
    social, register_, portal = actor("social-agency", key), actor(registry_demo.PARTICIPANT), \
        actor(web_setup.PARTICIPANT)
    uin = instance.uins["amina"]
    sent = portal.post("/services/v1/applications", json={
        "service_id": "child-benefit", "data_subject": uin, "request_id": "req-00002",
        "sources": {"child_name": "population-register"},
        "answers": {"full_name": "Amina Hassan", "uin": uin, "phone": "+254700000001", "child_name": "Zawadi Hassan",
                    "child_birth_date": "2019-06-02", "payment_account": "0712 345 678"}}).json()
    reference = sent["reference"]
    listed = social.get("/services/v1/applications", params={"service_id": "child-benefit"})
    assert listed.status_code == 200 and [a["reference"] for a in listed.json()] == [reference]
    assert "answers" not in listed.json()[0]
    one = social.get(f"/services/v1/applications/{reference}")
    assert one.status_code == 200 and one.json()["answers"]["child_name"] == "Zawadi Hassan"
    assert one.json()["prefilled"] == {"child_name": "population-register"}
    read = [e for e in tracker_entries(instance, uin) if "read by the institution" in e["purpose"]]
    assert [e["accessor"] for e in read] == ["social-agency"] and reference in read[0]["purpose"]
    assert register_.get(f"/services/v1/applications/{reference}").status_code == 404  # not sent to it
    assert register_.get("/services/v1/applications").json() == []
    assert portal.get(f"/services/v1/applications/{reference}").status_code == 403  # a front office reads nothing
    assert instance.api.get("/services/v1/applications").status_code == 401
    assert social.get("/services/v1/applications/not-a-reference").status_code == 422


def test_a_form_in_the_catalogue_is_data_checked_on_publishing(instance):  # noqa: F811
    from dpistack.services.schemas import ServiceForm

    item = next(i for i in service.demo_catalogue() if i["id"] == "child-benefit")
    assert ServiceForm(**item["form"]).fields[3].prefill.source == "population-register"
    broken = json.loads(json.dumps(item["form"]))
    broken["fields"][3]["prefill"]["source"] = "tax-office"
    with pytest.raises(ValueError, match="no source 'tax-office'"):
        ServiceForm(**broken)
    broken = json.loads(json.dumps(item["form"]))
    broken["fields"][0]["prefill"]["field"] = "salary"
    with pytest.raises(ValueError, match="identity source gives"):
        ServiceForm(**broken)
