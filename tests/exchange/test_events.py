"""Publish/subscribe in the GovStack IM PubSub shape: a registry's room, event types, members
subscribing by PUSH (a real receiver on loopback) or PULL, at-least-once delivery with
retries and dead letters — in the platform database, and on NATS JetStream."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dpistack.core.outbox import Channel
from dpistack.core.server import serve_in_thread
from dpistack.exchange import events

from .conftest import CLIENT, INSTANCE, call, grant
from .test_mediator import xroad_error

ROOM = f"/r1/{INSTANCE}/GOV/civil-registry/registry"
BIRTH = {"eventType": "birthRegistered", "schema": {"type": "object"}}


class Receiver:
    def __init__(self):
        self.got: list[dict] = []
        self.fail_first = 0
        self.always_fail = False
        self.lock = threading.Lock()

        async def handle(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                if self.always_fail or self.fail_first > 0:
                    self.fail_first -= 1
                    return Response(status_code=503)
                self.got.append({"body": body, "headers": dict(request.headers)})
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])

    def wait(self, count: int, seconds: float = 15) -> list[dict]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.got)} of {count} events arrived")


@pytest.fixture
def receiver():
    r = Receiver()
    with serve_in_thread(r.app) as url:
        r.url = url
        yield r


def room_ready(country, actors):
    registry, ministry = country
    r = call(registry, ROOM + "/api/v1/eventType", "POST", client_id=f"{INSTANCE}/GOV/civil-registry", json=BIRTH)
    assert r.status_code == 200, r.text
    return registry, ministry


def publish(registry, event):
    r = call(registry, ROOM + "/pub/v1/birthRegistered", "POST", client_id=f"{INSTANCE}/GOV/civil-registry",
             json={"eventType": "birthRegistered", "event": event})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def fast_retries(platform, attempts=3):
    platform.outbox.register(Channel(events.CHANNEL, max_attempts=attempts, backoff=0.05, max_backoff=0.1,
                                     timeout=2, on_dead=events._dead, on_delivered=events._delivered))


def test_push_subscription_needs_a_grant_and_gets_events_at_least_once(country, actors, receiver, platform):
    registry, ministry = room_ready(country, actors)
    fast_retries(platform)
    sub = {"eventType": "birthRegistered", "delivery": "PUSH", "pushUrl": receiver.url + "/births"}
    xroad_error(call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST", json=sub), 403,
                "Server.ServerProxy.AccessDenied")
    grant(actors, registry, category=events.category("registry"))
    r = call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST", json=sub)
    assert r.status_code == 200, r.text
    assert call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST", json=sub).status_code == 409
    assert [s["eventType"] for s in call(ministry, ROOM + "/api/v1/subs").json()] == ["birthRegistered"]
    receiver.fail_first = 2  # the subscriber is down for a moment: retried
    event_id = publish(registry, {"child": "Baraka", "place": "Mombasa"})
    [got] = receiver.wait(1)
    assert got["body"]["id"] == event_id and got["body"]["event"] == {"child": "Baraka", "place": "Mombasa"}
    assert got["body"]["publisherId"] == f"{INSTANCE}/GOV/civil-registry/registry"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = call(registry, ROOM + f"/pub/v1/birthRegistered/{event_id}",
                      client_id=f"{INSTANCE}/GOV/civil-registry").json()
        if status["deliveries"][0]["status"] == "delivered":
            break
        time.sleep(0.05)
    assert status["deliveries"][0]["status"] == "delivered"
    # only the room's owner publishes
    xroad_error(call(ministry, ROOM + "/pub/v1/birthRegistered", "POST", json={"event": {}}), 403,
                "Server.ServerProxy.AccessDenied")
    xroad_error(call(registry, ROOM + "/pub/v1/deathRegistered", "POST", client_id=f"{INSTANCE}/GOV/civil-registry",
                     json={"event": {}}), 404, "Server.ServerProxy.NotFound")


def test_an_unreachable_subscriber_ends_in_dead_letters(country, actors, receiver, platform):
    registry, ministry = room_ready(country, actors)
    fast_retries(platform, attempts=3)
    grant(actors, registry, category=events.category("registry"))
    receiver.always_fail = True
    call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST",
         json={"delivery": "PUSH", "pushUrl": receiver.url + "/x"})
    event_id = publish(registry, {"child": "Zuri"})
    deadline, status = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        status = call(registry, ROOM + f"/pub/v1/birthRegistered/{event_id}",
                      client_id=f"{INSTANCE}/GOV/civil-registry").json()["deliveries"][0]
        if status["status"] == "dead":
            break
        time.sleep(0.05)
    assert status["status"] == "dead" and "503" in status["lastError"]
    from dpistack.core.outbox import dead_letters
    with platform.db.uow() as s:
        assert [d["channel"] for d in dead_letters(s, events.CHANNEL)] == [events.CHANNEL]


def test_pull_subscription(country, actors, platform):
    registry, ministry = room_ready(country, actors)
    grant(actors, registry, category=events.category("registry"))
    assert call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST", json={"delivery": "PULL"}).status_code == 200
    xroad_error(call(ministry, ROOM + "/pull/v1/birthRegistered"), 404, "Server.ServerProxy.NoEvent")
    first, second = publish(registry, {"n": 1}), publish(registry, {"n": 2})
    got = call(ministry, ROOM + "/pull/v1/birthRegistered").json()
    assert got["id"] == first and got["event"] == {"n": 1}
    assert call(ministry, ROOM + f"/pull/v1/birthRegistered/{first}", "DELETE").status_code == 204
    assert call(ministry, ROOM + "/pull/v1/birthRegistered").json()["id"] == second
    assert call(ministry, ROOM + "/api/v1/subs/birthRegistered", "DELETE").status_code == 204
    xroad_error(call(ministry, ROOM + "/pull/v1/birthRegistered"), 404, "Server.ServerProxy.NotFound")
    xroad_error(call(ministry, ROOM + "/api/v1/nonsense"), 400, "Client.BadRequest")
    types = call(registry, ROOM + "/api/v1/eventType", client_id=f"{INSTANCE}/GOV/civil-registry")
    assert types.json() == ["birthRegistered"]


# -- NATS JetStream -------------------------------------------------------------------------------
@pytest.fixture
def nats_platform(tmp_path, request):
    from ..conftest import open_platform, require_nats
    url = require_nats()
    p = open_platform(tmp_path, "sqlite", request)
    p.settings.events_url = url
    p.settings.events_stream = "T" + uuid.uuid4().hex[:12].upper()
    yield p
    p.close()


def test_events_on_nats_jetstream(nats_platform, receiver, backend):
    from fastapi.testclient import TestClient

    from dpistack.app import create_app
    from dpistack.exchange.bus import NatsEvents

    from ..conftest import Actors

    with TestClient(create_app(nats_platform), base_url="http://testserver") as client:
        assert isinstance(client.app.state.mediator.events, NatsEvents)
        actors = Actors(nats_platform, client)
        registry = actors.onboard("civil-registry", "registry", ["data-provider"], ["digital-agency"])
        ministry = actors.onboard("ministry-of-health", "ministry", ["data-consumer"], ["digital-agency"])
        registry.post("/exchange/v1/subsystems", json={"code": "registry"})
        room_ready((registry, ministry), actors)
        grant(actors, registry, category=events.category("registry"))
        receiver.fail_first = 1  # redelivered by JetStream after a nak
        r = call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST",
                 json={"delivery": "PUSH", "pushUrl": receiver.url + "/births"})
        assert r.status_code == 200, r.text
        ids = [publish(registry, {"n": n}) for n in range(3)]
        got = receiver.wait(3, seconds=20)
        assert sorted(g["body"]["id"] for g in got) == sorted(ids)
        assert {g["headers"]["x-govstack-event-id"] for g in got} == set(ids)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = [call(registry, ROOM + f"/pub/v1/birthRegistered/{i}",
                           client_id=f"{INSTANCE}/GOV/civil-registry").json()["deliveries"][0]["status"] for i in ids]
            if states == ["delivered"] * 3:
                break
            time.sleep(0.1)
        assert states == ["delivered"] * 3
        # a subscriber that never answers 2xx: after its attempts, a dead letter
        bus = client.app.state.mediator.events
        bus.max_attempts, bus.backoff = 2, 0.05
        ministry.post("/exchange/v1/subsystems", json={"code": "clinics"})
        down = Receiver()
        down.always_fail = True
        with serve_in_thread(down.app) as down_url:
            r = call(ministry, ROOM + "/api/v1/subs/birthRegistered", "POST", client_id=CLIENT + "/clinics",
                     json={"delivery": "PUSH", "pushUrl": down_url + "/x"})
            assert r.status_code == 200, r.text
            dead_id = publish(registry, {"n": 99})
            deadline, states = time.monotonic() + 20, {}
            while time.monotonic() < deadline:
                states = {d["subscriptionId"]: d for d in call(
                    registry, ROOM + f"/pub/v1/birthRegistered/{dead_id}",
                    client_id=f"{INSTANCE}/GOV/civil-registry").json()["deliveries"]}
                if states.get(r.json()["id"], {}).get("status") == "dead":
                    break
                time.sleep(0.1)
        assert states[r.json()["id"]]["status"] == "dead" and "503" in states[r.json()["id"]]["lastError"]
        js = client.portal.call(client.app.state.mediator.events.js)
        info = client.portal.call(js.stream_info, nats_platform.settings.events_stream)
        assert info.state.messages == 4  # the events themselves are in the JetStream stream
        client.portal.call(js.delete_stream, nats_platform.settings.events_stream)


def test_event_bodies_are_sealed_at_rest(country, actors, platform):
    registry, _ = room_ready(country, actors)
    event_id = publish(registry, {"child": "Baraka Otieno"})
    from dpistack.exchange.models import Event
    with platform.db.uow() as s:
        assert b"Baraka" not in s.get(Event, event_id).body
    status = call(registry, ROOM + f"/pub/v1/birthRegistered/{event_id}", client_id=f"{INSTANCE}/GOV/civil-registry")
    assert status.json()["event"] == {"child": "Baraka Otieno"}
