"""A real `serve` process (SEC-17, SEC-19): limits shared by several workers on
PostgreSQL, forwarded headers believed only from `--forwarded-allow-ips`, and what the
server's answers and logs leave out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: str, log_path: Path, *args: str, **env: str) -> Iterator[str]:
    """`python -m sync.exchange serve --db DB ARGS` on a free loopback port; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XCIRCLE_EXCHANGE")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sync.exchange",
                "serve",
                "--db",
                db,
                "--port",
                str(port),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**clean, **env},
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the exchange did not start in 30 s"
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def _me(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    # A new connection per request: the kernel hands each to whichever worker accepts.
    with httpx.Client(base_url=url, timeout=10) as http:
        return http.get("/v1/me", headers={"Authorization": "Bearer xcd_guess", **(headers or {})})


@pytest.mark.postgres
def test_the_limit_holds_whichever_of_two_workers_answers(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    limit = 12
    env = {"XCIRCLE_EXCHANGE_AUTH_FAILS_PER_MINUTE": str(limit)}
    with serving(fresh_pg_url, tmp_path / "server.log", "--workers", "2", **env) as url:
        # Start at the beginning of a minute window, so the burst falls in one.
        time.sleep(max(0.0, 60 - time.time() % 60) if time.time() % 60 > 45 else 0)
        codes = [_me(url).status_code for _ in range(limit + 8)]
        assert codes == [401] * limit + [429] * 8
        metrics = httpx.get(f"{url}/metrics").text
    # Both workers' samples, summed: every refusal is counted whichever worker answered.
    line = next(x for x in metrics.splitlines() if x.startswith("xcircle_exchange_rate_limited"))
    assert line.endswith(" 8.0") and 'limit="ip"' in line


def test_forwarded_addresses_are_believed_only_from_the_named_proxy(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    env = {"XCIRCLE_EXCHANGE_AUTH_FAILS_PER_MINUTE": "3"}
    with serving(db, tmp_path / "direct.log", **env) as url:
        # No proxy named: forged addresses are ignored, every guess counts for 127.0.0.1.
        forged = [_me(url, {"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)]
        assert Counter(forged) == {401: 3, 429: 2}
    with serving(db, tmp_path / "proxied.log", "--forwarded-allow-ips", "127.0.0.1", **env) as url:
        clients = [_me(url, {"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(5)]
        assert clients == [401] * 5  # one bucket per client behind the proxy
        one = [_me(url, {"X-Forwarded-For": "203.0.113.77"}).status_code for _ in range(4)]
        assert one == [401, 401, 401, 429]


def test_answers_and_logs_leave_out_what_they_must(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    log = tmp_path / "server.log"
    with serving(db, log) as url:
        r = httpx.get(f"{url}/v1/health?token=xcd_secret_in_query")
        assert r.status_code == 200
        assert "server" not in r.headers and len(r.headers["x-request-id"]) == 16
        bad = httpx.post(
            f"{url}/v1/pull",
            json={"cursors": {"k" * 5000: 0}},
            headers={"Authorization": "Bearer xcd_x"},
        )
        assert bad.status_code in (401, 422)
    text = log.read_text()
    assert "xcd_secret_in_query" not in text and "?token" not in text
    assert "GET /v1/health 200" in text and r.headers["x-request-id"] in text
    assert "k" * 200 not in text and "Traceback" not in text
