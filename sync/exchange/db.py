"""Storage: one SQLAlchemy Core schema for SQLite and PostgreSQL, plus migrations.

SQLite runs in WAL mode with `synchronous=NORMAL` (≈50k one-row transactions/s here, against
≈7k with FULL) and takes every write transaction with `BEGIN IMMEDIATE`, so writers queue on
the database lock up front instead of failing with SQLITE_BUSY when upgrading a read lock.
Within one process writers also queue on a lock of ours first: SQLite's own busy handler
polls with sleeps of up to 100 ms, which turned 50 concurrent pushers into seconds of p99.
"""

from __future__ import annotations

import logging
import os
import select as _select
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

log = logging.getLogger(__name__)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", BigInteger, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("org_id", String(32), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

tokens = Table(
    "tokens",
    metadata,
    Column("hash", String(64), primary_key=True),  # hex SHA-256 of the token
    Column("kind", String(8), nullable=False),  # admin | enroll | device
    Column("org_id", String(32), ForeignKey("organizations.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id")),
    Column("expires_at", BigInteger),
    Column("used_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("created", BigInteger, nullable=False),
    Index("ix_tokens_device", "device_id"),
)

circles = Table(
    "circles",
    metadata,
    Column("id", String(64), primary_key=True),  # chosen by the client (random hex)
    Column("created_by", String(32), ForeignKey("devices.id"), nullable=False),
    Column("next_seq", BigInteger, nullable=False),  # the per-circle counter row, see push
    Column("created", BigInteger, nullable=False),
)

circle_members = Table(
    "circle_members",
    metadata,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("member_id", String(64), nullable=False),  # one member may use several devices
    Column("joined", BigInteger, nullable=False),
    Column("removed_at", BigInteger),
    PrimaryKeyConstraint("circle_id", "device_id"),
    Index("ix_members_device", "device_id"),
)

invites = Table(
    "invites",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("created_by", String(32), ForeignKey("devices.id"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
    Column("created", BigInteger, nullable=False),
)

ops = Table(
    "ops",
    metadata,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("op_id", String(64), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # opaque: never parsed here
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("circle_id", "seq"),
    UniqueConstraint("circle_id", "op_id", name="uq_ops_circle_op"),
)

V1_TABLES = [organizations, devices, tokens, circles, circle_members, invites, ops]

# Rate-limit and quota counters shared by every worker: one row per (limit, subject), a
# fixed window (its start, ms) and the count in it. See `ratelimit.py`.
rate_counters = Table(
    "rate_counters",
    metadata,
    Column("key", String(160), primary_key=True),
    Column("window", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index("ix_rate_counters_window", "window"),
)

# Open invites per circle are counted on every invite: index them by circle.
ix_invites_circle = Index("ix_invites_circle", invites.c.circle_id)


def _migrate_v1(conn: Connection) -> None:
    # v1 is the initial schema. When v2 alters a table, freeze v1's DDL here first so that a
    # fresh database still replays v1 then v2.
    metadata.create_all(conn, tables=V1_TABLES)


def _v2_limits(conn: Connection) -> None:
    """Shared rate-limit counters and the index the open-invite quota counts with."""
    rate_counters.create(conn, checkfirst=True)
    ix_invites_circle.create(conn, checkfirst=True)  # v1's create_all may have made it


# Ordered: index i holds the migration to version i + 1. Append, never reorder.
MIGRATIONS: list[Callable[[Connection], None]] = [_migrate_v1, _v2_limits]
SCHEMA_VERSION = len(MIGRATIONS)


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    """True on PostgreSQL (row locks with FOR UPDATE), False on SQLite."""
    return engine_or_conn.dialect.name == "postgresql"


def _prepare_sqlite_file(database: str) -> None:
    """Create the SQLite file (and a missing parent dir) private to the user: 0700 / 0600."""
    path = Path(database).expanduser()
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


# One lock per SQLite file per process (see the module docstring); writers take it before
# BEGIN IMMEDIATE, so in-process contention is a plain queue instead of sleep-and-retry.
_SQLITE_WRITERS: dict[str, threading.Lock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()

# Connections per process. FastAPI runs sync endpoints on 40 threads, but each request
# holds a connection only for its own statements and the database has few cores to run
# them on: past a handful of busy connections, more only adds context switches and lock
# queues inside the server, so surplus requests wait for a connection in the pool instead.
# Two workers x 10 stays well inside PostgreSQL's default max_connections (100).
DEFAULT_POOL_SIZE = 10


def make_engine(db_url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine for `db_url` with the exchange's connection settings applied."""
    url = make_url(db_url)
    # No SELECT-1 pre-ping (a round trip on every request): PostgreSQL connections are
    # checked at checkout without one (`_install_liveness_check`); pool_recycle bounds the
    # age of idle ones.
    pool: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": 0,
        "pool_timeout": 30,
        "pool_recycle": 3600,
        "pool_pre_ping": False,
    }
    if url.get_backend_name() == "sqlite":
        assert url.database
        _prepare_sqlite_file(url.database)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        _install_sqlite_hooks(engine)
        with _SQLITE_WRITERS_GUARD:
            _SQLITE_WRITERS.setdefault(url.database, threading.Lock())
        return engine
    # psycopg prepares a statement server-side after 5 executions on a connection (its
    # default prepare_threshold); the hot statements are module-level constructs, so
    # SQLAlchemy's compiled cache hands psycopg the same SQL text every time.
    engine = create_engine(url, connect_args={"connect_timeout": 5}, **pool)
    _install_liveness_check(engine)
    return engine


def _install_liveness_check(engine: Engine) -> None:
    """Hand out no pooled PostgreSQL connection that the server has already closed.

    A restarting server tells every idle backend's client "terminating connection due to
    administrator command" and closes it; a killed one leaves the socket at EOF. Either way
    the idle socket turns readable, while a healthy idle connection has nothing to read.
    So a zero-timeout poll of the socket (one syscall, no round trip) finds the connections
    a restart left in the pool; raising DisconnectionError makes the pool drop that one and
    connect afresh, so the first requests after a restart succeed instead of failing.
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.closed or dbapi_conn.broken:
            raise DisconnectionError("connection closed")
        try:
            readable = _readable(dbapi_conn.pgconn.socket)
        except Exception as exc:  # psycopg raises its own error for a closed socket
            raise DisconnectionError(f"connection unusable: {exc}") from None
        if readable:
            raise DisconnectionError("the server closed the connection")


def _readable(fd: int) -> bool:
    """Whether `fd` has input (or EOF, or an error) pending, without waiting.
    poll, not select: select cannot watch descriptors past 1023."""
    if not hasattr(_select, "poll"):  # Windows
        return bool(_select.select([fd], [], [], 0)[0])
    poller = _select.poll()
    poller.register(fd, _select.POLLIN | _select.POLLPRI)
    return bool(poller.poll(0))


def _writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return _SQLITE_WRITERS.get(engine.url.database or "", nullcontext())


def _install_sqlite_hooks(engine: Engine) -> None:
    # The pysqlite recipe from the SQLAlchemy docs: disable the driver's own transaction
    # handling and emit BEGIN ourselves, IMMEDIATE for writes (see `write_tx`).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("xc_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction: `BEGIN IMMEDIATE` on SQLite (behind the process's writer lock),
    plain BEGIN on PostgreSQL."""
    with _writer_lock(engine), engine.connect() as conn:
        conn.execution_options(xc_write=True)
        with conn.begin():
            yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read transaction (one snapshot on SQLite; read committed on PostgreSQL)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def migrate(engine: Engine, now_ms: int) -> int:
    """Create or upgrade the schema to `SCHEMA_VERSION`; safe when several workers start."""
    with write_tx(engine) as conn:
        if is_postgres(conn):
            # Serialize concurrent starters; the lock ends with the transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(7247101)"))
        schema_version.create(conn, checkfirst=True)
        current = (
            conn.execute(
                select(schema_version.c.version).order_by(schema_version.c.version.desc()).limit(1)
            ).scalar()
            or 0
        )
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema v{current} is newer than this exchange (v{SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            log.info("migrating exchange schema to v%d", version)
            MIGRATIONS[version - 1](conn)
            conn.execute(schema_version.insert().values(version=version, applied=now_ms))
        return SCHEMA_VERSION


def open_db(db_url: str, now_ms: int, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """Engine with the schema in place: what the app, the CLI and the tests start with."""
    engine = make_engine(db_url, pool_size)
    try:
        migrate(engine, now_ms)
    except BaseException:
        engine.dispose()
        raise
    return engine
