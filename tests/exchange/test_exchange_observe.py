"""What the exchange tells its operator (metrics, readiness, logs) and what it keeps out
of logs and error bodies (SEC-19)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine

from sync.exchange import store

from .helpers import Api, envelope


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_latency_ops_and_refusals(
    make_app: Callable[..., FastAPI],
) -> None:
    api = Api(make_app(push_limit_per_minute=1))
    before = (await api.call("GET", "/metrics")).text
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    circle_id = await api.circle(dev)
    assert (await api.push(dev, circle_id, [envelope("a"), envelope("b")])).status_code == 200
    assert (await api.push(dev, circle_id, [envelope("c")])).status_code == 429
    assert (await api.pull(dev, {circle_id: 0})).status_code == 200
    r = await api.call("GET", "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text

    def grew(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    push = {"method": "POST", "route": "/v1/circles/{circle_id}/ops"}
    assert grew("xcircle_exchange_requests_total", **push, status="200") == 1
    assert grew("xcircle_exchange_requests_total", **push, status="429") == 1
    assert grew("xcircle_exchange_sync_seconds_count", route="push") == 2
    assert grew("xcircle_exchange_sync_seconds_count", route="pull") == 1
    assert grew("xcircle_exchange_ops_stored_total") == 2
    assert grew("xcircle_exchange_rate_limited_total", limit="push") == 1
    assert circle_id not in after  # labels are route templates, never ids


async def test_readiness_checks_the_database(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    api = Api(app)
    r = await api.call("GET", "/ready")
    assert r.status_code == 200 and r.json() == {"ok": True}
    ctx = app.state.ctx
    real = ctx.engine
    ctx.engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    try:
        r = await api.call("GET", "/ready")
        assert r.status_code == 503 and r.json()["error"] == "unavailable"
        assert (await api.call("GET", "/v1/health")).status_code == 200  # liveness stays up
    finally:
        ctx.engine.dispose()
        ctx.engine = real


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_5xx_logs_its_class_and_request_id_only(
    make_app: Callable[..., FastAPI],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = Api(make_app())
    _, admin_token = api.org()
    dev = await api.device(admin_token)

    def broken(*_args: object) -> object:
        raise RuntimeError("SELECT secret FROM tokens WHERE hash = 'xcd_leak'")

    monkeypatch.setattr(store, "my_circles", broken)
    with caplog.at_level(logging.INFO):
        r = await api.call("GET", "/v1/me", dev.token)
    assert r.status_code == 500
    assert r.json() == {"error": "internal", "message": "internal server error"}
    request_id = r.headers["x-request-id"]
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    line = errors[0].getMessage()
    assert "RuntimeError" in line and request_id in line
    everything = caplog.text + "".join(str(rec.exc_info) for rec in caplog.records)
    assert "SELECT" not in everything and "xcd_leak" not in everything
    assert dev.token not in everything


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_422_bodies_are_short_and_echo_no_input(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app())
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    key = "x" * 3000 + "\x1b[2J"
    r = await api.call("POST", "/v1/pull", dev.token, json={"cursors": {key: 0}})
    assert r.status_code == 422
    message = r.json()["message"]
    assert len(message) <= 300 and "x" * 50 not in message and "\x1b" not in message
