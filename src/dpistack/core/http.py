"""HTTP plumbing shared by every block: body-size limit, Prometheus metrics, the platform
handle, and a lean route class for the busiest endpoints with a fast lane to it."""

from __future__ import annotations

import inspect
import time
import typing
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dpistack.core.errors import format_for, problem_response
from dpistack.core.platform import Platform


async def get_platform(request: Request) -> Platform:  # async: no worker-thread hop for a lookup
    return request.app.state.platform


class DirectRoute(APIRoute):
    """A route for the few busiest endpoints (authentication of people, later transfers).

    FastAPI describes it from the endpoint's signature as usual (OpenAPI, body schema,
    response model), but a request skips FastAPI's general dependency solving, which cost
    more than the authentication itself (profiled): the JSON body is validated straight from
    its bytes by the model, and the endpoint is called with it, the request and its
    ``Depends(...)`` callers resolved by calling each with the request. So the endpoint takes
    only: one pydantic body, optionally ``request: Request``, and dependencies that are async
    functions of the request alone (such as ``governance.policy.require``), plus path
    parameters, as strings. A bad body gets the same 422 as everywhere else.
    """

    def get_route_handler(self) -> Callable[[Request], typing.Coroutine[Any, Any, Response]]:
        endpoint, status = self.endpoint, self.status_code or 200
        hints = typing.get_type_hints(endpoint)
        body_name, body_model, wants_request, dependencies = None, None, None, []
        path_names = [name for name in inspect.signature(endpoint).parameters if name in self.param_convertors]
        for name, param in inspect.signature(endpoint).parameters.items():
            hint = hints.get(name)
            if name in path_names:
                continue  # taken from the path, as a string
            if isinstance(param.default, Depends):
                dependencies.append((name, param.default.dependency))
            elif hint is Request:
                wants_request = name
            elif inspect.isclass(hint) and issubclass(hint, BaseModel) and body_model is None:
                body_name, body_model = name, hint
            else:
                raise TypeError(f"DirectRoute cannot supply {endpoint.__name__}({name})")
        if body_model is None:
            raise TypeError(f"DirectRoute needs a body model for {endpoint.__name__}")

        async def handle(request: Request) -> Response:
            raw = await request.body()
            try:
                body = body_model.model_validate_json(raw)
            except ValidationError as exc:
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
            arguments: dict[str, Any] = {body_name: body}
            for name in path_names:
                arguments[name] = request.path_params[name]
            if wants_request:
                arguments[wants_request] = request
            for name, dependency in dependencies:
                arguments[name] = await dependency(request)
            result = await endpoint(**arguments)
            return result if isinstance(result, Response) else JSONResponse(result, status_code=status)

        return handle


class App(FastAPI):
    """The platform's FastAPI app, with a fast lane for its :class:`DirectRoute` endpoints.

    A request to a DirectRoute is handed straight to the route's handler, wrapped only in the
    request metrics and the body-size limit, and its errors go through the app's exception
    handlers, as they would through FastAPI: the same answers, minus about ten layers of
    middleware and router (profiled under authentication load: they took more CPU than the
    endpoint itself). Every other request, and a request under a root path, takes the
    ordinary way.
    """

    _lane: dict[tuple[str, str], ASGIApp] = {}
    _templated: list[tuple[str, Any, ASGIApp]] = []  # (method, path regex, handler) of routes with path parameters
    _prefixed: list[tuple[str, ASGIApp]] = []  # (path prefix, ASGI app) served whole (the information mediator)

    def serve_prefix(self, prefix: str, asgi: ASGIApp, metrics: "Metrics") -> None:
        """Hand every request under ``prefix`` (e.g. ``/r1/``) straight to ``asgi``, measured, on
        the fast lane: a protocol endpoint with its own routing, errors and body limits."""
        self._prefixed = [*self._prefixed, (prefix, metrics.asgi(asgi))]

    def serve_direct_routes_first(self, routers: list[Any], metrics: "Metrics", body_limit: int) -> None:
        """Put the DirectRoutes of ``routers`` (included in this app) on the fast lane."""
        lane: dict[tuple[str, str], ASGIApp] = {}
        templated: list[tuple[str, Any, ASGIApp]] = []
        for router in routers:
            for route in router.routes:
                if isinstance(route, DirectRoute):
                    direct = metrics.asgi(BodyLimit(self._direct(route), body_limit))
                    for method in route.methods:
                        if route.param_convertors:
                            templated.append((method, route.path_regex, direct))
                        else:
                            lane[(method, route.path)] = direct
        self._lane, self._templated = lane, templated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = None
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope.get("method"), scope.get("path")
            direct = self._lane.get((method, path))
            if direct is None and self._prefixed:
                for prefix, handler in self._prefixed:
                    if path.startswith(prefix):
                        direct = handler
                        break
            if direct is None:
                for route_method, regex, handler in self._templated:
                    if route_method == method and (match := regex.match(path)) is not None:
                        scope["path_params"] = match.groupdict()
                        direct = handler
                        break
        if direct is None:
            return await super().__call__(scope, receive, send)
        scope["app"] = self
        await direct(scope, receive, send)

    def _direct(self, route: DirectRoute) -> ASGIApp:
        handle = route.get_route_handler()

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            scope["route"] = route
            request = Request(scope, receive)
            try:
                response = await handle(request)
            except Exception as exc:
                handler = self._exception_handler(exc)
                if handler is None:
                    raise
                response = await handler(request, exc) if inspect.iscoroutinefunction(handler) \
                    else await run_in_threadpool(handler, request, exc)
            await response(scope, receive, send)

        return serve

    def _exception_handler(self, exc: Exception) -> Callable | None:
        """The handler Starlette would pick: by status for an HTTPException, else by class."""
        if isinstance(exc, HTTPException) and exc.status_code in self.exception_handlers:
            return self.exception_handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.exception_handlers:
                return self.exception_handlers[cls]
        return None


def direct_route(router: Any, method: str, path: str, **options: Any) -> Callable[[Callable], Callable]:
    """``@router.<method>(path, ...)`` served by :class:`DirectRoute`."""

    def register(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=[method], route_class_override=DirectRoute, **options)
        return endpoint

    return register


def direct_post(router: Any, path: str, **options: Any) -> Callable[[Callable], Callable]:
    """``@router.post(path, ...)`` served by :class:`DirectRoute`."""
    return direct_route(router, "POST", path, **options)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, receive, send)
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"Request bodies are limited to {self.limit} bytes."
        render = format_for(scope.get("app"), scope.get("path", ""))
        response = render(413, "Content too large", detail, None) if render is not None \
            else problem_response(413, "Content too large", detail)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Metrics:
    """Request counts and latencies per route template (not per raw path: bounded cardinality)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dpi_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "dpi_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a stream per request)."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            start, status = time.perf_counter(), 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_and_note)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                self.requests.labels(scope["method"], route, str(status)).inc()
                self.latency.labels(scope["method"], route).observe(time.perf_counter() - start)

        return measured
