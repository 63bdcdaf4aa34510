"""The GovStack IM PubSub API of a room, served by the mediator under
``/r1/{instance}/{class}/{member}/{room}/(api|pub|pull)/v1/…`` after it has authenticated the
client (``X-Road-Client`` = the access token's participant). Errors are X-Road's."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope

from dpistack.exchange import catalogue, events
from dpistack.exchange.errors import client_error, server_proxy

ROUTES = [
    ("api", re.compile(r"^/v1/eventType$"), "event_types"),
    ("api", re.compile(r"^/v1/eventType/([A-Za-z0-9._-]{1,64})$"), "event_type"),
    ("api", re.compile(r"^/v1/subs$"), "subscriptions"),
    ("api", re.compile(r"^/v1/subs/([A-Za-z0-9._-]{1,64})$"), "subscription"),
    ("pub", re.compile(r"^/v1/([A-Za-z0-9._-]{1,64})$"), "publish"),
    ("pub", re.compile(r"^/v1/([A-Za-z0-9._-]{1,64})/([0-9a-f-]{36})$"), "publication"),
    ("pull", re.compile(r"^/v1/([A-Za-z0-9._-]{1,64})$"), "pull"),
    ("pull", re.compile(r"^/v1/([A-Za-z0-9._-]{1,64})/([0-9a-f-]{36})$"), "ack"),
]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json; charset=utf-8")


async def handle(mediator: Any, scope: Scope, receive: Receive, service_id: Any, rest: str, caller: str,
                 client: Any) -> Response:
    platform = mediator.platform
    owner, room = service_id.member_code, service_id.subsystem
    for code, pattern, name in ROUTES:
        if code == service_id.code and (match := pattern.match(rest)):
            break
    else:
        raise client_error("BadRequest", f"No PubSub operation {service_id.code}{rest}.")
    provider = catalogue.member(platform, owner)
    if provider is None or provider[0] != service_id.member_class or not catalogue.has_subsystem(platform, owner, room):
        raise server_proxy("UnknownService", f"No room {service_id.provider} on this instance.", 404)
    method, args = scope["method"], match.groups()
    is_owner = caller == owner
    publisher_client = str(service_id.provider)

    async def body() -> Any:
        raw = await mediator._read_body(receive, _Nothing())
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise client_error("BadRequest", "The body is not JSON.") from None

    def owner_only() -> None:
        if not is_owner:
            raise server_proxy("AccessDenied", f"Only {owner} manages and publishes in room {room}.", 403)

    async def may_subscribe() -> None:
        if not is_owner and not await mediator._allowed(caller, "data:read",
                                                        ("DataCategory", f"{events.category(room)}@{owner}")):
            raise server_proxy("AccessDenied", f"{client} has no access right to the events of room {room} "
                               f"(governance has not granted data:read on {events.category(room)}@{owner}).", 403)

    def write(fn, *a):
        def run():
            with platform.db.uow(write=True) as session:
                return fn(session, *a)
        return run_in_threadpool(run)

    def read(fn, *a):
        def run():
            with platform.db.uow() as session:
                return fn(session, *a)
        return run_in_threadpool(run)

    if name == "event_types":
        if method == "POST":
            owner_only()
            item = await body()
            if not isinstance(item, dict):
                raise client_error("BadRequest", "Send {eventType, schema}.")
            await write(events.create_event_type, owner, room, item.get("eventType"), item.get("schema"))
            return _json({"eventType": item["eventType"]})
        if method == "GET":
            await may_subscribe()
            types = await read(events.event_types, owner, room)
            return _json(sorted(types)) if types else Response(status_code=204)
    elif name == "event_type":
        if method == "GET":
            await may_subscribe()
            types = await read(events.event_types, owner, room)
            return _json({"eventType": args[0], "schema": types[args[0]]}) if args[0] in types \
                else Response(status_code=204)
        if method == "DELETE":
            owner_only()
            await write(events.delete_event_type, owner, room, args[0])
            return Response(status_code=204)
    elif name == "publish" and method == "POST":
        owner_only()
        item = await body()
        if not isinstance(item, dict) or "event" not in item or item.get("eventType", args[0]) != args[0]:
            raise client_error("BadRequest", "Send {eventType, event}, eventType as in the path.")
        event_id = await mediator.events.publish(owner, room, args[0], item["event"], publisher_client)
        return _json({"id": event_id}, 201)
    elif name == "publication":
        owner_only()
        if method == "GET":
            return _json(await read(events.status, owner, room, args[0], args[1], publisher_client,
                                    events.cipher(platform)))
        if method == "DELETE":
            await write(events.stop, owner, room, args[0], args[1])
            return Response(status_code=204)
    elif name == "subscriptions" and method == "GET":
        return _json(await read(events.my_subscriptions, owner, room, str(client)))
    elif name == "subscription":
        if method == "POST":
            await may_subscribe()
            item = await body()
            if not isinstance(item, dict) or item.get("eventType", args[0]) != args[0]:
                raise client_error("BadRequest", "Send a SubscriptionItem {eventType, delivery, pushUrl}.")
            sub = await write(events.subscribe, owner, room, args[0], caller, str(client),
                              item.get("delivery", "PUSH"), item.get("pushUrl"))
            await mediator.events.subscribed(sub.id)
            return _json(events.subscription_view(sub))
        if method == "GET":
            return _json(events.subscription_view(await read(events.get_subscription, owner, room, str(client),
                                                             args[0])))
        if method == "DELETE":
            await write(events.cancel, owner, room, str(client), args[0])
            return Response(status_code=204)
    elif name == "pull" and method == "GET":
        item = await read(events.pull, owner, room, str(client), args[0], publisher_client, events.cipher(platform))
        if item is None:
            raise server_proxy("NoEvent", "No unacknowledged event.", 404)
        return _json(item)
    elif name == "ack" and method == "DELETE":
        await write(events.acknowledge, owner, room, str(client), args[0], args[1])
        return Response(status_code=204)
    raise client_error("BadRequest", f"{method} is not an operation of {service_id.code}{rest}.", 405)


class _Nothing:
    def update(self, _chunk: bytes) -> None:
        pass
