"""The ``dpi`` command: set up, serve, demonstrate and benchmark an instance."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from dpistack.core.config import Settings

app = typer.Typer(help="DPI Stack: digital public infrastructure in one platform.", no_args_is_help=True)
keys_app = typer.Typer(help="Platform signing keys.", no_args_is_help=True)
participants_app = typer.Typer(help="Participants (institutions) of the platform.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; --json prints the figures as one JSON object on the last line.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(participants_app, name="participants")
app.add_typer(bench_app, name="bench")

console = Console()
DataDir = typer.Option(None, "--data-dir", help="Instance directory (default ./var or $DPI_DATA_DIR).")


def settings_for(data_dir: Optional[Path]) -> Settings:
    """The instance's settings; a bad DPI_* value ends the command with one line saying why."""
    try:
        return Settings(data_dir=data_dir) if data_dir else Settings()
    except ValidationError as exc:
        typer.echo(f"dpi: {settings_problems(exc)}", err=True)
        raise typer.Exit(2)


def settings_problems(exc: ValidationError) -> str:
    """Each refused setting by its variable, with the reason: ``DPI_PUBLIC_URL must be …``."""
    problems = []
    for error in exc.errors():
        variable = "DPI_" + "_".join(str(part) for part in error["loc"]).upper()
        own_words = error.get("ctx", {}).get("error")  # a validator of Settings, written to follow the name
        problems.append(f"{variable} {own_words}" if own_words else f"{variable}: {error['msg']}")
    return "; ".join(problems)


def open_initialised(data_dir: Optional[Path]):
    """Open the instance, running ``init`` first if it was never initialised."""
    from dpistack.core.platform import Platform
    from dpistack.governance import setup

    platform = Platform.open(settings_for(data_dir))
    setup.init_instance(platform)
    return platform


@app.command()
def init(data_dir: Optional[Path] = DataDir) -> None:
    """Create keys, the schema, the governing authorities, the first rules and policies."""
    from dpistack.core.platform import Platform
    from dpistack.governance import setup

    platform = Platform.open(settings_for(data_dir))
    created = setup.init_instance(platform)
    where = platform.settings.data_dir.resolve()
    if created:
        console.print(f"[green]Initialised[/] a new instance in {where}")
        for authority in created:
            console.print(f"  authority [bold]{authority}[/] (development key in {where}/credentials/{authority}.jwk)")
    else:
        console.print(f"Instance in {where} was already initialised; nothing changed.")
    platform.close()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    data_dir: Optional[Path] = DataDir,
    workers: int = typer.Option(1, help="Worker processes (one per core; SQLite or PostgreSQL)."),
) -> None:
    """Serve the platform's HTTP APIs (uvicorn).

    The public URL (issuer, token endpoint, OpenID discovery) is DPI_PUBLIC_URL if set, else
    where this server listens.
    """
    import os

    import uvicorn

    from dpistack.core.server import http_url, listens_on_every_interface, reachable_url

    settings = settings_for(data_dir)
    public_url_given = "public_url" in settings.model_fields_set  # DPI_PUBLIC_URL, as the workers read it
    if not public_url_given:
        # Without it, participants' assertions aimed at this port would be refused (issue 13). The
        # workers uvicorn starts read their settings from the environment, as with the data directory.
        os.environ["DPI_PUBLIC_URL"] = reachable_url(host, port)
    os.environ["DPI_DATA_DIR"] = str(settings.data_dir)
    platform = open_initialised(data_dir)
    public_url = platform.settings.public_url
    from dpistack.web import setup as web_setup

    portal_ready = web_setup.is_set_up(platform)  # serving changes nothing in governance: `dpi portal setup` does
    platform.close()

    def say(line: str) -> None:
        console.print(line, soft_wrap=True, highlight=False)  # a URL whole on its line, never wrapped

    every_interface = listens_on_every_interface(host)
    say(f"Serving {escape(str(settings.data_dir.resolve()))}")
    say(f"  listening on  {escape(http_url(host, port))}" + (" (every interface)" if every_interface else ""))
    origin = "set by DPI_PUBLIC_URL" if public_url_given else "from --host and --port"
    say(f"  public URL    {escape(public_url)}  (issuer, token endpoint, OpenID discovery; {origin})")
    say(f"  portal        {escape(public_url)}/  (citizen portal, operator console, transparency log)")
    if not portal_ready:
        say("[yellow]  The portal's login is off until the portal is registered: dpi portal setup --data-dir DIR[/]")
    if every_interface and not public_url_given:
        say("[yellow]Listening on every interface: the public URL is this machine's loopback, which other machines "
            "cannot reach. Set DPI_PUBLIC_URL to the URL participants use (e.g. https://dpi.example.org).[/]")
    uvicorn.run("dpistack.asgi:app", host=host, port=port, workers=workers, log_level="info")


@app.command()
def demo(keep: Optional[Path] = typer.Option(None, "--keep", help="Keep the demo instance in this directory.")) -> None:
    """Build a fresh instance and narrate how the platform works."""
    from dpistack.demo import run_demo

    raise typer.Exit(run_demo(console, keep))


@app.command()
def check(data_dir: Optional[Path] = DataDir) -> None:
    """Run the invariant checks of governance, the transparency log, the payments ledger, the
    exchange's message log and the consents; non-zero exit on any problem."""
    from dpistack.consent import service as consent
    from dpistack.exchange import messagelog
    from dpistack.governance import service as governance
    from dpistack.payments.check import check as payments_check
    from dpistack.transparency import service as tlog

    platform = open_initialised(data_dir)
    with platform.db.uow() as session:
        problems = governance.check(session)
    problems += tlog.check(platform)
    problems += payments_check(platform) + messagelog.check(platform) + consent.check(platform)
    for problem in problems:
        console.print(f"[bold red]PROBLEM[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]governance, transparency log, payments ledger, message log and consents: all invariants hold[/]")


@keys_app.command("list")
def keys_list(data_dir: Optional[Path] = DataDir) -> None:
    """List the platform's keys."""
    platform = open_initialised(data_dir)
    for k in platform.keys.keys():
        console.print(f"{k.kid}  {k.alg:6} {k.purpose:4} {k.status:8} {k.created}")


@keys_app.command("rotate")
def keys_rotate(data_dir: Optional[Path] = DataDir) -> None:
    """Make new signing keys active; retired public keys stay published for verification."""
    platform = open_initialised(data_dir)
    for k in platform.keys.rotate():
        console.print(f"new active key {k.kid} ({k.alg})")


@participants_app.command("list")
def participants_list(data_dir: Optional[Path] = DataDir) -> None:
    """List participants with their roles and status."""
    from dpistack.governance import service

    platform = open_initialised(data_dir)
    with platform.db.uow() as session:
        for p in service.list_participants(session):
            console.print(f"{p.id:28} {p.kind:14} {p.status:10} {', '.join(p.roles)}")


@participants_app.command("token")
def participants_token(
    participant_id: str = typer.Argument(..., help="Participant id."),
    scope: str = typer.Option("", help="Space-separated scopes (default: all the participant may have)."),
    data_dir: Optional[Path] = DataDir,
) -> None:
    """Print an access token for PARTICIPANT_ID, for use with curl in development.

    Uses the participant's development key in <data-dir>/credentials, exactly as the
    participant would: a private_key_jwt assertion exchanged at the token endpoint.
    """
    from dpistack.governance import credentials, oauth

    platform = open_initialised(data_dir)
    key = credentials.load_private_jwk(platform.settings.data_dir, participant_id)
    if key is None:
        console.print(f"[red]No development credential for {participant_id!r} in this instance.[/]")
        raise typer.Exit(2)
    assertion = credentials.client_assertion(participant_id, key, oauth.token_endpoint(platform.settings))
    try:
        token = oauth.issue_client_credentials_token(platform, assertion, scope.split() or None)
    except oauth.OAuthError as exc:
        console.print(f"[red]{exc.error}[/]: {exc.description}")
        raise typer.Exit(1)
    typer.echo(token["access_token"])


def _mount_block_clis() -> None:
    from dpistack.bench import cli as bench_cli
    from dpistack.consent import cli as consent_cli
    from dpistack.credentials import cli as credentials_cli
    from dpistack.credentials import wallet_cli
    from dpistack.exchange import cli as exchange_cli
    from dpistack.payments import cli as payments_cli
    from dpistack.services import cli as services_cli
    from dpistack.transparency import cli as transparency_cli
    from dpistack.web import cli as web_cli

    app.add_typer(transparency_cli.app, name="transparency")
    app.add_typer(web_cli.app, name="portal")
    app.add_typer(payments_cli.app, name="payments")
    app.add_typer(exchange_cli.app, name="exchange")
    app.add_typer(consent_cli.app, name="consent")
    app.add_typer(credentials_cli.app, name="credentials")
    app.command("verify")(credentials_cli.verify)
    app.add_typer(wallet_cli.app, name="wallet")
    app.add_typer(services_cli.app, name="services")
    bench_cli.register(bench_app)


_mount_block_clis()

if __name__ == "__main__":  # pragma: no cover
    app()
