"""`dpi payments …`: the ledger's invariant check, and a simulated FSP."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="The payments switch: ledger checks and simulated FSPs.", no_args_is_help=True)
console = Console()


@app.command()
def check(data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory (default ./var).")) -> None:
    """Verify the ledger: accounts balance, every transfer in one state, positions equal their
    transfers, settlements net to zero, every committed transfer in the transparency log."""
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.payments.check import check as run_check

    platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        problems = run_check(platform)
    finally:
        platform.close()
    for problem in problems:
        console.print(f"[bold red]BREACH[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]payments ledger: all invariants hold[/]")
