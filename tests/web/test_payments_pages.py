"""Payments in the portal through HTTP (no browser): the person's payments aliases (from the
switch, for the identifiers identity holds for the person logged in, logged in their data
tracker) and the payments regulator's console actions — net debit cap, funds in and out,
closing and settling a window — with bad input: CSRF, the wrong role, validation errors
keeping the entries, an unconfirmed money movement, Arabic."""

from __future__ import annotations

import re

import pytest

from dpistack.core.server import serve_in_thread

from ..conftest import Actors
from ..payments.conftest import ADMIN, Receiver, Scheme, send
from ..payments.test_admin import pay
from .conftest import AMINA, citizen_login
from .test_pages import operator_login
from .test_portal import browser_for, csrf_of

MODEL = {"name": "DEFERREDNET", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
         "settlementDelay": "DEFERRED", "currency": "USD", "requireLiquidityCheck": True,
         "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": True}


@pytest.fixture
def scheme(instance):
    receiver = Receiver()
    with serve_in_thread(receiver.app) as url:
        receiver.url = url
        yield Scheme(Actors(instance.platform, instance.api), receiver)


def position_row(page: str, name: str) -> str:
    return re.search(rf'<tr class="govuk-table__row" id="position-{name}-USD">.*?</tr>', page, re.S).group(0)


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


# -- the person's aliases ---------------------------------------------------------------------------
def test_my_aliases_show_the_fsp_my_phone_number_resolves_to_and_the_lookup_is_logged(instance, scheme):
    bank = scheme.fsp("first-bank")
    msisdn = AMINA["phone"].lstrip("+")
    r = send(bank, "POST", f"/participants/MSISDN/{msisdn}", {"fspId": "first-bank", "currency": "USD"})
    assert r.status_code == 202, r.text
    scheme.receiver.wait("first-bank", f"/participants/MSISDN/{msisdn}", "PUT")
    with browser_for(instance) as b:
        citizen_login(instance, b)
        page = b.get("/me/aliases")
        assert page.status_code == 200, page.text
        phone = re.search(r'<tr class="govuk-table__row alias-msisdn">.*?</tr>', page.text, re.S).group(0)
        assert AMINA["phone"] in phone and "first-bank" in phone and "USD" in phone
        national = re.search(r'<tr class="govuk-table__row alias-personal_id">.*?</tr>', page.text, re.S).group(0)
        assert instance.uins["amina"] in national and "Not linked to any account" in national
        usage = b.get("/me/data-usage")
        assert "citizen-portal" in usage.text and "payment-aliases" in usage.text
    with browser_for(instance) as b:  # another person: her number is not his
        citizen_login(instance, b, "baraka")
        page = b.get("/me/aliases")
        assert page.status_code == 200 and "first-bank" not in page.text and instance.uins["baraka"] in page.text
        assert "Not linked to any account" in page.text
    with browser_for(instance) as b:
        assert b.get("/me/aliases", follow_redirects=False).headers["location"] == "/login"


def test_the_alias_api_is_for_relying_parties_governance_allowed(instance, scheme):
    body = {"uin": instance.uins["amina"], "parties": [{"partyIdType": "MSISDN", "partyIdentifier": "254700000001"}]}
    assert scheme.hub.post("/payments/v1/aliases/lookup", json=body).status_code == 403  # not a relying party
    shop = scheme.actors.onboard("corner-shop", "relying-party", ["relying-party"], ["identity-authority"])
    r = shop.post("/payments/v1/aliases/lookup", json=body)  # a relying party without the grant
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    portal = scheme.actors("citizen-portal")
    assert portal.post("/payments/v1/aliases/lookup", json={**body, "uin": "x"}).status_code == 422
    assert portal.post("/payments/v1/aliases/lookup", json=body).json() == {"parties": [
        {"partyIdType": "MSISDN", "partyIdentifier": "254700000001", "accounts": []}]}


# -- the payments regulator's console ---------------------------------------------------------------
def test_the_regulator_changes_a_net_debit_cap(instance, scheme):
    scheme.fsp("first-bank", ndc="1000")
    with browser_for(instance) as b:
        operator_login(instance, b, "central-bank")
        page = b.get("/operator/payments")
        assert cells(position_row(page.text, "first-bank"))[3] == "$1,000.00"
        r = b.post("/operator/payments/limit", data={"csrf_token": csrf_of(page.text), "limit_account": "first-bank|USD",
                                                     "limit_value": "2500.5"})
        assert r.status_code == 200 and "The net debit cap of first-bank is now $2,500.50" in r.text
        assert cells(position_row(r.text, "first-bank"))[3] == "$2,500.50"
        [limit] = scheme.hub.get(f"{ADMIN}/participants/first-bank/limits").json()
        assert limit["limit"]["value"] == 2500.5
        # too many decimals for USD: refused, the entries kept
        r = b.post("/operator/payments/limit", data={"csrf_token": csrf_of(page.text), "limit_account": "first-bank|USD",
                                                     "limit_value": "10.005"})
        assert r.status_code == 422 and "USD has 2 decimal places" in r.text and 'value="10.005"' in r.text
        assert 'value="first-bank|USD" checked' in r.text and 'class="govuk-error-summary' in r.text
        # forged CSRF token: nothing changes
        r = b.post("/operator/payments/limit", data={"csrf_token": "forged", "limit_account": "first-bank|USD",
                                                     "limit_value": "1"})
        assert r.status_code == 403
        assert scheme.hub.get(f"{ADMIN}/participants/first-bank/limits").json()[0]["limit"]["value"] == 2500.5


def test_funds_in_and_out_are_confirmed_first_and_change_the_funds_shown(instance, scheme):
    scheme.fsp("first-bank", funds="1000")
    with browser_for(instance) as b:
        operator_login(instance, b, "central-bank")
        page = b.get("/operator/payments")
        csrf = csrf_of(page.text)
        assert cells(position_row(page.text, "first-bank"))[4] == "$1,000.00"
        entries = {"csrf_token": csrf, "funds_account": "first-bank|USD", "funds_direction": "in",
                   "funds_amount": "250", "funds_reason": "deposit 42"}
        confirm = b.post("/operator/payments/funds", data=entries)
        assert confirm.status_code == 200 and 'id="confirm"' in confirm.text and "$250.00" in confirm.text
        assert scheme.account("first-bank", "SETTLEMENT")["value"] == -1000  # nothing moved yet
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', confirm.text))
        assert fields["confirm"] == "yes" and fields["funds_amount"] == "250"
        done = b.post("/operator/payments/funds", data=fields)
        assert done.status_code == 200 and "$250.00 recorded as funds in for first-bank" in done.text
        assert cells(position_row(done.text, "first-bank"))[4] == "$1,250.00"
        b.post("/operator/payments/funds", data=fields)  # the confirmation sent twice: the money moves once
        assert scheme.account("first-bank", "SETTLEMENT")["value"] == -1250
        out = b.post("/operator/payments/funds", data={**entries, "funds_direction": "out", "funds_amount": "1000.5"})
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', out.text))
        done = b.post("/operator/payments/funds", data=fields)
        assert "paid out of the funds of first-bank" in done.text
        assert cells(position_row(done.text, "first-bank"))[4] == "$249.50"
        settlement = scheme.account("first-bank", "SETTLEMENT")
        assert settlement["value"] == -249.5 and settlement["reservedValue"] == 0
        # more than the funds: the hub's refusal on the form, the entries kept
        out = b.post("/operator/payments/funds", data={**entries, "funds_direction": "out", "funds_amount": "5000"})
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', out.text))
        refused = b.post("/operator/payments/funds", data=fields)
        assert refused.status_code == 422 and "Insufficient funds" in refused.text and 'value="5000"' in refused.text
        # validation: every field named in the error summary, what was typed kept
        r = b.post("/operator/payments/funds", data={"csrf_token": csrf, "funds_amount": "abc", "funds_reason": ""})
        assert r.status_code == 422 and 'value="abc"' in r.text
        for field in ("#funds-account", "#funds-direction", "#funds-amount", "#funds-reason"):
            assert f'href="{field}"' in r.text
        assert b.post("/operator/payments/funds", data={**fields, "csrf_token": "x"}).status_code == 403
        assert scheme.account("first-bank", "SETTLEMENT")["value"] == -249.5


def test_the_regulator_closes_the_window_and_settles_it(instance, scheme):
    alpha, beta = scheme.fsp("alpha-bank"), scheme.fsp("beta-wallet")
    pay(scheme, alpha, beta, "30")
    assert scheme.hub.post(f"{ADMIN}/settlementModels", json=MODEL).status_code == 201
    [window] = scheme.hub.get(f"{ADMIN}/settlementWindows", params={"state": "OPEN"}).json()
    with browser_for(instance) as b:
        operator_login(instance, b, "central-bank")
        page = b.get("/operator/payments")
        csrf = csrf_of(page.text)
        assert cells(position_row(page.text, "alpha-bank"))[2] == "$30.00"
        r = b.post("/operator/payments/windows/close", data={"csrf_token": csrf, "close_reason": " "})
        assert r.status_code == 422 and 'href="#close-reason"' in r.text
        r = b.post("/operator/payments/windows/close", data={"csrf_token": csrf, "close_reason": "end of day"})
        assert r.status_code == 200 and f"Window {window['id']} is closed" in r.text
        assert scheme.hub.get(f"{ADMIN}/settlementWindows/{window['id']}").json()["state"] == "CLOSED"
        entries = {"csrf_token": csrf, "settle_window": str(window["id"]), "settle_model": "DEFERREDNET",
                   "settle_reason": "daily"}
        confirm = b.post("/operator/payments/settle", data=entries)
        assert confirm.status_code == 200 and 'id="confirm"' in confirm.text and "$30.00" in confirm.text
        assert scheme.hub.get(f"{ADMIN}/settlementWindows/{window['id']}").json()["state"] == "CLOSED"
        done = b.post("/operator/payments/settle", data={**entries, "confirm": "yes"})
        assert done.status_code == 200 and f"Window {window['id']} is settled" in done.text
        assert scheme.hub.get(f"{ADMIN}/settlementWindows/{window['id']}").json()["state"] == "SETTLED"
        assert cells(position_row(done.text, "alpha-bank"))[2] == "$0.00"
        assert cells(position_row(done.text, "alpha-bank"))[4] == "$970.00"
        assert cells(position_row(done.text, "beta-wallet"))[4] == "$1,030.00"
        again = b.post("/operator/payments/settle", data={**entries, "confirm": "yes"})
        assert again.status_code == 422 and "Choose a closed settlement window" in again.text


def test_other_roles_are_refused_and_the_arabic_page_renders(instance, scheme):
    scheme.fsp("first-bank")
    with browser_for(instance) as b:
        page = operator_login(instance, b, "identity-authority")
        csrf = csrf_of(page.text)
        for path, data in (("/operator/payments/limit", {"limit_account": "first-bank|USD", "limit_value": "1"}),
                           ("/operator/payments/funds", {"funds_account": "first-bank|USD", "funds_direction": "in",
                                                         "funds_amount": "1", "funds_reason": "x", "confirm": "yes",
                                                         "transfer_id": "3f2b8c1e-0a4d-4e8b-9c6f-1d2e3f4a5b6c"}),
                           ("/operator/payments/windows/close", {"close_reason": "x"})):
            r = b.post(path, data={"csrf_token": csrf, **data})
            assert r.status_code == 403 and "Not allowed" in r.text, path
    assert scheme.account("first-bank", "SETTLEMENT")["value"] == -1000
    with browser_for(instance) as b:
        operator_login(instance, b, "central-bank")
        page = b.get("/operator/payments?lang=ar")
        assert page.status_code == 200 and 'dir="rtl"' in page.text and 'lang="ar"' in page.text
        assert "تغيير سقف صافي المدين" in page.text  # "Change a net debit cap", translated
        r = b.post("/operator/payments/limit", data={"csrf_token": csrf_of(page.text), "limit_value": "x"})
        assert r.status_code == 422 and 'dir="rtl"' in r.text and "There is a problem" not in r.text
