"""``dpi portal …``: set the portal up on an instance."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="The citizen portal and operator console.", no_args_is_help=True)
console = Console()


def set_up(platform) -> str | None:
    """Onboard the portal and register its OIDC client through the platform's own APIs, in
    process; None when done, else why not."""
    from fastapi.testclient import TestClient  # an in-process HTTP client of the app (httpx)

    from dpistack.app import create_app
    from dpistack.web.setup import SetupFailed, setup_portal

    try:
        with TestClient(create_app(platform), base_url=platform.settings.public_url) as http:
            setup_portal(platform, http)
    except SetupFailed as exc:
        return str(exc)
    return None


@app.command("setup")
def setup(data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory.")) -> None:
    """Onboard the portal as a relying party (governance), grant it scope resident, register its OIDC client."""
    from dpistack.cli import open_initialised

    platform = open_initialised(data_dir)
    try:
        problem = set_up(platform)
    finally:
        platform.close()
    if problem:
        console.print(f"[red]The portal could not be set up:[/] {problem}")
        raise typer.Exit(1)
    console.print(f"[green]The portal is set up[/]: {platform.settings.public_url}/")
