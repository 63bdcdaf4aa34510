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
    from dpistack.core.invariants import run_check
    from dpistack.exchange import messagelog

    run_check(console, data_dir, messagelog.check, "exchange: every message-log record and batch signature verifies")
