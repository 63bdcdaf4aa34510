"""`dpi credentials …` and `dpi verify`: a cached trust list, printable QR codes, offline checks.

* ``dpi credentials trust-list --save FILE`` keeps the signed trust list and the platform's
  JWKS it is checked with, from a running platform (``--url``) or this instance's data
  directory; ``--jwks`` pins a platform JWKS obtained out of band instead of fetching it.
* ``dpi credentials qr CREDENTIAL --disclose CLAIM … --out card.svg`` prints a card's QR code.
* ``dpi credentials revoke|suspend|unsuspend ID --issuer P`` changes a W3C credential's status
  (``status_cli``).
* ``dpi verify QRTEXT | --file F [--trust-list FILE]`` checks a presentation with no network:
  the list's signature with the cached platform key, then the credential against the list.
  Exit code 0 verified, 1 not (with the specific reason), 2 bad usage.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from dpistack.credentials import status_cli

app = typer.Typer(help="Credentials: the cached trust list, printable QR codes, the status of issued credentials.",
                  no_args_is_help=True)
console = Console()
for _command in (status_cli.revoke, status_cli.suspend, status_cli.unsuspend):  # revoke|suspend|unsuspend
    app.command()(_command)
CACHE_FORMAT = "dpi-trust-list-cache/1"
DEFAULT_CACHE = Path("trust-list.json")


def _fail(code: str, detail: str, exit_code: int = 1) -> None:
    console.print(f"[bold red]NOT VERIFIED[/] {code}: {escape(detail)}")
    raise typer.Exit(exit_code)


def _read_text(source: str) -> str:
    return sys.stdin.read() if source == "-" else Path(source).read_text()


@app.command("trust-list")
def trust_list(
    save: Path = typer.Option(DEFAULT_CACHE, "--save", help="Where to keep the list (JSON)."),
    url: Optional[str] = typer.Option(None, "--url", help="A running platform's base URL (else this instance)."),
    jwks: Optional[Path] = typer.Option(None, "--jwks", help="The platform's JWKS, obtained out of band (pinned)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory (default ./var)."),
    extra_lists: list[str] = typer.Option([], "--status-list", help="Also keep this (foreign) Token Status List URI."),
) -> None:
    """Save this country's signed trust list and its issuers' status lists for offline verification."""
    from dpistack.credentials import errors as E
    from dpistack.credentials import trust

    pinned = json.loads(jwks.read_text()) if jwks else None
    if url:
        import httpx

        base = url.rstrip("/")
        try:
            token = httpx.get(base + "/governance/v1/trusted-issuers", timeout=30).raise_for_status().text
            platform_jwks = pinned or httpx.get(base + "/.well-known/jwks.json", timeout=30).raise_for_status().json()
            uris = httpx.get(base + "/credentials/v1/status-lists", timeout=30).raise_for_status().json()["status_lists"]
            status_lists = {u: httpx.get(u, timeout=30).raise_for_status().text for u in [*uris, *extra_lists]}
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            console.print(f"[red]Could not fetch the trust list from {escape(base)}: {escape(str(exc))}[/]")
            raise typer.Exit(1)
    else:
        from dpistack.core.config import Settings
        from dpistack.core.platform import Platform
        from dpistack.credentials import service, statuslist
        from dpistack.governance import trust as registry

        platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
        try:
            token, platform_jwks = registry.signed_list(platform), pinned or platform.keys.jwks()
            base = platform.settings.public_url.rstrip("/")
            key, own = service.signing_key(platform), statuslist.token_list_url(platform, "")
            status_lists = {u: statuslist.signed_token_list(platform, u[len(own):], service.issuer_id(platform), key)
                            for u in statuslist.token_list_urls(platform)}
        finally:
            platform.close()
        if extra_lists:
            import httpx

            try:
                status_lists.update({u: httpx.get(u, timeout=30).raise_for_status().text for u in extra_lists})
            except httpx.HTTPError as exc:
                console.print(f"[red]Could not fetch a status list: {escape(str(exc))}[/]")
                raise typer.Exit(1)
    try:
        payload = trust.verify_signed_list(token, platform_jwks)
    except E.BadTrustList as exc:
        console.print(f"[red]bad_trust_list: {escape(exc.detail)}[/]")
        raise typer.Exit(1)
    if str(payload.get("iss", "")).rstrip("/") != base:
        console.print(f"[red]The list is signed by {escape(str(payload.get('iss')))}, not {escape(base)}.[/]")
        raise typer.Exit(1)
    save.write_text(json.dumps({"format": CACHE_FORMAT, "platform": payload["iss"], "trust_list": token,
                                "platform_jwks": platform_jwks, "status_lists": status_lists}, indent=1))
    issuers = ", ".join(i["iss"] for i in payload["issuers"])
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(payload["exp"]))
    console.print(f"saved trust list seq {payload['seq']} of {escape(payload['iss'])} to {escape(str(save))}: "
                  f"{len(payload['issuers'])} trusted ({escape(issuers)}), {len(payload['distrusted'])} distrusted; "
                  f"good until {until}; {len(status_lists)} status list(s)")


@app.command("qr")
def qr_card(
    credential: str = typer.Argument(..., help="File holding the issued SD-JWT VC ('-': standard input)."),
    disclose: list[str] = typer.Option(..., "--disclose", help="A claim the card shows (repeat)."),
    out: Path = typer.Option(..., "--out", help="The image: .svg (in mm, for print) or .png (300 dpi)."),
    side_mm: float = typer.Option(40.0, "--side-mm", min=10, max=200, help="Printed width of the code."),
) -> None:
    """Print a card's QR code: the credential with only the chosen claims, no key binding."""
    from dpistack.credentials import errors as E
    from dpistack.credentials import qr

    kind = out.suffix.lower().lstrip(".")
    if kind not in ("svg", "png"):
        console.print("[red]--out must end in .svg or .png[/]")
        raise typer.Exit(2)
    try:
        text = qr.encode(qr.card_presentation(_read_text(credential).strip(), disclose))
    except E.SdJwtError as exc:
        console.print(f"[red]{exc.code}: {escape(exc.detail)}[/]")
        raise typer.Exit(1)
    image, facts = qr.render(text, kind, side_mm)
    out.write_bytes(image)
    console.print(f"{escape(str(out))}: {len(text)} characters, QR version {facts['version']}-{facts['error']}, "
                  f"{facts['modules']} modules of {facts['module_mm']} mm")


def verify(
    text: Optional[str] = typer.Argument(None, help="The QR text (DPI1:…) or an SD-JWT presentation."),
    file: Optional[Path] = typer.Option(None, "--file", help="A file holding the scanned QR text or presentation."),
    trust_list: Path = typer.Option(DEFAULT_CACHE, "--trust-list", help="The cached list from `dpi credentials trust-list`."),
    nonce: Optional[str] = typer.Option(None, "--nonce", help="The nonce you gave the holder (bound presentations)."),
    audience: Optional[str] = typer.Option(None, "--audience", help="Your verifier id (bound presentations)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Verify a credential offline with a cached trust list; exit 1 with the reason if it fails."""
    from dpistack.credentials import errors as E
    from dpistack.credentials import qr, trust

    if (text is None) == (file is None):
        console.print("[red]Give the QR text or --file, one of them.[/]")
        raise typer.Exit(2)
    if (nonce is None) != (audience is None):
        console.print("[red]--nonce and --audience go together.[/]")
        raise typer.Exit(2)
    try:
        cache = json.loads(trust_list.read_text())
        token, platform_jwks = cache["trust_list"], cache["platform_jwks"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]No usable trust list at {escape(str(trust_list))} ({escape(str(exc))}): save one with "
                      "`dpi credentials trust-list --save FILE`.[/]")
        raise typer.Exit(2)

    def report(result: dict, code: int) -> None:
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
            raise typer.Exit(code)
        if not result["verified"]:
            _fail(result["error"], result["error_description"])

    try:
        raw = (file.read_text() if file else text).strip()
        # A compact JWS starts with the base64url of '{"'; anything else is read as QR text.
        presentation = raw if raw.startswith("eyJ") else qr.decode(raw)
        listed = trust.TrustList.from_payload(trust.verify_signed_list(token, platform_jwks))
        bound = nonce is not None
        if not bound and not presentation.endswith("~"):
            raise E.MissingKeyBinding("This presentation is bound to its holder (it ends in a KB-JWT): give the "
                                      "--nonce and --audience you asked for.")
        kept = cache.get("status_lists") or {}
        unchecked: list[str] = []

        def cached_status(uri: str, idx: int, entry, keys) -> int:
            # Offline: the status is checked when the list was saved with the trust list.
            if uri not in kept:
                unchecked.append(uri)
                return 0
            return trust.value_in(trust.status_from_token(kept[uri], uri, entry, keys), idx)

        verified, entry = trust.verify(presentation, listed, audience=audience, nonce=nonce,
                                       require_key_binding=bound, status=cached_status)
    except (E.SdJwtError, E.BadTrustList) as exc:
        report({"verified": False, "error": exc.code, "error_description": exc.detail}, 1)
        return
    except OSError as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2)
    claims = {k: v for k, v in verified.claims.items() if k not in ("cnf",)}
    result = {"verified": True, "claims": claims, "holder_bound": bound, "trust_list_seq": listed.seq,
              "status_checked": trust.status_reference(verified.claims) is not None and not unchecked,
              "issuer": {"iss": entry.iss, "name": entry.name, "country": entry.country, "self": entry.own}}
    report(result, 0)
    console.print(f"[bold green]VERIFIED[/] issued by {escape(entry.name)} ({escape(entry.country)}, "
                  f"{escape(entry.iss)}); trust list seq {listed.seq}")
    for name in sorted(claims):
        if name not in ("iss", "iat", "exp", "vct", "nbf", "status"):
            console.print(f"  {escape(name)}: {escape(json.dumps(claims[name], ensure_ascii=False))}")
    console.print(f"  type {escape(str(claims.get('vct')))}, expires "
                  f"{time.strftime('%Y-%m-%d', time.gmtime(claims['exp'])) if 'exp' in claims else 'never'}")
    if unchecked:
        console.print(f"  [yellow]status not checked: no saved status list {escape(unchecked[0])} (save it with "
                      "`dpi credentials trust-list --status-list URI`)[/]")
    if not bound:
        console.print("  [yellow]holder not checked: a card carries no key binding; compare the holder with the card[/]")
