"""Access matrix (SEC-13): every operation the app serves × every role, with the status
it must get, on SQLite and PostgreSQL.

`test_matrix_covers_every_route` fails when a route is added without a row here.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from sync.exchange.app import create_app
from sync.exchange.settings import ExchangeSettings

from .helpers import GENEROUS, Api, FakeClock, envelope, uid

KEY = base64.b64encode(bytes(range(32))).decode()

# Every role of SEC-13, with the roles within a circle (convener, member).
ROLES = [
    "anonymous",  # no token
    "bad",  # a token nobody issued
    "expired",  # an enrollment token past its expiry
    "revoked",  # the token of a revoked device
    "other_admin",  # the admin of another organization
    "admin",  # the admin of the circle creator's organization
    "outsider",  # a device (of another organization) that never joined the circle
    "member",  # a plain member of the circle
    "convener",  # the circle's creator
    "removed",  # a device removed from the circle
    "enroll",  # a fresh enrollment token
]

# operation → (body or None, expected status per role in ROLES order)
# fmt: off
MATRIX: dict[str, tuple[Any, list[int]]] = {
    #                                    anon  bad  exp  rev  oadm adm  out  mem  conv rem  enr
    "GET /v1/health": (None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "GET /metrics": (None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "GET /ready": (None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "POST /v1/enrollments": ({}, [401, 401, 401, 401, 201, 201, 403, 403, 403, 403, 403]),
    "POST /v1/devices": (
        {"name": "new"}, [401, 401, 401, 401, 403, 403, 403, 403, 403, 403, 201]
    ),
    "POST /v1/me/token": (None, [401, 401, 401, 401, 403, 403, 201, 201, 201, 201, 403]),
    "DELETE /v1/devices/{device_id}": (
        None, [401, 401, 401, 401, 403, 204, 403, 403, 204, 403, 403]
    ),
    "PUT /v1/devices/me/keys": ("keys", [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403]),
    "GET /v1/me": (None, [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403]),
    "POST /v1/circles": ("new-circle", [401, 401, 401, 401, 403, 403, 201, 201, 201, 201, 403]),
    "GET /v1/circles/{circle_id}": (
        None, [401, 401, 401, 401, 403, 403, 404, 200, 200, 404, 403]
    ),
    "POST /v1/circles/{circle_id}/invites": (
        {}, [401, 401, 401, 401, 403, 403, 404, 201, 201, 404, 403]
    ),
    "POST /v1/invites/redeem": ("invite", [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403]),
    "DELETE /v1/circles/{circle_id}/members/{member_id}": (
        None, [401, 401, 401, 401, 403, 403, 404, 403, 204, 404, 403]
    ),
    "PUT /v1/circles/{circle_id}/members/{member_id}/role": (
        {"role": "convener"}, [401, 401, 401, 401, 403, 403, 404, 403, 200, 404, 403]
    ),
    "GET /v1/circles/{circle_id}/epoch": (
        None, [401, 401, 401, 401, 403, 403, 404, 200, 200, 404, 403]
    ),
    "POST /v1/circles/{circle_id}/epochs": (
        "rekey", [401, 401, 401, 401, 403, 403, 404, 200, 200, 404, 403]
    ),
    "POST /v1/circles/{circle_id}/reseed": (
        {"ops": [envelope("op-1")]}, [401, 401, 401, 401, 403, 403, 404, 403, 200, 404, 403]
    ),
    "DELETE /v1/circles/{circle_id}/plaintext": (
        None, [401, 401, 401, 401, 403, 403, 404, 403, 409, 404, 403]
    ),
    "POST /v1/circles/{circle_id}/ops": (
        {"ops": [envelope("op-1")]}, [401, 401, 401, 401, 403, 403, 404, 200, 200, 404, 403]
    ),
    "POST /v1/pull": ("cursors", [401, 401, 401, 401, 403, 403, 200, 200, 200, 200, 403]),
    "POST /v1/wait": ("wait", [401, 401, 401, 401, 403, 403, 404, 200, 200, 200, 403]),
    # Programmes: the convener's device owns the world's programme.
    "PUT /v1/programmes/{programme_id}/circles/{circle_id}": (
        None, [401, 401, 401, 401, 403, 403, 404, 403, 200, 404, 403]
    ),
    "PUT /v1/circles/{circle_id}/report": (
        {"report": KEY}, [401, 401, 401, 401, 403, 403, 404, 403, 200, 404, 403]
    ),
    "GET /v1/programmes/{programme_id}/reports": (
        None, [401, 401, 401, 401, 403, 403, 404, 404, 200, 404, 403]
    ),
}
# fmt: on


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
    """Two orgs; in org A a circle's convener (m1, its creator), a plain member (m4), a
    member targeted by removal and role changes (m5), a removed member (m2), a revoked
    device (m3); in org B a device that never joined and its admin. Plus a fresh
    enrollment token, an expired one and an open invite."""
    _, admin_token = api.org()
    _, admin_b = api.org()
    expired = (
        await api.call("POST", "/v1/enrollments", admin_token, json={"ttl_seconds": 60})
    ).json()["token"]
    clock.advance(61)
    convener = await api.device(admin_token)
    member = await api.device(admin_token)
    target = await api.device(admin_token)
    removed = await api.device(admin_token)
    revoked = await api.device(admin_token)
    other = await api.device(admin_b)
    circle_id = await api.circle(convener, "m1")
    await api.join(convener, circle_id, removed, "m2")
    await api.join(convener, circle_id, revoked, "m3")
    await api.join(convener, circle_id, member, "m4")
    await api.join(convener, circle_id, target, "m5")
    r = await api.call("DELETE", f"/v1/circles/{circle_id}/members/m2", convener.token)
    assert r.status_code == 204
    assert (await api.call("DELETE", f"/v1/devices/{revoked.id}", admin_token)).status_code == 204
    enroll = (await api.call("POST", "/v1/enrollments", admin_token, json={})).json()["token"]
    invite = await api.call("POST", f"/v1/circles/{circle_id}/invites", convener.token, json={})
    programme_id = uid()
    r = await api.call("PUT", f"/v1/programmes/{programme_id}/circles/{circle_id}", convener.token)
    assert r.status_code == 200, r.text
    tokens = {
        "anonymous": None,
        "bad": "xcd_not-a-real-token",
        "expired": expired,
        "revoked": revoked.token,
        "other_admin": admin_b,
        "admin": admin_token,
        "outsider": other.token,
        "member": member.token,
        "convener": convener.token,
        "removed": removed.token,
        "enroll": enroll,
    }
    assert set(tokens) == set(ROLES)
    return {
        "tokens": tokens,
        "params": {
            "device_id": convener.id,
            "circle_id": circle_id,
            "member_id": "m5",
            "programme_id": programme_id,
        },
        "invite": invite.json()["code"],
        "devices": [convener.id, member.id, target.id],
    }


def _body(spec: Any, world: dict[str, Any]) -> Any:
    """A valid body for a route, from its MATRIX entry."""
    if spec == "new-circle":
        return {"circle_id": uid(), "member_id": "mx"}
    if spec == "invite":
        return {"code": world["invite"], "member_id": "mz"}
    if spec == "cursors":
        return {"cursors": {world["params"]["circle_id"]: 0}}
    if spec == "wait":  # nothing new in the circle: `timeout` 0 answers at once
        return {"cursors": {world["params"]["circle_id"]: 0}, "timeout": 0}
    if spec == "keys":
        return {"x25519": KEY, "ed25519": KEY}
    if spec == "rekey":
        return {"expected": 0, "wraps": dict.fromkeys(world["devices"], KEY)}
    return copy.deepcopy(spec)


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
    spec, expected = MATRIX[route]
    body = _body(spec, world)
    path = template.format(**world["params"])
    kwargs = {} if body is None else {"json": body}
    r = await api.call(method, path, world["tokens"][caller], **kwargs)
    assert r.status_code == expected[ROLES.index(caller)], r.text
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "message"}
    if route in ("POST /v1/pull", "POST /v1/wait") and caller == "removed":
        assert r.json()["denied"] == [world["params"]["circle_id"]]


# The caller for whom each body route succeeds (MATRIX's 2xx column).
_WHO = {"POST /v1/enrollments": "admin", "POST /v1/devices": "enroll"}
# Nested request models, reached through their parent's body.
_NESTED: dict[str, Callable[[Any], Any]] = {
    "POST /v1/circles/{circle_id}/ops": lambda b: b["ops"][0],
    "POST /v1/circles/{circle_id}/reseed": lambda b: b["ops"][0],
}


@pytest.mark.parametrize(
    "route", [r for r, (spec, _) in MATRIX.items() if spec is not None] + ["nested-keys"]
)
async def test_one_extra_property_is_refused(route: str, shared: tuple[FastAPI, FakeClock]) -> None:
    """SEC-15: every request model (and the models inside them) refuses a property it
    does not define, with 422, even from a caller the route would serve."""
    app, clock = shared
    api = Api(app)
    world = await _world(api, clock)
    if route == "nested-keys":
        route, body = "POST /v1/devices", {"name": "x", "keys": {"x25519": KEY, "ed25519": KEY}}
        target = body["keys"]
    else:
        body = _body(MATRIX[route][0], world)
        target = _NESTED.get(route, lambda b: b)(body)
    target["unexpected"] = 1
    method, template = route.split(" ")
    token = world["tokens"][_WHO.get(route, "convener")]
    r = await api.call(method, template.format(**world["params"]), token, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and "unexpected" in r.json()["message"]
