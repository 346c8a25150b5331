"""Live sync: `POST /v1/wait`, a long poll that answers when a circle the device belongs to
gets new ops (or a member removal, rekey or join), so devices need not poll.

Waking across workers:

- PostgreSQL: a write that concerns a circle sends `NOTIFY xcircle_live, '<circle id>'`
  (inside a push's own transaction, so it is delivered exactly when the ops commit); each
  worker process holds ONE listening connection, in a thread of its own, started with the
  first wait, and wakes its local waiters through their asyncio events. The thread sleeps
  in the kernel until a notification comes (no polling timer while idle). While that
  connection is down, waits answer
  503 (the clients sync on their interval meanwhile); when it comes back, every waiter
  re-checks the database, so nothing committed in between is missed.
- SQLite (one worker): the routes wake waiters in-process once their write committed.

A waiter registers before it reads the database, so an op committed between its read and
its sleep still wakes it. Waiting costs no thread: the route is `async` and only its two
short database reads run on the thread pool. Bounds, per worker process: waits per device
(429) and waits in all (503), each with Retry-After; a wait lasts at most
`wait_max_seconds` (50 s by default, under common proxy read timeouts of 60 s), and a
process told to stop answers every waiter at once instead of holding shutdown.

What an idle device costs: one request per hold (first read on the thread pool, the
answer), nothing while it waits (no timer but its own timeout, no database work).
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, and_, bindparam, event, func, select
from starlette.concurrency import run_in_threadpool

from . import metrics
from .auth import LIVENESS, check_token, hash_or_none
from .db import circle_members, circles, devices, is_postgres, tokens
from .errors import ExchangeError, not_found
from .limits import RateLimiter
from .models import ErrorBody, Ident, JsonInt, Seq, _Body
from .routes import Call, Creds, OrjsonResponse
from .tokens import DEVICE

log = logging.getLogger(__name__)

CHANNEL = "xcircle_live"
APP_NAME = "xcircle-live"  # the listener's `application_name` in pg_stat_activity
LISTEN_READY_S = 5.0  # how long a first wait waits for the listener to be listening
RECONNECT_MAX_S = 10.0


@dataclass(eq=False)
class _Waiter:
    device_id: str | None  # None until the caller is known (`LiveHub.claim`)
    circles: frozenset[str]
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event
    woken: set[str] = field(default_factory=set)

    def wake(self, circle: str | None) -> None:
        """On the waiter's own loop; None (the listener reconnected, the process stops):
        nothing named, the waiter just re-checks."""
        if circle is not None:
            self.woken.add(circle)
        self.event.set()


class LiveHub:
    """The waiters of one worker process and how they are woken (see the module doc)."""

    def __init__(self, engine: Engine, per_device: int, in_all: int, limiter: RateLimiter) -> None:
        self.engine = engine
        # The wait's reads, one statement each, in autocommit: no BEGIN before them and
        # no ROLLBACK when the connection goes back to the pool (two round trips of
        # three, on the path 200 idle devices take every hold).
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.limiter = limiter  # waits per minute per token, per process (like pulls)
        self._signals = False
        self.postgres = is_postgres(engine)
        self.per_device = per_device
        self.in_all = in_all
        self._lock = threading.Lock()
        self._by_circle: dict[str, set[_Waiter]] = {}
        self._per_device: Counter[str] = Counter()
        self._count = 0
        self.closing = False
        self._listener: _Listener | None = None
        # Whoever disposes of the engine (lifespan's end, a test) ends the listener too;
        # the next wait starts another (a disposed engine still serves).
        event.listen(engine, "engine_disposed", lambda _engine: self._end_listener())

    # -- waiters -----------------------------------------------------------------------

    def admit(self, circle_ids: frozenset[str]) -> _Waiter:
        """Register a waiter on its circles (before anything is read, see the module doc),
        or raise 503 (this process holds as many waits as it may, or is stopping)."""
        if self.closing:
            raise _unavailable("the exchange is restarting", 1)
        waiter = _Waiter(None, circle_ids, asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._count >= self.in_all:
                metrics.refused("waits")
                raise _unavailable("too many waiting devices; sync on your interval", 30)
            self._count += 1
            metrics.WAITING.inc()
            for cid in circle_ids:
                self._by_circle.setdefault(cid, set()).add(waiter)
        return waiter

    def claim(self, waiter: _Waiter, device_id: str) -> None:
        """The waiter is this device's, or 429 if the device holds as many as it may."""
        with self._lock:
            if self._per_device[device_id] >= self.per_device:
                metrics.refused("waits_per_device")
                raise ExchangeError(
                    429,
                    "rate_limited",
                    f"at most {self.per_device} waiting requests per device",
                    {"Retry-After": "5"},
                )
            self._per_device[device_id] += 1
            waiter.device_id = device_id

    def leave(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter.device_id is not None:
                self._per_device[waiter.device_id] -= 1
                if self._per_device[waiter.device_id] <= 0:
                    del self._per_device[waiter.device_id]
            self._count -= 1
            metrics.WAITING.dec()
            for cid in waiter.circles:
                group = self._by_circle.get(cid)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._by_circle[cid]

    @property
    def waiting(self) -> int:
        return self._count

    def held_by(self, device_id: str) -> int:
        """Waits this process holds for `device_id` (once its token was checked)."""
        with self._lock:
            return self._per_device.get(device_id, 0)

    @property
    def listening(self) -> bool:
        """On PostgreSQL, whether this process's listener is connected and LISTENing."""
        listener = self._listener
        return listener is not None and listener.ready.is_set()

    def wake(self, circle_id: str | None) -> None:
        """Wake this process's waiters on `circle_id` (None: every waiter). Any thread."""
        with self._lock:
            if circle_id is None:
                targets = {w for group in self._by_circle.values() for w in group}
            else:
                targets = set(self._by_circle.get(circle_id, ()))
        for waiter in targets:
            try:
                waiter.loop.call_soon_threadsafe(waiter.wake, circle_id)
            except RuntimeError:  # the waiter's loop is closed: it is gone already
                pass

    # -- telling the others ------------------------------------------------------------

    def in_tx(self, conn: Connection, circle_id: str) -> None:
        """Inside a write transaction about `circle_id`: on PostgreSQL, NOTIFY every
        worker when (and only if) it commits. Pair with `committed`."""
        if self.postgres:
            conn.execute(_NOTIFY, {"channel": CHANNEL, "circle": circle_id})

    def committed(self, circle_id: str) -> None:
        """After a write that called `in_tx` committed: on SQLite, wake in-process."""
        if not self.postgres:
            self.wake(circle_id)

    def changed(self, circle_id: str) -> None:
        """After a write about `circle_id` committed (removal, rekey, join): tell every
        worker. A failure here is logged, never raised: the write succeeded, and waiters
        still wake at their timeout."""
        if not self.postgres:
            self.wake(circle_id)
            return
        try:
            with self.engine.connect() as conn, conn.begin():
                self.in_tx(conn, circle_id)
        except Exception as exc:
            log.warning("live notification for a circle failed: %s", type(exc).__name__)

    # -- lifecycle ---------------------------------------------------------------------

    def started(self) -> None:
        """On the first wait, on the serving loop: stop waits when the process stops."""
        if not self._signals:
            self._signals = True
            chain_stop_on_signals(self)

    def ensure_listening(self) -> None:
        """On PostgreSQL, start this process's listener (once) and wait until it listens;
        503 if it cannot. Blocking: call on the thread pool."""
        if not self.postgres:
            return
        with self._lock:
            if self._listener is None:
                self._listener = _Listener(self)
                self._listener.start()
            listener = self._listener
        if not listener.ready.wait(LISTEN_READY_S):
            raise _unavailable("live updates are unavailable; sync on your interval", 5)

    def start(self) -> None:
        """The app (re)starts serving (lifespan): waits are welcome again."""
        self.closing = False

    def stop(self) -> None:
        """The process stops: answer every waiter now, refuse new ones, end the listener."""
        self.closing = True
        self.wake(None)
        self._end_listener()

    def _end_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()


_NOTIFY = select(func.pg_notify(bindparam("channel"), bindparam("circle")))


def _unavailable(message: str, retry_s: int) -> ExchangeError:
    return ExchangeError(503, "unavailable", message, {"Retry-After": str(retry_s)})


class _Listener:
    """One PostgreSQL connection per worker process, LISTENing on `CHANNEL` in a daemon
    thread; reconnects with backoff, and wakes every waiter after a reconnect.

    The thread sleeps in the kernel until the database sends something or `stop` writes
    to its wake-up socket: no timer, so an idle worker's listener costs nothing (psycopg's
    own `notifies(timeout=…)` wakes ten times a second to look for signals). TCP
    keepalives let the kernel notice a database host that vanished without closing the
    connection; the socket then reads as closed and the listener reconnects."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="xcircle-live", daemon=True)
        url = hub.engine.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Any thread: the listener ends at once (its blocked select is woken)."""
        self._stop.set()
        try:
            self._wake_w.send(b"\0")
        except OSError:  # already closed: the thread has ended
            pass

    def join(self, timeout: float) -> bool:
        """Whether the thread ended within `timeout` (tests)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        try:
            while not self._stop.is_set():
                try:
                    with psycopg.connect(
                        self._dsn,
                        autocommit=True,
                        connect_timeout=5,
                        application_name=APP_NAME,
                        # libpq: the first probe after 30 s idle, then every 10 s, 3 tries
                        keepalives=1,
                        keepalives_idle=30,
                        keepalives_interval=10,
                        keepalives_count=3,
                    ) as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        backoff = 0.5
                        was_down = not self.ready.is_set()
                        self.ready.set()
                        if was_down:
                            self.hub.wake(None)  # missed notifications: everyone re-checks
                        self._listen(conn)
                except Exception as exc:
                    if self._stop.is_set():
                        return
                    self.ready.clear()
                    log.warning(
                        "live listener lost its database connection: %s", type(exc).__name__
                    )
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, RECONNECT_MAX_S)
        finally:
            self._wake_r.close()
            self._wake_w.close()

    def _listen(self, conn: Any) -> None:
        """Until `stop`: sleep until the connection has something, then hand out the
        notifications that arrived (without blocking). A closed connection reads as
        ready and then raises, which ends this for a reconnect."""
        with selectors.DefaultSelector() as selector:  # epoll: any fd number
            selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set():
                selector.select()
                for note in conn.notifies(timeout=0):
                    self.hub.wake(note.payload)


# -- the route ---------------------------------------------------------------------------


class WaitIn(_Body):
    cursors: Annotated[
        dict[Ident, Seq],
        Field(
            min_length=1,
            max_length=1000,
            json_schema_extra={
                "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9_-]+$"},
                "additionalProperties": False,
            },
        ),
    ]
    # Seconds to hold the request when nothing is new yet (the exchange caps it).
    timeout: Annotated[int, Field(ge=0, le=300), JsonInt] = 50


class WaitOut(BaseModel):
    changed: dict[str, int]  # circle → its last seq, for each circle to sync now
    denied: list[str]  # named circles this device may not read (removed, unknown)
    time: int


router = APIRouter(prefix="/v1")

_LAST = (
    select(circle_members.c.circle_id, circles.c.next_seq, circle_members.c.removed_at)
    .join(circles, circles.c.id == circle_members.c.circle_id)
    .where(
        circle_members.c.device_id == bindparam("device"),
        circle_members.c.circle_id.in_(bindparam("ids", expanding=True)),
    )
)


# The caller's token and, in the same indexed lookup, its device's memberships of the
# named circles (one row each, or one row of NULLs) with their last seqs: the whole first
# read of a wait in one statement, as `auth._MEMBER_LOOKUP` is for a push.
_CALLER_AND_CIRCLES = (
    select(*LIVENESS, circle_members.c.circle_id, circle_members.c.removed_at, circles.c.next_seq)
    .select_from(
        tokens.outerjoin(devices, devices.c.id == tokens.c.device_id)
        .outerjoin(
            circle_members,
            and_(
                circle_members.c.device_id == tokens.c.device_id,
                circle_members.c.circle_id.in_(bindparam("ids", expanding=True)),
            ),
        )
        .outerjoin(circles, circles.c.id == circle_members.c.circle_id)
    )
    .where(tokens.c.hash == bindparam("h"))
)


def _lasts(rows: Sequence[Any]) -> tuple[dict[str, int], bool]:
    """The last seq of each named circle this device belongs to, and whether it ever
    belonged to any of them (a removed member is told `denied`, a stranger 404)."""
    mine = [r for r in rows if r.circle_id is not None]
    return {r.circle_id: int(r.next_seq) - 1 for r in mine if r.removed_at is None}, bool(mine)


def _read_last(conn: Connection, device_id: str, ids: list[str]) -> tuple[dict[str, int], bool]:
    return _lasts(conn.execute(_LAST, {"device": device_id, "ids": ids}).all())


def _last_seqs(engine: Engine, device_id: str, ids: list[str]) -> tuple[dict[str, int], bool]:
    with engine.connect() as conn:
        return _read_last(conn, device_id, ids)


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body is read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


@router.post(
    "/wait",
    response_model=WaitOut,
    response_class=OrjsonResponse,
    responses={c: {"model": ErrorBody} for c in (401, 403, 404, 413, 422, 429, 503)},
)
async def wait(body: WaitIn, request: Request, creds: Creds) -> Response:
    """Device: answer as soon as one of the named circles has ops after its cursor (or a
    member removal, rekey or join), or after `timeout` seconds with nothing `changed`.
    Circles this device may not read (removed from, unknown) are listed in `denied` at
    once, like a pull; a device that never belonged to any of them gets 404.

    The idle path is what 200 waiting devices cost the exchange every 50 s: one hop to
    the thread pool, one query, no pydantic on the way out."""
    call = Call(request, creds)
    ctx = call.ctx
    hub: LiveHub = request.app.state.live
    ids = list(body.cursors)

    def first_read() -> tuple[str, dict[str, int], bool]:
        """One hop to the thread pool and one query: the listener (started by the first
        wait), then the caller with its memberships of the named circles, and its rate
        limit."""
        hub.ensure_listening()
        token_hash = hash_or_none(call.token)
        rows: Sequence[Any] = ()
        if token_hash is not None:
            with hub.reader.connect() as conn:
                rows = conn.execute(_CALLER_AND_CIRCLES, {"h": token_hash, "ids": ids}).all()
        row = check_token(rows[0] if rows else None, (DEVICE,), call.now)
        assert token_hash is not None
        hub.limiter.check(token_hash, "waits")
        return str(row.device_id), *_lasts(rows)

    def answer(changed: dict[str, int], denied: list[str]) -> Response:
        return OrjsonResponse({"changed": changed, "denied": denied, "time": ctx.settings.clock()})

    hub.started()
    timeout = min(body.timeout, ctx.settings.wait_max_seconds)
    waiter = hub.admit(frozenset(ids))  # before the first read: see the module doc
    hang_up: asyncio.Future[None] | None = None
    try:
        device_id, last, known = await run_in_threadpool(first_read)
        hub.claim(waiter, device_id)
        deadline = time.monotonic() + timeout
        woken: set[str] = set()
        while True:
            if not known:
                raise not_found("no circle of this device among the cursors")
            denied = [c for c in ids if c not in last]
            changed = {c: s for c, s in last.items() if s > body.cursors[c] or c in woken}
            left = deadline - time.monotonic()
            if changed or denied or left <= 0 or hub.closing:
                return answer(changed, denied)
            if hang_up is None:
                hang_up = asyncio.ensure_future(_disconnected(request))
            sleeper: asyncio.Future[Any] = asyncio.ensure_future(waiter.event.wait())
            racing: set[asyncio.Future[Any]] = {sleeper, hang_up}
            done, _ = await asyncio.wait(racing, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            if not done or hang_up in done:
                # Timed out with no wake (nothing can have changed: a lost notification
                # wakes everyone), or nobody reads the answer any more.
                return answer({}, [])
            waiter.event.clear()
            woken |= waiter.woken
            waiter.woken.clear()
            last, known = await run_in_threadpool(_last_seqs, hub.reader, device_id, ids)
    finally:
        if hang_up is not None:
            hang_up.cancel()
        hub.leave(waiter)


def chain_stop_on_signals(hub: LiveHub) -> None:
    """Answer every waiter as soon as the process is told to stop (SIGTERM, SIGINT):
    uvicorn waits for open requests before it exits, and a long poll would hold it for
    its whole timeout. Wraps the handler uvicorn's server installed (nothing else's), on
    the main thread, where uvicorn runs its loop."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        owner = getattr(previous, "__self__", None)
        if not callable(previous) or not type(owner).__module__.startswith("uvicorn"):
            continue
        signal.signal(sig, _chained(hub, previous))


def _chained(
    hub: LiveHub, previous: Callable[[int, FrameType | None], Any]
) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        hub.stop()
        previous(signum, frame)

    return handler
