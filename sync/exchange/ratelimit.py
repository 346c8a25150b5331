"""Rate limits and quotas whose counters live in the database, so every worker process (and
every host on one database) sees the same count: the (limit + 1)-th request in a window
is refused whichever worker answers it.

Fixed windows: a counter row per (limit, subject) holds its window's start and the count
in it; one upsert moves it and returns the new count. A refused request rolls back with
its transaction and does not count. Pulls stay limited per process (`limits.RateLimiter`):
they are the read path and must not take a write.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, case, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import metrics
from .db import rate_counters, write_tx
from .errors import ExchangeError

MINUTE_MS = 60_000
DAY_MS = 86_400_000
_PRUNE_EVERY = 200  # per process: drop counter rows of past windows every so many IP hits
_KEEP_MS = 2 * DAY_MS


@dataclass(frozen=True)
class Limit:
    """`per` events per window of `window_ms`; `kind` names it in keys and metrics."""

    kind: str
    per: int
    window_ms: int
    what: str  # "too many {what}" in the 429's message


def window_start(now: int, window_ms: int) -> int:
    """The start (ms) of the fixed window holding `now`."""
    return now - now % window_ms


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> dict[Any, int]:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    ins = insert(rate_counters).values(rows)
    same = rate_counters.c.window == ins.excluded.window
    stmt = ins.on_conflict_do_update(
        index_elements=[rate_counters.c.key],
        # Both dialects evaluate SET expressions on the old row: `same` compares the old
        # window with the new one.
        set_={
            "count": case(
                (same, rate_counters.c.count + ins.excluded.count), else_=ins.excluded.count
            ),
            "window": ins.excluded.window,
        },
    ).returning(rate_counters.c.key, rate_counters.c.count)
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def count(conn: Connection, hits: list[tuple[Limit, str, int]], now: int) -> None:
    """Add each `(limit, subject, amount)` to its counter on the caller's write
    transaction; raise 429 (with Retry-After to the window's end) if any goes over."""
    rows = []
    for limit, subject, amount in hits:
        rows.append(
            {
                "key": f"{limit.kind}:{subject}"[:160],
                "window": window_start(now, limit.window_ms),
                "count": amount,
            }
        )
    counts = _upsert(conn, rows)
    for (limit, _subject, _amount), row in zip(hits, rows, strict=True):
        if counts[row["key"]] > limit.per:
            metrics.refused(limit.kind)
            raise rate_limited(limit, now)


def rate_limited(limit: Limit, now: int) -> ExchangeError:
    """The 429 for `limit` at `now`: Retry-After is the rest of the window, in seconds."""
    wait_ms = window_start(now, limit.window_ms) + limit.window_ms - now
    return ExchangeError(
        429,
        "rate_limited",
        f"too many {limit.what}; retry later",
        {"Retry-After": str(max(1, -(-wait_ms // 1000)))},
    )


class IpLimits:
    """The per-client-address budget shared by enrollment attempts, invite redeems and
    failed authentications (guessing), each counted in its own short transaction."""

    def __init__(self, engine: Engine, per_minute: int) -> None:
        self.engine = engine
        self.limit = Limit("ip", max(per_minute, 1), MINUTE_MS, "attempts from this address")
        self._calls = itertools.count(1)

    def take(self, ip: str, now: int) -> None:
        """Count one attempt from `ip`, or raise 429 past the limit."""
        with write_tx(self.engine) as conn:
            if next(self._calls) % _PRUNE_EVERY == 0:
                conn.execute(delete(rate_counters).where(rate_counters.c.window < now - _KEEP_MS))
            count(conn, [(self.limit, ip, 1)], now)
