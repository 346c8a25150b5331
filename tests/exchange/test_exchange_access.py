"""Access matrix: every /v1 route × every kind of caller, with the status it must get.

`test_matrix_covers_every_route` fails when a route is added without a row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from .helpers import Api, envelope, uid

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

CALLERS = ["none", "bad", "revoked", "other_org", "removed", "member", "admin", "enroll"]

# route → (body or None, expected status per caller in CALLERS order)
MATRIX: dict[str, tuple[Any, list[int]]] = {
    "GET /v1/health": (None, [200, 200, 200, 200, 200, 200, 200, 200]),
    "POST /v1/enrollments": ({}, [401, 401, 401, 403, 403, 403, 201, 403]),
    "POST /v1/devices": ({"name": "new"}, [401, 401, 401, 403, 403, 403, 403, 201]),
    "DELETE /v1/devices/{device_id}": (None, [401, 401, 401, 403, 403, 204, 204, 403]),
    "GET /v1/me": (None, [401, 401, 401, 200, 200, 200, 403, 403]),
    "POST /v1/circles": ("new-circle", [401, 401, 401, 201, 201, 201, 403, 403]),
    "GET /v1/circles/{circle_id}": (None, [401, 401, 401, 404, 404, 200, 403, 403]),
    "POST /v1/circles/{circle_id}/invites": ({}, [401, 401, 401, 404, 404, 201, 403, 403]),
    "POST /v1/invites/redeem": ("invite", [401, 401, 401, 200, 200, 200, 403, 403]),
    "DELETE /v1/circles/{circle_id}/members/{member_id}": (
        None,
        [401, 401, 401, 404, 404, 204, 403, 403],
    ),
    "POST /v1/circles/{circle_id}/ops": (
        {"ops": [envelope("op-1")]},
        [401, 401, 401, 404, 404, 200, 403, 403],
    ),
    "POST /v1/pull": ("cursors", [401, 401, 401, 200, 200, 200, 403, 403]),
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
    """Every (method, path) under /v1: from the route tree and from the OpenAPI schema, so
    a route hidden from one of them is still caught."""
    found = {
        f"{method} {route.path}"
        for route in _walk(list(app.routes))
        if route.path.startswith("/v1")
        for method in route.methods
        if method != "HEAD"
    }
    for path, ops in app.openapi()["paths"].items():
        found.update(f"{method.upper()} {path}" for method in ops if path.startswith("/v1"))
    return found


def test_matrix_covers_every_route(make_app: Callable[..., FastAPI]) -> None:
    routes = _routes(make_app())
    assert not routes - set(MATRIX), (
        f"routes missing from the access matrix: {routes - set(MATRIX)}"
    )
    assert not set(MATRIX) - routes, f"matrix rows for absent routes: {set(MATRIX) - routes}"


async def _world(api: Api) -> dict[str, Any]:
    """Two orgs; in org A a member (m1, circle creator), a removed member (m2), a revoked
    device; in org B a device that never joined. Plus a fresh enrollment token and invite."""
    _, admin_token = api.org()
    _, admin_b = api.org()
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
        "none": None,
        "bad": "xcd_not-a-real-token",
        "revoked": revoked.token,
        "other_org": other.token,
        "removed": removed.token,
        "member": member.token,
        "admin": admin_token,
        "enroll": enroll,
    }
    return {
        "tokens": tokens,
        "params": {"device_id": member.id, "circle_id": circle_id, "member_id": "m1"},
        "invite": invite.json()["code"],
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(MATRIX))
async def test_access(route: str, caller: str, make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app())
    world = await _world(api)
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
    assert r.status_code == expected[CALLERS.index(caller)], r.text
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "message"}
    if route == "POST /v1/pull" and caller == "removed":
        assert r.json()["denied"] == [world["params"]["circle_id"]]
