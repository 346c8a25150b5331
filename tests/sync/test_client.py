"""The HTTP client alone: retries, backoff, error mapping, clock, no secrets in logs."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import httpx
import pytest

from sync.client import ExchangeClient
from sync.protocol import (
    AuthFailed,
    ExchangeUnreachable,
    NotMember,
    RateLimited,
    ServerError,
    TooLarge,
    make_invite_code,
    parse_invite_code,
)
from xcircle.errors import XCircleError

TOKEN = "xcd_secret-token-value"
Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kw: object) -> tuple[ExchangeClient, list[float]]:
    sleeps: list[float] = []
    client = ExchangeClient(
        "http://127.0.0.1:9/",
        TOKEN,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        now_ms=lambda: 1_000_000,
        **kw,  # type: ignore[arg-type]
    )
    return client, sleeps


def _json(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"X-Exchange-Time": "1060000", **headers})


def test_retries_429_honouring_retry_after_then_succeeds() -> None:
    answers = iter(
        [_json(429, {"error": "rate_limited", "message": "slow"}, **{"Retry-After": "7"})]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return next(answers, _json(200, {"circles": {}, "denied": [], "time": 1}))

    client, sleeps = _client(handler)
    assert client.pull({}, 10)["denied"] == []
    assert client.requests == 2 and sleeps[0] >= 7
    assert client.server_time == 1_060_000 and client.skew_ms == 60_000


def test_retry_after_is_bounded_and_then_raised() -> None:
    client, sleeps = _client(lambda r: _json(429, {"message": "slow"}, **{"Retry-After": "9999"}))
    with pytest.raises(RateLimited, match="slow"):
        client.me()
    assert client.requests == 4 and max(sleeps) <= 30


def test_5xx_backs_off_exponentially_with_jitter() -> None:
    client, sleeps = _client(lambda r: _json(503, {"message": "down"}), retries=5, backoff_s=1)
    with pytest.raises(ServerError, match="down"):
        client.me()
    assert client.requests == 6
    caps = [1, 2, 4, 5, 5]  # doubling, capped at max_backoff_s
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


def test_connect_errors_are_retried_then_one_line() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client, _ = _client(refuse)
    with pytest.raises(ExchangeUnreachable) as err:
        client.me()
    assert client.requests == 4
    assert str(err.value).startswith("cannot reach http://127.0.0.1:9: ")
    assert "\n" not in str(err.value)


def test_enrollment_is_not_retried_once_sent() -> None:
    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)

    client, _ = _client(lost)
    with pytest.raises(ExchangeUnreachable):
        client.enroll("laptop")
    assert client.requests == 1  # the token may be consumed: never send it twice


@pytest.mark.parametrize(("status", "kind"), [(401, AuthFailed), (404, NotMember), (413, TooLarge)])
def test_statuses_map_to_our_errors(status: int, kind: type[Exception]) -> None:
    client, _ = _client(lambda r: _json(status, {"error": "x", "message": "nope"}))
    with pytest.raises(kind) as err:
        client.me()
    assert isinstance(err.value, XCircleError) and "nope" in str(err.value)
    assert client.requests == 1


def test_a_closed_port_says_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ExchangeClient(f"http://127.0.0.1:{port}", TOKEN, retries=0)
    with pytest.raises(ExchangeUnreachable, match="connection refused"):
        client.me()


def test_tokens_and_payloads_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([_json(503, {"message": "x"})])
    client, _ = _client(lambda r: next(answers, _json(200, {"results": [], "next_seq": 1})))
    with caplog.at_level(logging.DEBUG):
        client.push("c1", [{"op_id": "o1", "epoch": 0, "nonce": "", "payload": "U0VDUkVU"}])
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records and TOKEN not in text and "U0VDUkVU" not in text


def test_invite_codes_carry_the_exchange() -> None:
    full = make_invite_code("xci_abc", "https://ex.example:8443")
    assert parse_invite_code(full) == ("xci_abc", "https://ex.example:8443")
    assert parse_invite_code("  xci_abc ") == ("xci_abc", None)
    with pytest.raises(XCircleError):
        parse_invite_code("hello")
