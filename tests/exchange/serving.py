"""Helpers for fault tests: `xcircle exchange serve` as a real subprocess, devices set up
on its database, and pushers that record every answer (no client-side retries), so a
test sees each 500, 503 or refused connection the exchange gave."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from sync.exchange import admin
from sync.exchange.db import open_db
from sync.exchange.settings import ENV_AUTH_LIMIT, ENV_PULL_LIMIT

from .helpers import T0, enroll_device, envelope, uid

ROOT = Path(__file__).resolve().parents[2]


class Serve:
    """`python -m sync.exchange serve` on `port`; its stderr goes to `log`."""

    def __init__(self, db_url: str, port: int, workers: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        env = {**os.environ, ENV_AUTH_LIMIT: "1000000", ENV_PULL_LIMIT: "1000000"}
        cmd = [sys.executable, "-m", "sync.exchange", "serve", "--db", db_url]
        cmd += ["--port", str(port), "--workers", str(workers)]
        self._err: IO[bytes] = log.open("ab")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._err
        )

    def wait_ready(self, limit_s: float = 30.0) -> None:
        deadline = time.monotonic() + limit_s
        while True:
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {self.tail()}")
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """The supervisor's children (workers and multiprocessing's resource tracker)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def text(self) -> str:
        """The whole log (one access line per request, so a tail would miss warnings)."""
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return self.text()[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()


@contextmanager
def serving(
    db_url: str, port: int, log: Path, *, workers: int = 1, limit_s: float = 30.0
) -> Iterator[Serve]:
    """A `Serve` that is answering; stopped on leaving."""
    serve = Serve(db_url, port, workers, log)
    try:
        serve.wait_ready(limit_s)
        yield serve
    finally:
        serve.stop()


@dataclass
class Member:
    token: str
    circle: str


def setup_members(db_url: str, base: str, n: int) -> list[Member]:
    """`n` devices of one organization, each in a circle of its own (created over HTTP)."""
    engine = open_db(db_url, T0)
    try:
        org_id, _ = admin.add_org(engine, uid("org-"))
        tokens = [enroll_device(engine, org_id, now=int(time.time() * 1000))[1] for _ in range(n)]
    finally:
        engine.dispose()
    members = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for i, token in enumerate(tokens):
            circle = uid()
            r = http.post(
                "/v1/circles",
                json={"circle_id": circle, "member_id": f"m{i}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            members.append(Member(token, circle))
    return members


@dataclass
class Pusher:
    """Pushes 3-op batches to its circle in a thread until stopped; records answers."""

    base: str
    member: Member
    statuses: Counter[int | str] = field(default_factory=Counter)
    acked: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # 503s without Retry-After or JSON
    failures: list[tuple[float, int | str]] = field(default_factory=list)  # (when, what)
    last_ok: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def push_once(self, http: httpx.Client, n: int) -> int | str:
        ops = [envelope(f"{self.member.circle[:6]}-{n}-{k}") for k in range(3)]
        try:
            r = http.post(
                f"/v1/circles/{self.member.circle}/ops",
                json={"ops": ops},
                headers={"Authorization": f"Bearer {self.member.token}"},
            )
        except httpx.TransportError as exc:
            self.statuses[type(exc).__name__] += 1
            self.failures.append((time.monotonic(), type(exc).__name__))
            return type(exc).__name__
        self.statuses[r.status_code] += 1
        if r.status_code != 200:
            self.failures.append((time.monotonic(), r.status_code))
        if r.status_code == 200:
            self.acked += [op["op_id"] for op in ops]
            self.last_ok = time.monotonic()
        elif r.status_code == 503:
            if "retry-after" not in r.headers or r.json().get("error") != "unavailable":
                self.bad.append(r.text)
        return r.status_code

    def start(self) -> None:
        def run() -> None:
            n = 0
            with httpx.Client(base_url=self.base, timeout=30) as http:
                while not self._stop.is_set():
                    self.push_once(http, n)
                    n += 1
                    time.sleep(0.02)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(60)


def pulled(base: str, member: Member) -> list[str]:
    """Every op id of the member's circle, pulled from the start (in sequence order)."""
    seen: list[str] = []
    cursor = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            r = http.post(
                "/v1/pull",
                json={"cursors": {member.circle: cursor}, "limit": 1000},
                headers={"Authorization": f"Bearer {member.token}"},
            )
            assert r.status_code == 200, r.text
            got: dict[str, Any] = r.json()["circles"][member.circle]
            for op in got["ops"]:
                assert op["seq"] == cursor + 1
                cursor = op["seq"]
                seen.append(op["op_id"])
            if not got["more"]:
                return seen
