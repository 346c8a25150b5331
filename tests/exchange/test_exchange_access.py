"""Access matrix (SEC-13): every operation the app serves × every role, with the status
it must get, on SQLite and PostgreSQL.

`test_matrix_covers_every_route` fails when a route is added without a row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from sync.exchange.app import create_app
from sync.exchange.settings import ExchangeSettings

from .helpers import GENEROUS, Api, FakeClock, envelope, uid

# Every role of SEC-13. "convener" arrives with the trust work (roles within a circle):
# add it here and in `_world`, and every row must then say what a convener gets.
ROLES = [
    "anonymous",  # no token
    "bad",  # a token nobody issued
    "expired",  # an enrollment token past its expiry
    "revoked",  # the token of a revoked device
    "other_admin",  # the admin of another organization
    "admin",  # the admin of the circle creator's organization
    "outsider",  # a device (of another organization) that never joined the circle
    "member",  # the circle's creator
    "removed",  # a device removed from the circle
    "enroll",  # a fresh enrollment token
]

# operation → (body or None, expected status per role in ROLES order)
MATRIX: dict[str, tuple[Any, list[int]]] = {
    #                                    anon  bad  exp  rev  oadm adm  out  mem  rem  enr
    "GET /v1/health": (None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "GET /metrics": (None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "GET /ready": (None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "POST /v1/enrollments": ({}, [401, 401, 401, 401, 201, 201, 403, 403, 403, 403]),
    "POST /v1/devices": ({"name": "new"}, [401, 401, 401, 401, 403, 403, 403, 403, 403, 201]),
    "POST /v1/me/token": (None, [401, 401, 401, 401, 403, 403, 201, 201, 201, 403]),
    "DELETE /v1/devices/{device_id}": (
        None,
        [401, 401, 401, 401, 403, 204, 403, 204, 403, 403],
    ),
    "GET /v1/me": (None, [401, 401, 401, 401, 403, 403, 200, 200, 200, 403]),
    "POST /v1/circles": ("new-circle", [401, 401, 401, 401, 403, 403, 201, 201, 201, 403]),
    "GET /v1/circles/{circle_id}": (None, [401, 401, 401, 401, 403, 403, 404, 200, 404, 403]),
    "POST /v1/circles/{circle_id}/invites": (
        {},
        [401, 401, 401, 401, 403, 403, 404, 201, 404, 403],
    ),
    "POST /v1/invites/redeem": ("invite", [401, 401, 401, 401, 403, 403, 200, 200, 200, 403]),
    "DELETE /v1/circles/{circle_id}/members/{member_id}": (
        None,
        [401, 401, 401, 401, 403, 403, 404, 204, 404, 403],
    ),
    "POST /v1/circles/{circle_id}/ops": (
        {"ops": [envelope("op-1")]},
        [401, 401, 401, 401, 403, 403, 404, 200, 404, 403],
    ),
    "POST /v1/pull": ("cursors", [401, 401, 401, 401, 403, 403, 200, 200, 200, 403]),
}


def _walk(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI 0.16x keeps included routers as wrappers around the original router.
        inner = getattr(route, "original_router", None) or getattr(route, "app", None)
        if inner is not None and hasattr(inner, "routes"):
            yield from _walk(inner.routes)


def _routes(app: FastAPI) -> set[str]:
    """Every (method, path) the app serves: from the route tree and from the OpenAPI schema,
    so a route hidden from one of them is still caught."""
    found = {
        f"{method} {route.path}"
        for route in _walk(list(app.routes))
        for method in route.methods
        if method != "HEAD"
    }
    for path, ops in app.openapi()["paths"].items():
        found.update(f"{method.upper()} {path}" for method in ops)
    return found


def test_every_row_names_every_role() -> None:
    assert all(len(expected) == len(ROLES) for _, expected in MATRIX.values())


def test_matrix_covers_every_route(make_app: Callable[..., FastAPI]) -> None:
    routes = _routes(make_app())
    assert not routes - set(MATRIX), (
        f"routes missing from the access matrix: {routes - set(MATRIX)}"
    )
    assert not set(MATRIX) - routes, f"matrix rows for absent routes: {set(MATRIX) - routes}"


async def _world(api: Api, clock: FakeClock) -> dict[str, Any]:
    """Two orgs; in org A a member (m1, circle creator), a removed member (m2), a revoked
    device; in org B a device that never joined. Plus a fresh enrollment token, an expired
    one and an invite."""
    _, admin_token = api.org()
    _, admin_b = api.org()
    expired = (
        await api.call("POST", "/v1/enrollments", admin_token, json={"ttl_seconds": 60})
    ).json()["token"]
    clock.advance(61)
    member = await api.device(admin_token)
    removed = await api.device(admin_token)
    revoked = await api.device(admin_token)
    other = await api.device(admin_b)
    circle_id = await api.circle(member, "m1")
    await api.join(member, circle_id, removed, "m2")
    await api.join(member, circle_id, revoked, "m3")
    r = await api.call("DELETE", f"/v1/circles/{circle_id}/members/m2", member.token)
    assert r.status_code == 204
    assert (await api.call("DELETE", f"/v1/devices/{revoked.id}", admin_token)).status_code == 204
    enroll = (await api.call("POST", "/v1/enrollments", admin_token, json={})).json()["token"]
    invite = await api.call("POST", f"/v1/circles/{circle_id}/invites", member.token, json={})
    tokens = {
        "anonymous": None,
        "bad": "xcd_not-a-real-token",
        "expired": expired,
        "revoked": revoked.token,
        "other_admin": admin_b,
        "admin": admin_token,
        "outsider": other.token,
        "member": member.token,
        "removed": removed.token,
        "enroll": enroll,
    }
    assert set(tokens) == set(ROLES)
    return {
        "tokens": tokens,
        "params": {"device_id": member.id, "circle_id": circle_id, "member_id": "m1"},
        "invite": invite.json()["code"],
    }


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, FakeClock]]:
    """One app per database for the whole matrix (each cell still builds its own world)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('access') / 'exchange.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    clock = FakeClock()
    app = create_app(ExchangeSettings(db_url=url, clock=clock, **GENEROUS))
    yield app, clock
    app.state.ctx.engine.dispose()


@pytest.mark.parametrize("caller", ROLES)
@pytest.mark.parametrize("route", list(MATRIX))
async def test_access(route: str, caller: str, shared: tuple[FastAPI, FakeClock]) -> None:
    app, clock = shared
    api = Api(app)
    world = await _world(api, clock)
    method, template = route.split(" ")
    body, expected = MATRIX[route]
    if body == "new-circle":
        body = {"circle_id": uid(), "member_id": "mx"}
    elif body == "invite":
        body = {"code": world["invite"], "member_id": "mz"}
    elif body == "cursors":
        body = {"cursors": {world["params"]["circle_id"]: 0}}
    path = template.format(**world["params"])
    kwargs = {} if body is None else {"json": body}
    r = await api.call(method, path, world["tokens"][caller], **kwargs)
    assert r.status_code == expected[ROLES.index(caller)], r.text
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "message"}
    if route == "POST /v1/pull" and caller == "removed":
        assert r.json()["denied"] == [world["params"]["circle_id"]]
