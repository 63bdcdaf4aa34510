"""The payments chapter of `dpi demo`: two providers join the switch, a person pays another by
phone number, the central bank's cap stops a payment too large for its payer, and the day
ends with the settlement window closed and settled.

The two providers are simulated FSPs in their own processes (`dpi payments simulate-fsp`),
talking FSPIOP to the switch over loopback HTTP exactly as a bank's connector would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import httpx
from rich.console import Console
from rich.table import Table

from dpistack.core.server import free_port
from dpistack.governance.client import ParticipantClient
from dpistack.payments import scheme
from dpistack.payments.simulator import endpoints_for, spawn

ADMIN = scheme.ADMIN
CURRENCY = "KES"


def chapter(console: Console, actor: Callable[[str], ParticipantClient], base_url: str, data_dir: Path,
            expect: Callable[[bool, str], None]) -> None:
    agency, regulator = actor("digital-agency"), actor("central-bank")
    banks = {"harbour-bank": ("Harbour Bank", free_port()), "jamii-wallet": ("Jamii Mobile Money", free_port())}
    scheme.open_hub(regulator, CURRENCY)
    for fsp_id, (name, port) in banks.items():
        scheme.onboard_fsp(agency, regulator, data_dir, fsp_id, name, endpoints_for(f"http://127.0.0.1:{port}"),
                           CURRENCY, net_debit_cap="20000", collateral="50000")
    console.print("Harbour Bank and Jamii Mobile Money are onboarded by governance (the central bank approves), "
                  f"then put on the switch: {CURRENCY} 50,000 collateral each, a net debit cap of {CURRENCY} 20,000.")

    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    with spawn("harbour-bank", banks["harbour-bank"][1], base_url, data_dir, log=logs / "harbour-bank.log") as harbour, \
            spawn("jamii-wallet", banks["jamii-wallet"][1], base_url, data_dir, log=logs / "jamii-wallet.log") as jamii, \
            httpx.Client(timeout=90) as sims:
        console.print(f"Each runs its own connector process ({harbour}, {jamii}) speaking FSPIOP v1.1 to the switch.")
        r = sims.post(f"{jamii}/sim/parties", json={"id": "254711000222", "name": "Baraka Otieno", "balance": "0",
                                                    "currency": CURRENCY})
        expect(r.status_code == 201, f"Baraka's number is registered with the switch ({r.text})")
        r = sims.post(f"{harbour}/sim/parties", json={"id": "254700000001", "name": "Amina Hassan",
                                                      "balance": "100000", "currency": CURRENCY, "register": False})
        expect(r.status_code == 201, "Amina has an account at Harbour Bank")
        console.print("Baraka Otieno's wallet at Jamii registers his phone number 254711000222 with the switch's "
                      "account lookup.")

        paid = sims.post(f"{harbour}/sim/send", json={"from": "254700000001", "to": "254711000222",
                                                      "amount": "1250.5", "currency": CURRENCY}).json()
        expect(paid.get("state") == "COMMITTED", f"the payment is committed ({paid})")
        console.print(f"Amina sends {CURRENCY} 1,250.50 to 254711000222: the switch finds the number at "
                      f"[bold]{paid['payee']['partyIdInfo']['fspId']}[/], whose customer is "
                      f"[bold]{paid['payee']['name']}[/]; Jamii quotes it (ILP condition "
                      f"{paid['quote']['condition'][:12]}…), the switch reserves the amount against Harbour's cap, "
                      f"Jamii fulfils, the switch checks SHA-256(fulfilment) = condition and commits: "
                      f"[green]{paid['state']}[/] in {paid['seconds'] * 1000:.0f} ms.")

        refused = sims.post(f"{harbour}/sim/send", json={"from": "254700000001", "to": "254711000222",
                                                         "amount": "25000", "currency": CURRENCY}).json()
        expect(refused.get("state") == "ABORTED" and refused["error"]["errorCode"] == "4200",
               f"a payment past the net debit cap is refused ({refused})")
        console.print(f"Amina then tries {CURRENCY} 25,000: more than Harbour's cap leaves free, so the switch "
                      f"refuses it before any money moves: [red]{refused['error']['errorCode']} "
                      f"{refused['error']['errorDescription']}[/].")
        harbour_books = sims.get(f"{harbour}/sim/state").json()
        jamii_books = sims.get(f"{jamii}/sim/state").json()
        expect(harbour_books["parties"][0]["balance"] == "98749.5" and jamii_books["parties"][0]["balance"] == "1250.5",
               "the banks' own books agree with the switch")

    table = Table("provider", "position", "collateral (settlement account)", title=f"The switch's books ({CURRENCY})")
    for fsp_id in banks:
        position = scheme.account(regulator, fsp_id, "POSITION", CURRENCY)["value"]
        collateral = scheme.account(regulator, fsp_id, "SETTLEMENT", CURRENCY)["value"]
        table.add_row(fsp_id, f"{position:,.2f}", f"{-collateral:,.2f}")
    console.print(table)

    [window] = regulator.get(f"{ADMIN}/settlementWindows", params={"state": "OPEN"}).json()
    r = regulator.post(f"{ADMIN}/settlementWindows/{window['id']}", json={"state": "CLOSED", "reason": "end of day"})
    expect(r.status_code == 200, f"the settlement window closes ({r.text})")
    r = regulator.post(f"{ADMIN}/settlements", json={"settlementModel": "DEFERREDNET", "reason": "end of day",
                                                     "settlementWindows": [{"id": window["id"]}]})
    expect(r.status_code == 200, f"a settlement is made of the closed window ({r.text})")
    settlement = r.json()
    nets = {p["id"]: p["accounts"][0]["netSettlementAmount"]["amount"] for p in settlement["participants"]}
    for state in ("PS_TRANSFERS_RECORDED", "PS_TRANSFERS_RESERVED", "PS_TRANSFERS_COMMITTED", "SETTLED"):
        r = regulator.put(f"{ADMIN}/settlements/{settlement['id']}", json={"participants": [
            {"id": p["id"], "accounts": [{"id": a["id"], "state": state, "reason": "settled at the central bank"}
                                         for a in p["accounts"]]} for p in settlement["participants"]]})
        expect(r.status_code == 200 and "errors" not in r.json(), f"the settlement moves to {state} ({r.text})")
    expect(r.json()["state"] == "SETTLED", "the settlement is SETTLED")
    after = {fsp_id: scheme.account(regulator, fsp_id, "POSITION", CURRENCY)["value"] for fsp_id in banks}
    expect(all(v == 0 for v in after.values()), "positions are reset by the settlement")
    console.print(f"At the end of the day the central bank closes settlement window {window['id']} and settles it "
                  "(deferred multilateral net): "
                  + ", ".join(f"{fsp_id} {'pays' if net > 0 else 'receives'} {abs(net):,.2f}" for fsp_id, net in nets.items())
                  + f"; the positions are back to 0 and the collateral has moved: [green]{r.json()['state']}[/]. "
                  "Each committed transfer is in the transparency log (providers, amount, time; no names).")
