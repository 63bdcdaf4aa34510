"""`dpi bench …`: each block adds its benchmark here."""

from __future__ import annotations

import typer


def register(bench_app: typer.Typer) -> None:
    from dpistack.bench import credentials, exchange, finder, identity, payments, transparency

    bench_app.command("transparency")(transparency.command)
    bench_app.command("identity")(identity.command)
    bench_app.command("payments")(payments.command)
    bench_app.command("exchange")(exchange.command)
    bench_app.command("credentials")(credentials.command)
    bench_app.command("finder")(finder.command)
