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
    from dpistack.core.invariants import run_check
    from dpistack.payments.check import check as ledger_check

    run_check(console, data_dir, ledger_check, "payments ledger: all invariants hold")


@app.command("simulate-fsp")
def simulate_fsp(
    name: str = typer.Option(..., help="The FSP's participant id (onboarded with the fsp role)."),
    port: int = typer.Option(..., help="Port its callback endpoints listen on."),
    switch: str = typer.Option("http://127.0.0.1:8000", help="The switch's base URL."),
    key: Optional[Path] = typer.Option(None, help="The FSP's private JWK (default <data-dir>/credentials/<name>.jwk)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where to find its development key."),
    secret: str = typer.Option("", help="Secret its fulfilments are derived from (default: random)."),
    answer: str = typer.Option("COMMITTED", help="What it answers a transfer with: COMMITTED or RESERVED."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
) -> None:
    """Run a simulated payer/payee FSP as its own process (its control API is under /sim)."""
    import json as json_
    import secrets

    import uvicorn
    from joserfc.jwk import ECKey, OKPKey

    from dpistack.core.server import tune_gc_for_serving
    from dpistack.governance import credentials
    from dpistack.payments.simulator import SimulatedFsp

    if key is not None:
        jwk = json_.loads(key.read_text())
        private = ECKey.import_key(jwk) if jwk.get("kty") == "EC" else OKPKey.import_key(jwk)
    else:
        private = credentials.load_private_jwk(data_dir or Path("var"), name)
    if private is None:
        console.print(f"[red]No key for {name}: give --key or --data-dir[/]")
        raise typer.Exit(2)
    if answer not in ("COMMITTED", "RESERVED"):
        raise typer.BadParameter("--answer is COMMITTED or RESERVED")
    fsp = SimulatedFsp(name, private, switch, secret.encode() or secrets.token_bytes(32), answer=answer)
    console.print(f"Simulated FSP [bold]{name}[/] on http://{host}:{port}, talking to {switch}")
    server = uvicorn.Server(uvicorn.Config(fsp.app(), host=host, port=port, log_level="warning", access_log=False))
    tune_gc_for_serving()
    server.run()
