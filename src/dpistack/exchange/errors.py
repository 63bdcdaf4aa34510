"""X-Road errors (PR-REST §4.6): JSON ``{type, message, detail}`` and the ``X-Road-Error``
header, ``type`` starting with ``Client`` (the consumer's request), ``Server.ClientProxy``
(the consumer side of the mediator) or ``Server.ServerProxy`` (the provider side).

Status codes: the protocol answers every mediator error with 400 or 500. Here a 500 always
means a bug, so the mediator answers with the nearest specific status instead (401/403 for
who-may-call, 404 unknown service, 413 too large, 502 a failing backend, 504 a slow one,
503 the message log unavailable); the ``type`` carries the protocol's category.
"""

from __future__ import annotations

import json
import uuid

from starlette.responses import Response

from dpistack.core.errors import Problem

JSON_UTF8 = "application/json; charset=utf-8"


class XRoadError(Problem):
    """An error of the mediator itself, with its X-Road type."""

    xroad_type = "Server.ServerProxy.InternalError"

    def __init__(self, xroad_type: str, message: str, *, status: int):
        super().__init__(message, status=status, title=xroad_type)
        self.xroad_type = xroad_type


def client_error(kind: str, message: str, status: int = 400) -> XRoadError:
    return XRoadError(f"Client.{kind}", message, status=status)


def client_proxy(kind: str, message: str, status: int) -> XRoadError:
    return XRoadError(f"Server.ClientProxy.{kind}", message, status=status)


def server_proxy(kind: str, message: str, status: int) -> XRoadError:
    return XRoadError(f"Server.ServerProxy.{kind}", message, status=status)


def response(xroad_type: str, message: str, status: int, detail: str | None = None,
             headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"type": xroad_type, "message": message, "detail": detail or str(uuid.uuid4())}).encode()
    return Response(body, status_code=status, media_type=JSON_UTF8,
                    headers={"X-Road-Error": xroad_type, **(headers or {})})


# The core's errors under /r1 (no route, a body failing a schema, no token, too large, a bug).
_BY_STATUS = {
    400: "Client.BadRequest", 401: "Server.ClientProxy.AuthenticationFailed", 403: "Server.ServerProxy.AccessDenied",
    404: "Server.ServerProxy.NotFound", 405: "Client.BadRequest", 409: "Client.Conflict", 413: "Client.RequestTooLarge",
    422: "Client.BadRequest", 429: "Server.ClientProxy.TooManyRequests",
}


def render(status: int, title: str, detail: str, exc: Exception | None) -> Response:
    if isinstance(exc, XRoadError):
        return response(exc.xroad_type, exc.detail, exc.status)
    if status >= 500:
        return response("Server.ClientProxy.InternalError", "The mediator failed; the error has been logged.", 500)
    return response(_BY_STATUS.get(status, "Client.BadRequest"), detail, status)
