"""A scripted exchange behind `httpx.MockTransport`, for the hostile-exchange tests
(SEC-21, SEC-22): it answers pulls with whatever pages a test gives it, and honestly
(from its log) once the script runs out."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from sync.client import ExchangeClient
from sync.state import Credentials, mark_shared, save_credentials
from xcircle.ops import Op, new_id
from xcircle.store import Store

URL = "http://127.0.0.1:9"
AUTHOR = "f" * 16
Page = dict[str, Any]  # the whole answer to one pull
Script = Callable[[dict[str, int]], Page | None]  # cursors -> answer (None: answer honestly)


def feedback_op(circle: str, n: int) -> Op:
    """A valid append-only op (one record per op id: a second apply would show)."""
    fields = {
        **{"meeting": "a" * 32, "presenter": "b" * 32, "giver": "c" * 32},
        **{"kind": "advice", "text": f"feedback {n}", "at": "2026-11-23T10:00:00+00:00"},
    }
    op_id = new_id()  # append-only: the record's key is the op's id
    stamp = f"{1_700_000_000_000 + n:013d}-000000-{AUTHOR}"
    return Op(op_id, circle, "feedback", op_id, stamp, AUTHOR, fields)


def envelope(seq: int, op_id: str, blob: bytes, epoch: int = 0) -> dict[str, Any]:
    payload = base64.b64encode(blob).decode()
    return {"seq": seq, "op_id": op_id, "epoch": epoch, "nonce": "", "payload": payload}


class HostileExchange:
    """Per circle an honest log of envelopes; `script` may answer any pull instead."""

    def __init__(self) -> None:
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.script: Script = lambda cursors: None
        self.pulls = 0

    def append(self, circle: str, op: Op) -> None:
        log = self.logs.setdefault(circle, [])
        log.append(envelope(len(log) + 1, op.id, op.to_bytes()))

    def honest(self, cursors: dict[str, int], limit: int = 1000) -> Page:
        circles = {}
        for cid, after in cursors.items():
            ops = self.logs.get(cid, [])[after : after + limit]
            nxt = ops[-1]["seq"] if ops else after
            circles[cid] = {"ops": ops, "next": nxt, "more": nxt < len(self.logs.get(cid, []))}
        return {"circles": circles, "denied": []}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/pull":
            return httpx.Response(404, json={"error": "not_found", "message": "no such route"})
        self.pulls += 1
        cursors = orjson.loads(request.content)["cursors"]
        answer = self.script(cursors)
        body = orjson.dumps(self.honest(cursors) if answer is None else answer)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    def client(self) -> ExchangeClient:
        return ExchangeClient(URL, "xcd_t", transport=httpx.MockTransport(self.handle),
                              retries=0)  # fmt: skip


def shared_home(home: Path, circles: list[str]) -> Store:
    """A joined device whose `circles` are shared, empty and at cursor 0."""
    store = Store(home)
    store.save_profile(name="Ada", org="Acme", seniority=None, tz="")
    save_credentials(store, Credentials(URL, "xcd_t", "dev", "Acme"))
    for cid in circles:
        mark_shared(store, cid, "d" * 32)
    return store
