"""Errors as RFC 9457 problem details, unless a protocol mandates its own format.

Domain code raises :class:`Problem` subclasses that carry their facts; the app maps them once
to ``application/problem+json``. Blocks with their own error format (OAuth, FSPIOP, X-Road)
register their own handlers for their own exception types, and an :class:`ErrorFormat` for
their path prefix: the errors every API can meet (a body that fails its schema, no token, a
path or method that does not exist, a body too large, a bug) are then answered under that
prefix in the protocol's own format instead of problem+json.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("dpistack")


class Problem(Exception):
    """An error a client can act on. ``status`` is the HTTP status, ``title`` a short summary."""

    status: int = 400
    title: str = "Bad request"
    type: str = "about:blank"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, *, status: int | None = None, title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.extra = extra

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(Problem):
    status = 404
    title = "Not found"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ErrorFormat(Protocol):
    """How a protocol answers an error the core caught: ``status`` and ``title`` as problem+json
    would have them, ``detail`` for people, ``exc`` the exception (None for a body too large)."""

    def __call__(self, status: int, title: str, detail: str, exc: Exception | None) -> Response: ...


def error_format(app: Any, prefix: str, render: ErrorFormat) -> None:
    """Answer the core's errors for paths under ``prefix`` with ``render``."""
    formats: list[tuple[str, ErrorFormat]] = getattr(app.state, "error_formats", [])
    app.state.error_formats = sorted([*formats, (prefix.rstrip("/") + "/", render)], key=lambda f: -len(f[0]))


def format_for(app: Any, path: str) -> ErrorFormat | None:
    for prefix, render in getattr(getattr(app, "state", None), "error_formats", ()):
        if path.startswith(prefix) or path == prefix[:-1]:
            return render
    return None


def _answer(request: Request, status: int, title: str, detail: str, exc: Exception | None,
            default: Callable[[], Response]) -> Response:
    render = format_for(request.app, request.url.path)
    return render(status, title, detail, exc) if render is not None else default()


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        log.info("refused %s %s: %s %s", request.method, request.url.path, exc.status, exc.title)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        headers.update(exc.headers or {})
        return _answer(request, exc.status, exc.title, exc.detail, exc, lambda: JSONResponse(
            exc.to_dict(request.url.path), status_code=exc.status, media_type=PROBLEM_JSON, headers=headers))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        log.info("refused %s %s: 422 invalid request", request.method, request.url.path)
        errors = [
            {"loc": list(map(str, e.get("loc", ()))), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "The request does not match the API's schema."
        return _answer(request, 422, "Invalid request", detail, exc,
                       lambda: problem_response(422, "Invalid request", detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(exc.status_code, "Error")
        return _answer(request, exc.status_code, title, str(exc.detail), exc,
                       lambda: problem_response(exc.status_code, title, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        # A 500 is a bug: log it with its traceback, show the client nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = "The server failed; the error has been logged."
        return _answer(request, 500, "Internal error", detail, exc,
                       lambda: problem_response(500, "Internal error", detail))
