"""SEC-21: a hostile exchange (pages reordered, dropped, duplicated, forked) makes the
client stop that circle with a clear message; nothing is applied twice, nothing crashes,
the other circles sync, and an honest exchange later completes the circle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.archive import Archive
from sync.engine import sync
from sync.protocol import SyncError

from .hostile_exchange import HostileExchange, Page, feedback_op, shared_home

A, B = "a1" * 16, "b2" * 16
N = 6


@pytest.fixture
def exchange() -> HostileExchange:
    ex = HostileExchange()
    for cid in (A, B):
        for n in range(N):
            ex.append(cid, feedback_op(cid, n))
    return ex


def page(ex: HostileExchange, ops: list[dict[str, Any]], nxt: int, more: bool = False) -> Page:
    """A pull answer: circle A gets `ops`, circle B its honest page."""
    honest = ex.honest({B: 0})["circles"]
    return {"circles": {A: {"ops": ops, "next": nxt, "more": more}, **honest}, "denied": []}


def hostile_pages(ex: HostileExchange) -> dict[str, tuple[Page, str]]:
    log = ex.logs[A]
    other = feedback_op(A, 99)
    forked = {**log[2], "op_id": other.id, "payload": ex_payload(other)}
    return {
        "reordered": (page(ex, [log[0], log[2], log[1]], 3), "expected seq 2, got 3"),
        "dropped": (page(ex, [log[0], log[2]], 3), "expected seq 2, got 3"),
        "duplicated": (page(ex, [log[0], log[1], log[1], log[2]], 3), "expected seq 3, got 2"),
        "rewound": (page(ex, [log[0], log[1]], 2, more=True), "expected seq 3, got 1"),
        "next lies": (page(ex, log[:2], 5), "ops end at seq 2 but the exchange said next is 5"),
        "next behind": (page(ex, log[:3], 1), "ops end at seq 3 but the exchange said next is 1"),
        "forked": (page(ex, [log[0], log[1], forked, log[3]], 4), ""),
        "not a list": (page(ex, "nope", 3), "malformed batch"),  # type: ignore[arg-type]
        "no seq": (page(ex, [{"op_id": "x"}], 1), "without seq or op id"),
    }


def ex_payload(op: Any) -> str:
    import base64

    return base64.b64encode(op.to_bytes()).decode()


def feedback_ids(store: Any, cid: str) -> list[str]:
    return sorted(f["id"] for f in store.records(cid, "feedback"))


CASES = [
    "reordered", "dropped", "duplicated", "rewound", "next lies", "next behind", "forked",
    "not a list", "no seq",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_page_stops_only_that_circle(
    tmp_path: Path, exchange: HostileExchange, case: str
) -> None:
    answer, message = hostile_pages(exchange)[case]
    sent = {"first": False}

    def script(cursors: dict[str, int]) -> Page | None:
        if sent["first"]:
            # The hostile exchange keeps lying about circle A; B is done.
            return {"circles": {}, "denied": []} if A not in cursors else answer
        sent["first"] = True
        return answer

    exchange.script = script
    store = shared_home(tmp_path / "home", [A, B])
    try:
        with exchange.client() as client:
            report = sync(store, client)
        a = report.circles[A]
        if case == "forked":
            # Same seqs, another op: undetectable by seq alone; each op is applied once
            # and the cursor moves on (the fork's op lands, the original is never seen).
            assert a.gap is None and store.meta(A)["cursor"] == 4
        else:
            assert a.gap is not None and message in a.gap, a.gap
            assert any(w.startswith(f"circle {A[:8]}: ") for w in report.warnings)
        # B is untouched by A's trouble.
        assert report.circles[B].gap is None and len(feedback_ids(store, B)) == N
        before = feedback_ids(store, A)
        assert len(before) == store.meta(A)["cursor"]  # exactly the accepted prefix, once
        # The device's copy of the log (written while the page is decoded) holds that
        # prefix too, and nothing the exchange sent past it.
        kept = sorted(Archive(store.home, A).entries())
        assert kept == list(range(1, store.meta(A)["cursor"] + 1))

        exchange.script = lambda cursors: None  # an honest exchange completes the circle
        with exchange.client() as client:
            again = sync(store, client)
        assert again.circles[A].gap is None
        expected = {e["op_id"] for e in exchange.logs[A]}
        got = set(feedback_ids(store, A))
        if case == "forked":
            assert len(got) == N and expected - got == {exchange.logs[A][2]["op_id"]}
        else:
            assert got == expected and len(feedback_ids(store, A)) == N  # never twice
        assert store.meta(A)["cursor"] == N
    finally:
        store.close()


def test_a_garbage_answer_is_our_own_error(tmp_path: Path, exchange: HostileExchange) -> None:
    exchange.script = lambda cursors: {"circles": ["not", "a", "dict"]}
    store = shared_home(tmp_path / "home", [A])
    try:
        with exchange.client() as client, pytest.raises(SyncError, match="without circles"):
            sync(store, client)
        assert store.meta(A)["cursor"] == 0
    finally:
        store.close()


def test_a_replayed_op_under_a_new_seq_is_applied_once(
    tmp_path: Path, exchange: HostileExchange
) -> None:
    log = exchange.logs[A]
    replay = [*log[:3], {**log[0], "seq": 4}]  # op 1 again, as seq 4
    exchange.script = lambda c: page(exchange, replay, 4, True) if c.get(A, 0) == 0 else None
    store = shared_home(tmp_path / "home", [A])
    try:
        with exchange.client() as client:
            report = sync(store, client)
        assert report.circles[A].merged == 3 + (N - 4)  # the replay changed nothing
        assert len(feedback_ids(store, A)) == N - 1  # log[3] was never sent: seq 4 was a replay
    finally:
        store.close()


def test_an_exchange_error_message_cannot_drive_the_terminal() -> None:
    import httpx

    from sync.client import ExchangeClient

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": "x", "message": "bad\x1b]52;c;QUFB\x07 \u202erequest\x9b2J"}
        return httpx.Response(400, json=body)

    client = ExchangeClient("http://127.0.0.1:9", "xcd_t", transport=httpx.MockTransport(handler))
    with client, pytest.raises(SyncError) as err:
        client.health()
    assert str(err.value) == "bad]52;c;QUFB request2J"
