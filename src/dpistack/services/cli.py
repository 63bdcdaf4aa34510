"""`dpi services …`: the catalogue of public services."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="Public services: the catalogue the service finder searches.", no_args_is_help=True)
console = Console()


@app.command("load-demo")
def load_demo(data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory (default ./var).")) -> None:
    """Publish the demo catalogue (real-world services in five languages) in this instance."""
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.services import service

    platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        count = service.load_demo(platform)
    finally:
        platform.close()
    console.print(f"[green]{count} public services in the catalogue[/]")
