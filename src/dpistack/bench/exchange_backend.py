"""The provider backend of `dpi bench exchange`: a minimal ASGI app answering every request with
a small JSON body (what a registry's record look-up returns), as cheaply as uvicorn can."""

from __future__ import annotations

BODY = b'{"id":"1234","given":"Amina","family":"Hassan","birth_date":"1990-04-12","status":"alive"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # noqa: ANN001 - plain ASGI
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
