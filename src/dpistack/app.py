"""Builds the ASGI app: the core endpoints plus the router of every enabled building block."""

from __future__ import annotations

from contextlib import asynccontextmanager

from dpistack import __version__
from dpistack.core import api as core_api
from dpistack.consent import api as consent_api
from dpistack.core.errors import error_format, install_handlers
from dpistack.core.http import App, BodyLimit, Metrics
from dpistack.core.platform import Platform
from dpistack.credentials import api as credentials_api
from dpistack.credentials import vcapi as credentials_vcapi
from dpistack.credentials import openid4vp_api as credentials_openid4vp_api
from dpistack.credentials import verifier_api as credentials_verifier_api
from dpistack.governance import api as governance_api
from dpistack.exchange import api as exchange_api
from dpistack.exchange import errors as exchange_errors
from dpistack.exchange.mediator import Mediator
from dpistack.governance import oauth
from dpistack.identity import api as identity_api
from dpistack.identity import oidc_api, residents_api
from dpistack.payments import admin_api as payments_admin_api
from dpistack.payments import aliases_api as payments_aliases_api
from dpistack.payments import api as payments_api
from dpistack.services import api as services_api
from dpistack.transparency import api as transparency_api
from dpistack.web import router as web_router


def create_app(platform: Platform) -> App:
    @asynccontextmanager
    async def lifespan(_app: App):
        platform.outbox.start()  # this process delivers what it writes, and sweeps for what is due
        await mediator.start()
        yield
        await mediator.close()
        await platform.outbox.stop()

    app = App(
        lifespan=lifespan,
        title="DPI Stack",
        version=__version__,
        description="Digital public infrastructure: governance, transparency log, identity, credentials, payments, data exchange.",
    )
    app.state.platform = platform
    mediator = app.state.mediator = Mediator(platform)
    app.state.metrics = Metrics()
    app.add_middleware(app.state.metrics.asgi)
    app.add_middleware(BodyLimit, limit=platform.settings.max_body_bytes)
    install_handlers(app)
    oauth.install_handlers(app)
    payments_api.install_handlers(app)
    credentials_api.install_handlers(app)
    web_router.install_handlers(app)
    # FastAPI tries routes in order: the busiest (authentication of people) first.
    routers = [identity_api.router, payments_api.router, core_api.router, oauth.router, governance_api.router,
               transparency_api.router, oidc_api.router, residents_api.router, payments_admin_api.router,
               payments_aliases_api.router,
               consent_api.router, exchange_api.router, credentials_api.router, credentials_vcapi.router,
               credentials_verifier_api.router, credentials_openid4vp_api.router,
               services_api.router,
               web_router.router]  # the portal last: it never shadows an API
    for router in routers:
        app.include_router(router)
    app.serve_direct_routes_first(routers, app.state.metrics, platform.settings.max_body_bytes)
    # The information mediator (X-Road REST, /r1/...) is its own ASGI app on the fast lane, with
    # its own body limit (DPI_EXCHANGE_MAX_BODY_BYTES); the core's errors there speak X-Road.
    app.serve_prefix("/r1/", mediator, app.state.metrics)
    error_format(app, "/r1", exchange_errors.render)
    return app
