"""DirectRoute: the same API as an ordinary FastAPI route (schema, errors), served without
FastAPI's per-request dependency solving."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from dpistack.core.errors import Unauthorized, install_handlers
from dpistack.core.http import App, Metrics, direct_post


class Order(BaseModel):
    item: str = Field(min_length=1)
    count: int = Field(ge=1)


async def who(request: Request) -> str:
    caller = request.headers.get("x-caller")
    if not caller:
        raise Unauthorized("who are you?")
    return caller


def make_router() -> APIRouter:
    router = APIRouter()

    async def order(body: Order, request: Request, caller: str = Depends(who)) -> dict:
        if body.item == "boom":
            raise RuntimeError("a bug")
        return {"caller": caller, "item": body.item, "count": body.count, "path": request.url.path}

    router.post("/plain", summary="Order")(order)
    direct_post(router, "/direct", summary="Order")(order)
    return router


def make_app() -> FastAPI:
    app = FastAPI()
    install_handlers(app)
    app.include_router(make_router())
    return app


@pytest.fixture
def client():
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


def test_same_answers_as_an_ordinary_route(client):
    good = {"item": "rice", "count": 2}
    plain = client.post("/plain", json=good, headers={"x-caller": "a"})
    direct = client.post("/direct", json=good, headers={"x-caller": "a"})
    assert direct.status_code == plain.status_code == 200
    assert direct.json() == {**plain.json(), "path": "/direct"}
    for bad in ({"item": "", "count": 2}, {"item": "rice"}, {"item": "rice", "count": "many"}):
        p = client.post("/plain", json=bad, headers={"x-caller": "a"})
        d = client.post("/direct", json=bad, headers={"x-caller": "a"})
        assert d.status_code == p.status_code == 422 and d.headers["content-type"] == "application/problem+json"
        assert [(e["loc"], e["type"]) for e in d.json()["errors"]] == [(e["loc"], e["type"]) for e in p.json()["errors"]]
    assert client.post("/direct", json=good).status_code == 401  # the dependency ran
    not_an_object = client.post("/direct", json=[1], headers={"x-caller": "a"})
    assert not_an_object.status_code == 422 and not_an_object.json()["errors"][0]["loc"] == ["body"]


def test_malformed_json_is_a_422_about_the_body(client):
    r = client.post("/direct", content=b'{"item": "rice",', headers={"x-caller": "a", "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][0] == "body"
    assert r.json()["errors"][0]["type"] == "json_invalid"


def test_openapi_describes_it_like_the_ordinary_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    plain, direct = paths["/plain"]["post"], paths["/direct"]["post"]
    assert direct["requestBody"] == plain["requestBody"] and set(direct["responses"]) == set(plain["responses"]) == {"200", "422"}
    assert "$ref" in str(direct["requestBody"])


def test_an_endpoint_it_cannot_serve_is_refused_at_start():
    router = APIRouter()

    async def needs_query(body: Order, page: int) -> dict:
        return {}

    with pytest.raises(TypeError):
        direct_post(router, "/x")(needs_query)


def make_lane_app() -> App:
    """An App whose DirectRoutes take the fast lane, with a middleware that marks every
    response it sees (so a test can tell which way a request went)."""
    router = make_router()
    app = App()
    install_handlers(app)
    metrics = Metrics()

    async def mark(request, call_next):
        response = await call_next(request)
        response.headers["x-through-the-stack"] = "yes"
        return response

    app.middleware("http")(mark)
    app.include_router(router)
    app.serve_direct_routes_first([router], metrics, body_limit=200)
    app.state.metrics = metrics
    return app


@pytest.fixture
def lane():
    with TestClient(make_lane_app(), raise_server_exceptions=False) as c:
        yield c


def test_the_fast_lane_gives_the_same_answers_without_the_middleware_stack(lane):
    good = {"item": "rice", "count": 2}
    plain = lane.post("/plain", json=good, headers={"x-caller": "a"})
    direct = lane.post("/direct", json=good, headers={"x-caller": "a"})
    assert plain.headers["x-through-the-stack"] == "yes" and "x-through-the-stack" not in direct.headers
    assert direct.status_code == plain.status_code == 200 and direct.json() == {**plain.json(), "path": "/direct"}
    for bad in ({"item": "", "count": 2}, {"item": "rice", "count": "many"}):
        p, d = (lane.post(path, json=bad, headers={"x-caller": "a"}) for path in ("/plain", "/direct"))
        assert d.status_code == p.status_code == 422 and d.json()["errors"] == p.json()["errors"]
        assert d.headers["content-type"] == "application/problem+json"
    p, d = (lane.post(path, json=good) for path in ("/plain", "/direct"))
    assert d.status_code == p.status_code == 401 and d.json() == {**p.json(), "instance": "/direct"}
    assert d.headers["www-authenticate"] == "Bearer"


def test_the_fast_lane_keeps_the_body_limit_the_error_handlers_and_the_metrics(lane):
    too_big = lane.post("/direct", json={"item": "x" * 300, "count": 1}, headers={"x-caller": "a"})
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    bug = lane.post("/direct", json={"item": "boom", "count": 1}, headers={"x-caller": "a"})
    assert bug.status_code == 500 and bug.json()["title"] == "Internal error" and "a bug" not in bug.text
    assert lane.get("/direct").status_code == 405  # other methods take the ordinary way
    lane.post("/direct", json={"item": "rice", "count": 1}, headers={"x-caller": "a"})
    counted = lane.app.state.metrics.requests.labels("POST", "/direct", "200")._value.get()
    assert counted == 1
    assert lane.app.state.metrics.requests.labels("POST", "/direct", "500")._value.get() == 1
