"""The ``dpi`` command: set up, serve, demonstrate and benchmark an instance."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

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
    return Settings(data_dir=data_dir) if data_dir else Settings()


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
    """Serve the platform's HTTP APIs (uvicorn)."""
    import os

    import uvicorn

    settings = settings_for(data_dir)
    os.environ["DPI_DATA_DIR"] = str(settings.data_dir)
    open_initialised(data_dir).close()
    console.print(f"Serving {settings.data_dir.resolve()} on http://{host}:{port}")
    uvicorn.run("dpistack.asgi:app", host=host, port=port, workers=workers, log_level="info")


@app.command()
def demo(keep: Optional[Path] = typer.Option(None, "--keep", help="Keep the demo instance in this directory.")) -> None:
    """Build a fresh instance and narrate how the platform works."""
    from dpistack.demo import run_demo

    raise typer.Exit(run_demo(console, keep))


@app.command()
def check(data_dir: Optional[Path] = DataDir) -> None:
    """Run the invariant checks of governance and the transparency log; non-zero exit on any problem."""
    from dpistack.governance import service as governance
    from dpistack.transparency import service as tlog

    platform = open_initialised(data_dir)
    with platform.db.uow() as session:
        problems = governance.check(session)
    problems += tlog.check(platform)
    for problem in problems:
        console.print(f"[bold red]PROBLEM[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]governance and transparency log: all invariants hold[/]")


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
    from dpistack.transparency import cli as transparency_cli

    app.add_typer(transparency_cli.app, name="transparency")
    bench_cli.register(bench_app)


_mount_block_clis()

if __name__ == "__main__":  # pragma: no cover
    app()
