"""`dpi wallet …`: a minimal holder wallet on the command line (see :mod:`.wallet`).

* ``dpi wallet init`` — a new wallet, encrypted under a passphrase (``DPI_WALLET_PASSPHRASE``
  or asked for);
* ``dpi wallet receive OFFER_URI [--tx-code CODE]`` — OpenID4VCI, pre-authorized code flow;
* ``dpi wallet list`` / ``dpi wallet show ID`` — what it holds and what each can disclose;
* ``dpi wallet present REQUEST_URI [--yes] [--claims C,…]`` — OpenID4VP: shows who asks for
  what, discloses only that, and prints the verifier's answer;
* ``dpi wallet card ID --claims C [--svg F | --png F]`` — a printable card's QR code.

The wallet is ``--wallet DIR`` (or ``DPI_WALLET_DIR``; default ``~/.dpi/wallet``). Exit code 0
on success, 1 with the reason when something is refused or goes wrong, 2 for bad usage.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="A holder wallet: receive credentials (OpenID4VCI) and present them (OpenID4VP).",
                  no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
PASSPHRASE_ENV = "DPI_WALLET_PASSPHRASE"
WalletDir = typer.Option(Path.home() / ".dpi" / "wallet", "--wallet", envvar="DPI_WALLET_DIR",
                         help="The wallet's directory (DPI_WALLET_DIR).", show_default=False)
AllowHttp = typer.Option(False, "--allow-http", help="Also talk plain HTTP to hosts that are not loopback "
                                                     "(testing only; https is always accepted).")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error[/] {escape(message)}")
    raise typer.Exit(code)


def _passphrase(confirm: bool = False) -> str:
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    try:
        return typer.prompt("Wallet passphrase", hide_input=True, confirmation_prompt=confirm)
    except typer.Abort:
        _fail(f"The wallet is encrypted: give its passphrase (or set {PASSPHRASE_ENV}).", 2)
        raise


def _open(directory: Path):
    from dpistack.credentials.wallet_store import WalletFile, WalletStoreError

    try:
        return WalletFile.open(directory, _passphrase())
    except WalletStoreError as exc:
        _fail(str(exc))


def _claims_option(values: list[str] | None) -> list[str]:
    return [c.strip() for v in values or [] for c in v.split(",") if c.strip()]


@app.command()
def init(wallet: Path = WalletDir) -> None:
    """Make a new, empty wallet encrypted under a passphrase (AES-256-GCM, scrypt)."""
    from dpistack.credentials.wallet_store import WalletFile, WalletStoreError

    try:
        made = WalletFile.create(wallet, _passphrase(confirm=True))
    except WalletStoreError as exc:
        _fail(str(exc))
    console.print(f"[green]New wallet[/] at {escape(str(made.path))} (encrypted; keep the passphrase: "
                  "without it the credentials cannot be read)")


@app.command()
def receive(
    offer_uri: str = typer.Argument(..., help="The openid-credential-offer:// link (from the issuer's QR code)."),
    tx_code: Optional[str] = typer.Option(None, "--tx-code", help="The transaction code the issuer sent you "
                                                                  "separately, if the offer asks for one."),
    wallet: Path = WalletDir,
    allow_http: bool = AllowHttp,
) -> None:
    """Receive the credentials of a credential offer (OpenID4VCI, pre-authorized code)."""
    import httpx

    from dpistack.credentials.wallet import Holder, WalletError, credential_claims

    store = _open(wallet)
    with httpx.Client(timeout=30) as http:
        holder = Holder(store.data, http, allow_http=allow_http)
        try:
            offer = holder.parse_offer(offer_uri)
            if offer.tx_code is not None and not tx_code and sys.stdin.isatty():
                console.print(escape(str(offer.tx_code.get("description") or "The issuer sent you a transaction code.")))
                tx_code = typer.prompt(f"Transaction code for {offer.credential_issuer}", hide_input=True)
            received = holder.receive(offer, tx_code)
        except WalletError as exc:
            _fail(exc.message)
    store.save()
    for entry in received:
        disclosable, _ = credential_claims(entry)
        console.print(f"[green]Received[/] {escape(entry['id'])}: {escape(entry['name'])} from "
                      f"{escape(entry['issuer_name'])} ({escape(entry['issuer'])})")
        console.print(f"  claims you can disclose: {escape(', '.join(sorted(disclosable)))}")


@app.command("list")
def list_(wallet: Path = WalletDir) -> None:
    """The credentials this wallet holds."""
    from dpistack.credentials.wallet import credential_claims

    store = _open(wallet)
    entries = store.data.get("credentials", [])
    if not entries:
        console.print("This wallet holds no credentials yet: `dpi wallet receive OFFER_URI`.")
    for entry in entries:
        disclosable, _ = credential_claims(entry)
        console.print(f"{escape(entry['id'])}  {escape(entry['name'])}  from {escape(entry['issuer'])}  "
                      f"received {escape(entry['received_at'][:10])}  {len(disclosable)} claims")


@app.command()
def show(credential_id: str = typer.Argument(..., help="The credential's id (see `dpi wallet list`)."),
         wallet: Path = WalletDir) -> None:
    """A credential: who issued it, and each claim it can disclose."""
    from dpistack.credentials import sdjwt
    from dpistack.credentials.wallet import Holder, WalletError, credential_claims

    store = _open(wallet)
    try:
        entry = Holder(store.data, None).get(credential_id)  # type: ignore[arg-type]
    except WalletError as exc:
        _fail(exc.message)
    disclosable, always = credential_claims(entry)
    console.print(f"[bold]{escape(entry['name'])}[/] ({escape(entry['vct'])})")
    console.print(f"  issued by {escape(entry['issuer_name'])} ({escape(entry['issuer'])}), received "
                  f"{escape(entry['received_at'])}, expires "
                  f"{time.strftime('%Y-%m-%d', time.gmtime(always['exp'])) if 'exp' in always else 'never'}")
    console.print(f"  bound to this wallet's key {escape(sdjwt.jwk_thumbprint(entry['key']))}")
    console.print("  claims you can disclose (each only when you choose):")
    for name in sorted(disclosable):
        console.print(f"    {escape(name)}: {escape(json.dumps(disclosable[name], ensure_ascii=False))}")
    console.print(f"  always shown with it: {escape(', '.join(k for k in always if k != 'cnf'))}")


@app.command()
def present(
    request_uri: str = typer.Argument(..., help="The verifier's openid4vp:// link (from its QR code)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Share without asking (after printing what is shared)."),
    claims: Optional[list[str]] = typer.Option(None, "--claims", help="The claims you agree to share "
                                                                      "(comma-separated or repeated); the "
                                                                      "request is declined if it asks for more."),
    wallet: Path = WalletDir,
    allow_http: bool = AllowHttp,
) -> None:
    """Answer a verifier's presentation request (OpenID4VP), disclosing only what it asks for."""
    import httpx

    from dpistack.credentials.wallet import Holder, WalletError

    store = _open(wallet)
    allowed = set(_claims_option(claims)) if claims else None
    with httpx.Client(timeout=30) as http:
        holder = Holder(store.data, http, allow_http=allow_http)
        try:
            request = holder.parse_request(request_uri)
            matches = holder.match(request)
        except WalletError as exc:
            _fail(exc.message)
        console.print(f"[bold]{escape(request.client_id)}[/] asks (unsigned request: the answer goes to "
                      f"{escape(request.verifier_host)}):")
        for m in matches:
            what = ", ".join(m.disclose) if m.disclose else "no claim (only that you hold it)"
            console.print(f"  from {escape(m.entry['name'])} ({escape(m.entry['id'])}, issued by "
                          f"{escape(m.entry['issuer'])}): {escape(what)}")
        shared = {c for m in matches for c in m.disclose}
        if allowed is not None and shared - allowed:
            refused = ", ".join(sorted(shared - allowed))
            holder.decline(request, "the holder declined")
            _fail(f"Declined: the verifier asks for {refused}, which you did not agree to share (--claims).")
        if not yes:
            try:
                agreed = typer.confirm("Share these claims, and nothing else?", default=False)
            except typer.Abort:
                agreed = False
            if not agreed:
                holder.decline(request, "the holder declined")
                _fail("Declined: nothing was shared.")
        try:
            answer = holder.present(request, matches)
        except WalletError as exc:
            _fail(exc.message)
    console.print(f"[green]Shared[/] {escape(', '.join(sorted(shared)) or 'nothing but the credential')} with "
                  f"{escape(request.verifier_host)}; the verifier answered "
                  f"{escape(json.dumps(answer)) if answer else 'that it received them'}.")


@app.command()
def card(
    credential_id: str = typer.Argument(..., help="The credential's id."),
    claims: list[str] = typer.Option(..., "--claims", help="The claims the card shows (comma-separated or repeated)."),
    svg: Optional[Path] = typer.Option(None, "--svg", help="Write the QR code as SVG (in mm, for print)."),
    png: Optional[Path] = typer.Option(None, "--png", help="Write the QR code as PNG (300 dpi)."),
    side_mm: float = typer.Option(40.0, "--side-mm", min=10, max=200, help="Printed width of the code."),
    wallet: Path = WalletDir,
) -> None:
    """A printable card: the credential's QR code showing only the chosen claims (no key binding)."""
    from dpistack.credentials import qr
    from dpistack.credentials.wallet import Holder, WalletError

    if svg and png:
        _fail("Give --svg or --png, not both.", 2)
    store = _open(wallet)
    try:
        text = Holder(store.data, None).card(credential_id, _claims_option(claims))  # type: ignore[arg-type]
    except WalletError as exc:
        _fail(exc.message)
    out = svg or png
    if out is None:
        typer.echo(text)
        return
    image, facts = qr.render(text, "svg" if svg else "png", side_mm)
    out.write_bytes(image)
    console.print(f"{escape(str(out))}: {len(text)} characters, QR version {facts['version']}-{facts['error']}, "
                  f"{facts['modules']} modules of {facts['module_mm']} mm")
