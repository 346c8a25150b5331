"""The per-circle counter lock, asserted directly on both backends: while a push transaction
holds uncommitted ops, nobody else can take the circle's counter row (PostgreSQL) or the
database write lock (SQLite), and a second push to the circle waits and then continues the
sequence. A push without that lock would let a reader's cursor skip ops that commit late.
Also: the optimistic push path never leaves a gap in the sequence when it has to retry."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from sync.exchange import admin, members, store
from sync.exchange.auth import authenticate_member
from sync.exchange.db import is_postgres, open_db
from sync.exchange.models import Envelope
from sync.exchange.settings import ExchangeSettings

from .helpers import T0, enroll_device, envelope, uid

QUOTAS = ExchangeSettings(db_url="sqlite://").quotas()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_db(db_url, T0)
    yield eng
    eng.dispose()


def _member(engine: Engine) -> tuple[str, str, str]:
    """A device (id and token) and a circle it belongs to."""
    org_id, _ = admin.add_org(engine, uid("org-"), now_ms=T0)
    device_id, token = enroll_device(engine, org_id)
    circle_id = uid()
    assert store.create_circle(engine, device_id, circle_id, "m1", T0, QUOTAS)
    return device_id, token, circle_id


def _push(engine: Engine, token: str, circle_id: str, op_ids: list[str]) -> list[int]:
    envs = [Envelope.model_validate(envelope(op_id)) for op_id in op_ids]

    def caller(conn: Any) -> str:
        return authenticate_member(conn, token, circle_id, T0)

    results, _ = store.push(
        engine, caller, circle_id, envs, store.decode_ops(envs, QUOTAS.max_op_bytes), T0
    )
    return [r["seq"] for r in results]


def _counter_is_free(engine: Engine, circle_id: str) -> bool:
    """Can another transaction take the circle's counter right now (without waiting)?
    On PostgreSQL FOR NO KEY UPDATE: what updating next_seq takes, and unlike FOR UPDATE
    it ignores the KEY SHARE lock that the ops' foreign key alone puts on the row."""
    if is_postgres(engine):
        try:
            with engine.connect() as conn, conn.begin():
                conn.execute(
                    text("SELECT next_seq FROM circles WHERE id = :c FOR NO KEY UPDATE NOWAIT"),
                    {"c": circle_id},
                )
            return True
        except OperationalError:  # psycopg's LockNotAvailable
            return False
    probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        probe.close()


def test_counter_is_locked_while_a_push_transaction_is_open(engine: Engine) -> None:
    _, token, circle_id = _member(engine)
    inserted, release = threading.Event(), threading.Event()
    paused: list[threading.Thread] = []

    def pause_after_insert(
        _conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        # Inside the push transaction, after its ops rows are written, before COMMIT.
        if statement.lstrip().upper().startswith("INSERT INTO OPS") and paused:
            if threading.current_thread() is paused[0]:
                inserted.set()
                release.wait(10)

    seqs: dict[str, list[int]] = {}

    def run(name: str, op_ids: list[str]) -> None:
        seqs[name] = _push(engine, token, circle_id, op_ids)

    first = threading.Thread(target=run, args=("first", ["a1", "a2", "a3"]))
    second = threading.Thread(target=run, args=("second", ["b1", "b2"]))
    paused.append(first)
    event.listen(engine, "after_cursor_execute", pause_after_insert)
    try:
        first.start()
        assert inserted.wait(10), "the first push never reached its INSERT"
        assert not _counter_is_free(engine, circle_id), "counter not locked during a push"
        second.start()
        second.join(0.3)
        assert second.is_alive(), "a second push to the circle did not wait for the first"
    finally:
        release.set()
        first.join(10)
        second.join(10)
        event.remove(engine, "after_cursor_execute", pause_after_insert)
    assert _counter_is_free(engine, circle_id)
    assert seqs == {"first": [1, 2, 3], "second": [4, 5]}


def test_retried_push_leaves_no_gap(engine: Engine) -> None:
    device_id, token, circle_id = _member(engine)
    assert _push(engine, token, circle_id, ["x", "y"]) == [1, 2]
    # All known: the optimistic INSERT fails, the careful retry answers the old seqs.
    assert _push(engine, token, circle_id, ["y", "x"]) == [2, 1]
    # Known and new mixed, with a duplicate inside the push.
    assert _push(engine, token, circle_id, ["z", "x", "z", "w"]) == [3, 1, 3, 4]
    # Nothing was reserved by the failed attempts: the sequence goes on without a gap.
    assert _push(engine, token, circle_id, ["v"]) == [5]
    assert members.circle_view(engine, device_id, circle_id)["next_seq"] == 6
    pulled, _ = store.pull(
        engine, lambda _conn: device_id, {circle_id: 0}, 100, QUOTAS.max_pull_bytes
    )
    assert [op["seq"] for op in pulled[circle_id]["ops"]] == [1, 2, 3, 4, 5]
    assert [op["op_id"] for op in pulled[circle_id]["ops"]] == ["x", "y", "z", "w", "v"]
