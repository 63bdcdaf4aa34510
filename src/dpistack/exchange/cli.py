"""`dpi exchange …`: the message log's invariant check (consents have `dpi consent check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="Data exchange: the message-log check.", no_args_is_help=True)
console = Console()


@app.command()
def check(data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory (default ./var).")) -> None:
    """Verify the message log (record digests, batch signatures)."""
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.exchange import messagelog

    platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        problems = messagelog.check(platform)
    finally:
        platform.close()
    for problem in problems:
        console.print(f"[bold red]BREACH[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]exchange: every message-log record and batch signature verifies[/]")
