"""DirectRoute: the same API as an ordinary FastAPI route (schema, errors), served without
FastAPI's per-request dependency solving."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from dpistack.core.errors import Unauthorized, install_handlers
from dpistack.core.http import direct_post


class Order(BaseModel):
    item: str = Field(min_length=1)
    count: int = Field(ge=1)


async def who(request: Request) -> str:
    caller = request.headers.get("x-caller")
    if not caller:
        raise Unauthorized("who are you?")
    return caller


def make_app() -> FastAPI:
    router = APIRouter()

    async def order(body: Order, request: Request, caller: str = Depends(who)) -> dict:
        return {"caller": caller, "item": body.item, "count": body.count, "path": request.url.path}

    router.post("/plain", summary="Order")(order)
    direct_post(router, "/direct", summary="Order")(order)
    app = FastAPI()
    install_handlers(app)
    app.include_router(router)
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
