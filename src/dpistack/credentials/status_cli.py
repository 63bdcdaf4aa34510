"""`dpi credentials revoke|suspend|unsuspend`: change a W3C credential's status from the
instance's own machine (an operator tool, like ``dpi keys rotate``; issuers use
``POST /credentials/status``). The credential must have been issued by ``--issuer``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="Credentials: the status (revocation, suspension) of issued W3C credentials.",
                  no_args_is_help=True)
console = Console()
DataDir = typer.Option(None, "--data-dir", help="Instance directory (default ./var).")
Issuer = typer.Option(..., "--issuer", help="The participant (credential issuer) that issued it.")


def _change(credential_id: str, issuer: str, purpose: str, value: bool, data_dir: Path | None, done: str) -> None:
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.credentials import statuslist
    from dpistack.credentials.vcerrors import MalformedStatus

    platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        found = statuslist.set_status(platform, credential_id, issuer, purpose, value)
    except MalformedStatus as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    finally:
        platform.close()
    if not found:
        console.print(f"[red]{issuer} issued no credential {credential_id!r}.[/]")
        raise typer.Exit(1)
    console.print(f"[green]{credential_id} {done}[/]")


@app.command()
def revoke(credential_id: str = typer.Argument(..., help="The credential's id (urn:uuid:…)."),
           issuer: str = Issuer, data_dir: Optional[Path] = DataDir) -> None:
    """Revoke a credential for good (its bit in the revocation status list)."""
    _change(credential_id, issuer, "revocation", True, data_dir, "revoked")


@app.command()
def suspend(credential_id: str = typer.Argument(...), issuer: str = Issuer,
            data_dir: Optional[Path] = DataDir) -> None:
    """Suspend a credential (verification fails with "suspended" until it is unsuspended)."""
    _change(credential_id, issuer, "suspension", True, data_dir, "suspended")


@app.command()
def unsuspend(credential_id: str = typer.Argument(...), issuer: str = Issuer,
              data_dir: Optional[Path] = DataDir) -> None:
    """Lift a credential's suspension."""
    _change(credential_id, issuer, "suspension", False, data_dir, "unsuspended")
