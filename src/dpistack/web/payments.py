"""Payments in the portal, through the switch's public APIs only.

- ``/me/aliases``: where the person's phone number and national ID (and VIDs) resolve on the
  switch. The identifiers come from identity's residents' API for the person logged in
  (``/resident/v1/me`` with their OpenID token), never from the browser; the portal then asks
  the switch in its own name (``POST /payments/v1/aliases/lookup``, the portal's participant
  token), which logs the lookup under the person's pseudonym (it shows in their data tracker).
- ``/operator/payments``: the hub as the payments regulator runs it, through the central-ledger
  admin API (``/payments/admin``): positions, funds and net debit caps; changing a cap; funds
  in and out of a participant's settlement account (``recordFundsIn``,
  ``recordFundsOutPrepareReserve`` + ``recordFundsOutCommit``); closing the open settlement
  window; settling closed windows (deferred multilateral net: the settlement is created, then
  every account is moved on to SETTLED). Money movements ask for confirmation first (a POST
  without ``confirm=yes`` shows what will happen). Other roles are refused by the admin API.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from iso4217 import Currency

from dpistack.web import citizen
from dpistack.web.i18n import _, format_amount
from dpistack.web.operator import _need_login as _need_operator
from dpistack.web.pages import Ctx, checked_form, context, detail_of

router = APIRouter(include_in_schema=False)
ADMIN = "/payments/admin"
STEPS = ["PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"]
NUMBER = re.compile(r"^[0-9]{1,15}(?:[.,][0-9]{1,6})?$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# -- the citizen's aliases -------------------------------------------------------------------------
def msisdn(phone: str | None) -> str | None:
    """A phone number as FSPIOP writes an MSISDN: the international number's digits only."""
    digits = re.sub(r"[^0-9]", "", phone or "")
    return digits if 5 <= len(digits) <= 15 and not digits.startswith("0") else None


@router.get("/me/aliases")
async def my_aliases(ctx: Ctx = Depends(context)) -> Response:
    if (stop := citizen._need_login(ctx)) is not None:
        return stop
    me = await ctx.api("GET", "/resident/v1/me", token=ctx.session.token)
    if me.status_code != 200:
        return ctx.api_refused(me)
    record = me.json()
    asked: list[tuple[str, dict]] = []
    if (number := msisdn(record.get("phone"))) is not None:
        asked.append((_("Phone number {number}").format(number=record["phone"]),
                      {"partyIdType": "MSISDN", "partyIdentifier": number}))
    asked.append((_("National ID {uin}").format(uin=record["uin"]),
                  {"partyIdType": "PERSONAL_ID", "partyIdentifier": record["uin"],
                   "partySubIdOrType": "NATIONAL_ID_CARD"}))
    for vid in record.get("vids", []):
        if vid.get("status") == "active":
            asked.append((_("Virtual ID {vid}").format(vid=vid["vid"]),
                          {"partyIdType": "PERSONAL_ID", "partyIdentifier": vid["vid"],
                           "partySubIdOrType": "NATIONAL_ID_CARD"}))
    token = await citizen.portal_token(ctx)
    if token is None:
        return ctx.problem(503, _("The service is not answering"),
                           _("Something went wrong on our side. Try again in a few minutes."))
    r = await ctx.api("POST", "/payments/v1/aliases/lookup", token=token, json={
        "uin": record["uin"], "parties": [party for _label, party in asked],
        "purpose": "the person's own payments aliases (citizen portal)"})
    if r.status_code != 200:
        return ctx.api_refused(r)
    aliases = [{"label": label, "kind": party["partyIdType"], "accounts": found["accounts"]}
               for (label, party), found in zip(asked, r.json()["parties"])]
    return ctx.render("aliases.html", title=_("My payments aliases"), aliases=aliases, section="aliases")


# -- the operator's payments ---------------------------------------------------------------------
def canonical_amount(raw: str, currency: str) -> tuple[str | None, str | None]:
    """(the FSPIOP amount, None) or (None, why not): a positive number with at most as many
    decimals as the currency's ISO 4217 minor unit."""
    raw = raw.strip().replace(" ", "")
    if not NUMBER.match(raw):
        return None, _("Enter an amount as a number, for example 1500.50.")
    value = Decimal(raw.replace(",", "."))
    try:
        digits = Currency(currency).exponent or 0
    except ValueError:
        digits = 2
    if value <= 0:
        return None, _("Enter an amount greater than zero.")
    if value != value.quantize(Decimal(1).scaleb(-digits)):
        return None, _("{currency} has {digits} decimal places: enter at most that many.").format(
            currency=currency, digits=digits)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text, None


async def _state(ctx: Ctx) -> tuple[dict | None, Response | None]:
    """What the payments page shows, or the page for the admin API's refusal."""
    token = ctx.session.token
    r = await ctx.api("GET", f"{ADMIN}/participants", token=token)
    if r.status_code != 200:
        return None, ctx.api_refused(r, operator=True)
    limits = (await ctx.api("GET", f"{ADMIN}/participants/limits", token=token)).json()
    caps = {(row["name"], row["currency"]): row["limit"] for row in limits}
    rows = []
    for p in r.json():
        if p["name"] == "Hub":
            continue
        accounts = (await ctx.api("GET", f"{ADMIN}/participants/{p['name']}/accounts", token=token)).json()
        settlement = {a["currency"]: a for a in accounts if a["ledgerAccountType"] == "SETTLEMENT"}
        for a in accounts:
            if a["ledgerAccountType"] != "POSITION":
                continue
            funds = settlement.get(a["currency"])
            rows.append({"name": p["name"], "active": p["isActive"] == 1, "currency": a["currency"],
                         "key": f"{p['name']}|{a['currency']}",
                         "position": Decimal(str(a["value"])) + Decimal(str(a["reservedValue"])),
                         "funds": -Decimal(str(funds["value"])) if funds else None,
                         "settlement_account": funds["id"] if funds else None,
                         "cap": caps.get((p["name"], a["currency"]), {}).get("value"),
                         "alarm": caps.get((p["name"], a["currency"]), {}).get("alarmPercentage", 10)})
    windows = (await ctx.api("GET", f"{ADMIN}/settlementWindows", token=token)).json()
    models = (await ctx.api("GET", f"{ADMIN}/settlementModels", token=token)).json()
    deferred = [m["name"] for m in models if m["isActive"] and m["settlementGranularity"] == "NET"
                and m["settlementDelay"] == "DEFERRED"]
    return {"rows": rows, "windows": windows[-20:], "open": next((w for w in windows if w["state"] == "OPEN"), None),
            "closed": [w for w in windows if w["state"] == "CLOSED"], "models": deferred}, None


async def _page(ctx: Ctx, errors: dict | None = None, entered: dict | None = None, status: int = 200) -> Response:
    state, stop = await _state(ctx)
    if stop is not None:
        return stop
    return ctx.render("payments.html", status, title=_("Payments"), errors=errors or {}, entered=entered or {},
                      section="payments", **state)


@router.get("/operator/payments")
async def payments(ctx: Ctx = Depends(context)) -> Response:
    """The switch as the payments regulator sees it: participants, positions and funds against
    their net debit caps, settlement windows, and the forms that change them."""
    if (stop := _need_operator(ctx)) is not None:
        return stop
    return await _page(ctx)


async def _posted(ctx: Ctx) -> tuple[dict, dict | None, Response | None]:
    """A form of the payments page and the switch's state it acts on, or the page that stops it."""
    form, stop = await checked_form(ctx, _need_operator)
    if stop is not None:
        return form, None, stop
    state, stop = await _state(ctx)
    return form, state, stop


def _row(state: dict, key: str) -> dict | None:
    return next((r for r in state["rows"] if r["key"] == key), None)


def _entries(form: dict, *names: str) -> dict:
    return {n: str(form.get(n, "")).strip() for n in names}


@router.post("/operator/payments/limit")
async def change_limit(ctx: Ctx = Depends(context)) -> Response:
    """``PUT /participants/{name}/limits``: a new net debit cap."""
    form, state, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "limit_account", "limit_value")
    errors: dict[str, str] = {}
    row = _row(state, entered["limit_account"])
    if row is None:
        errors["limit-account"] = _("Choose the participant and currency whose net debit cap changes.")
    value, why = canonical_amount(entered["limit_value"], row["currency"] if row else "USD")
    if why:
        errors["limit-value"] = why
    if not errors:
        r = await ctx.api("PUT", f"{ADMIN}/participants/{row['name']}/limits", token=ctx.session.token, json={
            "currency": row["currency"],
            "limit": {"type": "NET_DEBIT_CAP", "value": value, "alarmPercentage": row["alarm"]}})
        if r.status_code == 200:
            return ctx.redirect("/operator/payments", _("The net debit cap of {name} is now {amount}.").format(
                name=row["name"], amount=format_amount(value, row["currency"])))
        if r.status_code != 400:
            return ctx.api_refused(r, operator=True)
        errors["limit-value"] = _("The payments hub did not accept this: {reason}").format(reason=detail_of(r))
    return await _page(ctx, errors, entered, 422)


@router.post("/operator/payments/funds")
async def move_funds(ctx: Ctx = Depends(context)) -> Response:
    """Funds in (``recordFundsIn``) or out (``recordFundsOutPrepareReserve`` then
    ``recordFundsOutCommit``) of a participant's settlement account; without ``confirm=yes``
    only the confirmation page (the transfer id is chosen there, so that sending the
    confirmation twice moves the money once)."""
    form, state, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "funds_account", "funds_direction", "funds_amount", "funds_reason")
    errors: dict[str, str] = {}
    row = _row(state, entered["funds_account"])
    if row is None or row["settlement_account"] is None:
        errors["funds-account"] = _("Choose the participant and currency whose funds move.")
    if entered["funds_direction"] not in ("in", "out"):
        errors["funds-direction"] = _("Choose whether funds come in or go out.")
    amount, why = canonical_amount(entered["funds_amount"], row["currency"] if row else "USD")
    if why:
        errors["funds-amount"] = why
    if not entered["funds_reason"]:
        errors["funds-reason"] = _("Give the reason, for example the bank transfer's reference.")
    elif len(entered["funds_reason"]) > 400:
        errors["funds-reason"] = _("The reason must be 400 characters or fewer.")
    if errors:
        return await _page(ctx, errors, entered, 422)
    transfer_id = str(form.get("transfer_id", ""))
    if form.get("confirm") != "yes" or not GUID.match(transfer_id):
        return ctx.render("payments_confirm.html", title=_("Check the funds movement"), action="funds", row=row,
                          entered=entered, amount=amount, transfer_id=str(uuid.uuid4()), section="payments")
    base = f"{ADMIN}/participants/{row['name']}/accounts/{row['settlement_account']}"
    body = {"transferId": transfer_id, "externalReference": f"console:{ctx.session.who}",
            "action": "recordFundsIn" if entered["funds_direction"] == "in" else "recordFundsOutPrepareReserve",
            "reason": entered["funds_reason"], "amount": {"amount": amount, "currency": row["currency"]}}
    r = await ctx.api("POST", base, token=ctx.session.token, json=body)
    if r.status_code == 202 and entered["funds_direction"] == "out":
        r = await ctx.api("PUT", f"{base}/transfers/{transfer_id}", token=ctx.session.token,
                          json={"action": "recordFundsOutCommit", "reason": entered["funds_reason"]})
    if r.status_code == 202:
        shown = format_amount(amount, row["currency"])
        message = (_("{amount} recorded as funds in for {name}.") if entered["funds_direction"] == "in"
                   else _("{amount} paid out of the funds of {name}.")).format(amount=shown, name=row["name"])
        return ctx.redirect("/operator/payments", message)
    if r.status_code != 400:
        return ctx.api_refused(r, operator=True)
    errors["funds-amount"] = _("The payments hub did not accept this: {reason}").format(reason=detail_of(r))
    return await _page(ctx, errors, entered, 422)


@router.post("/operator/payments/windows/close")
async def close_window(ctx: Ctx = Depends(context)) -> Response:
    """``POST /settlementWindows/{id}`` with state CLOSED: the open window closes, the next opens."""
    form, state, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "close_reason")
    errors: dict[str, str] = {}
    if not entered["close_reason"]:
        errors["close-reason"] = _("Give the reason for closing the window, for example end of day.")
    elif len(entered["close_reason"]) > 400:
        errors["close-reason"] = _("The reason must be 400 characters or fewer.")
    window = state["open"]
    if window is None:
        errors["close-reason"] = _("There is no open settlement window.")
    if not errors:
        r = await ctx.api("POST", f"{ADMIN}/settlementWindows/{window['id']}", token=ctx.session.token,
                          json={"state": "CLOSED", "reason": entered["close_reason"]})
        if r.status_code == 200:
            return ctx.redirect("/operator/payments", _("Window {id} is closed; window {next} is open.").format(
                id=window["id"], next=r.json()["id"]))
        if r.status_code != 400:
            return ctx.api_refused(r, operator=True)
        errors["close-reason"] = _("The payments hub did not accept this: {reason}").format(reason=detail_of(r))
    return await _page(ctx, errors, entered, 422)


@router.post("/operator/payments/settle")
async def settle(ctx: Ctx = Depends(context)) -> Response:
    """``POST /settlements`` over one closed window, then ``PUT /settlements/{id}`` moving every
    account one step at a time to SETTLED (what central-settlement's operators do in turn);
    without ``confirm=yes`` only the confirmation page."""
    form, state, stop = await _posted(ctx)
    if stop is not None:
        return stop
    entered = _entries(form, "settle_window", "settle_model", "settle_reason")
    errors: dict[str, str] = {}
    window = next((w for w in state["closed"] if str(w["id"]) == entered["settle_window"]), None)
    if window is None:
        errors["settle-window"] = _("Choose a closed settlement window.")
    if entered["settle_model"] not in state["models"]:
        errors["settle-model"] = _("Choose the settlement model.")
    if not entered["settle_reason"]:
        errors["settle-reason"] = _("Give the reason for the settlement, for example end of day.")
    elif len(entered["settle_reason"]) > 400:
        errors["settle-reason"] = _("The reason must be 400 characters or fewer.")
    if errors:
        return await _page(ctx, errors, entered, 422)
    if form.get("confirm") != "yes":
        return ctx.render("payments_confirm.html", title=_("Check the settlement"), action="settle", window=window,
                          entered=entered, section="payments")
    token = ctx.session.token
    r = await ctx.api("POST", f"{ADMIN}/settlements", token=token, json={
        "settlementModel": entered["settle_model"], "reason": entered["settle_reason"],
        "settlementWindows": [{"id": window["id"]}]})
    if r.status_code == 200:
        settlement = r.json()
        for step in STEPS:
            r = await ctx.api("PUT", f"{ADMIN}/settlements/{settlement['id']}", token=token, json={"participants": [
                {"id": p["id"], "accounts": [{"id": a["id"], "state": step, "reason": entered["settle_reason"]}
                                             for a in p["accounts"]]} for p in settlement["participants"]]})
            if r.status_code != 200 or r.json().get("errors"):
                break
    if r.status_code == 200 and not r.json().get("errors") and r.json()["state"] == "SETTLED":
        return ctx.redirect("/operator/payments", _("Window {id} is settled.").format(id=window["id"]))
    if r.status_code not in (200, 400):
        return ctx.api_refused(r, operator=True)
    reason = detail_of(r) or "; ".join(e["errorInformation"]["errorDescription"] for e in r.json().get("errors", []))
    errors["settle-window"] = _("The payments hub did not accept this: {reason}").format(reason=reason)
    return await _page(ctx, errors, entered, 422)
