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


@app.command("demo-register")
def demo_register(data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Instance directory (default ./var)."),
                  uin: list[str] = typer.Option([], "--uin", help="A person the register holds demo records of "
                                                "(two children, a household); repeat for more."),
                  port: int = typer.Option(0, "--port", help="Loopback port of the register's backend (0: any)."),
                  consumer: str = typer.Option("citizen-portal", "--consumer",
                                               help="The front office granted its records (the portal).")) -> None:
    """Serve the demo population register's backend on loopback and put it on the exchange, so
    that the portal's forms are prefilled from it (until interrupted). Development and demo
    instances: the authorities' keys are under <data-dir>/credentials."""
    import signal
    import time

    from fastapi.testclient import TestClient

    from dpistack.app import create_app
    from dpistack.core.config import Settings
    from dpistack.core.platform import Platform
    from dpistack.core.server import serve_in_thread
    from dpistack.services import registry_demo

    platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
    records = {u: registry_demo.demo_records(u, None) for u in uin}

    def stop(*_args) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        with serve_in_thread(registry_demo.app(records), port=port or None) as url:
            with TestClient(create_app(platform), base_url=platform.settings.public_url) as http:
                try:
                    registry_demo.setup(platform, http, url, consumer)
                except registry_demo.SetupFailed as exc:
                    console.print(f"[red]The register could not be set up: {exc}[/]")
                    raise typer.Exit(1) from None
            console.print(f"[green]The population register answers at {url} through the mediator "
                          f"({registry_demo.PARTICIPANT}); {len(records)} people on record. Ctrl-C to stop.[/]")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        platform.close()
