"""`dpi consent …`: the consents' invariant check."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="Consent: the artefacts' revision check.", no_args_is_help=True)
console = Console()


@app.command()
def check(data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory (default ./var).")) -> None:
    """Verify every consent's revisions (signatures, hashes, the chain, the current state)."""
    from dpistack.consent import service as consent
    from dpistack.core.invariants import run_check

    run_check(console, data_dir, consent.check, "consent: every revision verifies and chains")
