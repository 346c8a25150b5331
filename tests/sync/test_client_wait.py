"""`ExchangeClient.wait` alone: one attempt, what an exchange without live sync looks like
to the loop, and a held answer's stale time stamp never setting the clock skew."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from sync.client import ExchangeClient
from sync.protocol import LiveUnavailable, ServerError

NOW = 1_000_000


def _client(status: int, body: Any, seen: list[httpx.Request], stamp: int = NOW) -> ExchangeClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers={"x-exchange-time": str(stamp)})

    return ExchangeClient(
        "http://127.0.0.1:9/",
        "xcd_token",
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
        now_ms=lambda: NOW,
    )


def test_a_wait_sends_the_cursors_and_returns_the_answer() -> None:
    seen: list[httpx.Request] = []
    answer = {"changed": {"c1": 4}, "denied": [], "time": NOW}
    client = _client(200, answer, seen)
    assert client.wait({"c1": 3, "c2": 0}, timeout=25) == answer
    assert orjson.loads(seen[0].content) == {"cursors": {"c1": 3, "c2": 0}, "timeout": 25}
    assert seen[0].url.path == "/v1/wait"


def test_the_live_loop_asks_for_the_hold_the_exchange_allows_by_default() -> None:
    """Idle devices cost the exchange one request per hold: the loop asks for as long as
    the exchange holds by default (a shorter ask would double the idle requests, a
    longer one is cut to the cap), and its read timeout outlasts that hold."""
    from sync.exchange.settings import ExchangeSettings
    from sync.live import WAIT_S as LOOP_WAIT_S

    seen: list[httpx.Request] = []
    client = _client(200, {"changed": {}, "denied": [], "time": NOW}, seen)
    client.wait({"c1": 0}, timeout=LOOP_WAIT_S)
    held = ExchangeSettings(db_url="sqlite://").wait_max_seconds
    assert orjson.loads(seen[0].content)["timeout"] == held
    assert seen[0].extensions["timeout"]["read"] > held


@pytest.mark.parametrize("status", [404, 405])
def test_an_exchange_without_the_route_is_live_unavailable(status: int) -> None:
    seen: list[httpx.Request] = []
    client = _client(status, {"error": "not_found", "message": "Not Found"}, seen)
    with pytest.raises(LiveUnavailable, match=r"no live sync at http://127\.0\.0\.1:9"):
        client.wait({"c1": 0})
    assert len(seen) == 1


def test_a_failing_wait_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    client = _client(503, {"error": "unavailable", "message": "restarting"}, seen)
    with pytest.raises(ServerError):
        client.wait({"c1": 0})
    assert len(seen) == 1  # the loop decides (interval, backoff), not the client


def test_a_held_answer_does_not_set_the_clock_skew() -> None:
    seen: list[httpx.Request] = []
    # Stamped when the wait arrived, 25 s before it was answered.
    client = _client(200, {"changed": {}, "denied": [], "time": NOW}, seen, stamp=NOW - 25_000)
    client.wait({"c1": 0})
    assert client.skew_ms is None and client.server_time is None


def test_a_malformed_answer_is_a_protocol_error() -> None:
    from sync.protocol import ProtocolError

    client = _client(200, {"changed": [], "denied": []}, [])
    with pytest.raises(ProtocolError):
        client.wait({"c1": 0})
