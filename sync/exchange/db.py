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
    exists,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.schema import CreateColumn

from . import schema_v1

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
    # Public keys (raw 32 bytes), set once by the device: X25519 receives epoch-secret
    # wraps, Ed25519 signs ops. Members of a shared circle read them (v3, `_migrate_trust`).
    Column("x25519", LargeBinary),
    Column("ed25519", LargeBinary),
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
    # The current key epoch (0 = plaintext, not yet upgraded). On the counter row, so a push
    # reads it under the same lock a rekey takes (v2).
    Column("epoch", BigInteger, nullable=False, server_default="0"),
)

circle_members = Table(
    "circle_members",
    metadata,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("member_id", String(64), nullable=False),  # one member may use several devices
    Column("joined", BigInteger, nullable=False),
    Column("removed_at", BigInteger),
    # convener | member, per member: every device row of one member carries the same (v2).
    Column("role", String(16), nullable=False, server_default="member"),
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
    # The member id the joiner gets (chosen by the inviter, v2); NULL on legacy invites.
    Column("member_id", String(64)),
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

# One epoch secret wrapped for one device (opaque HPKE bytes); a device reads only its own.
wraps = Table(
    "wraps",
    metadata,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("wrap", LargeBinary, nullable=False),
    Column("created", BigInteger, nullable=False),
    PrimaryKeyConstraint("circle_id", "epoch", "device_id"),
    Index("ix_wraps_device", "circle_id", "device_id"),
)

# A redeemed invite of an encrypted circle, waiting for a member's device to check the
# joiner's sealed bundle (opaque here) and confirm it with a rekey that includes it.
joins = Table(
    "joins",
    metadata,
    Column("circle_id", String(64), ForeignKey("circles.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("invited_by", String(32), ForeignKey("devices.id"), nullable=False),
    Column("bundle", LargeBinary),
    Column("created", BigInteger, nullable=False),
    PrimaryKeyConstraint("circle_id", "device_id"),
    Index("ix_joins_device", "device_id"),
)

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

# Programmes (v4): the device that published one (its coordinator's), and its circles. A
# circle belongs to one programme; its row also holds the circle's latest report, sealed
# by a convener's device to the coordinator's key (opaque here, like every payload).
programmes = Table(
    "programmes",
    metadata,
    Column("id", String(64), primary_key=True),  # chosen by the client (random hex)
    Column("owner_device", String(32), ForeignKey("devices.id"), nullable=False),
    Column("created", BigInteger, nullable=False),
)

programme_circles = Table(
    "programme_circles",
    metadata,
    Column("circle_id", String(64), ForeignKey("circles.id"), primary_key=True),
    Column("programme_id", String(64), ForeignKey("programmes.id"), nullable=False),
    Column("added", BigInteger, nullable=False),
    Column("report", LargeBinary),
    Column("reported_at", BigInteger),
    Column("reported_by", String(32), ForeignKey("devices.id")),
    Index("ix_programme_circles_programme", "programme_id"),
)

# Open invites per circle are counted on every invite: index them by circle.
ix_invites_circle = Index("ix_invites_circle", invites.c.circle_id)


def _migrate_v1(conn: Connection) -> None:
    schema_v1.create_v1(conn)


def _add_column(conn: Connection, table: Table, name: str) -> None:
    spec = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {spec}"))


def _migrate_trust(conn: Connection) -> None:
    """Trust across organizations: device keys, roles, epochs and wraps, pending joins,
    invites made for a member id. Existing circles stay at epoch 0 (plaintext); the
    member who created a circle becomes its convener."""
    for table, name in [
        (devices, "x25519"),
        (devices, "ed25519"),
        (circles, "epoch"),
        (circle_members, "role"),
        (invites, "member_id"),
    ]:
        _add_column(conn, table, name)
    metadata.create_all(conn, tables=[wraps, joins])
    creator = circle_members.alias("creator")
    conn.execute(
        update(circle_members)
        .where(
            exists().where(
                creator.c.circle_id == circle_members.c.circle_id,
                creator.c.member_id == circle_members.c.member_id,
                creator.c.device_id == circles.c.created_by,
                circles.c.id == creator.c.circle_id,
            )
        )
        .values(role="convener")
    )


def _v2_limits(conn: Connection) -> None:
    """Shared rate-limit counters and the index the open-invite quota counts with."""
    rate_counters.create(conn, checkfirst=True)
    ix_invites_circle.create(conn, checkfirst=True)  # v1's create_all may have made it


def _v4_programmes(conn: Connection) -> None:
    """Programmes: who owns one, its circles and their sealed reports."""
    metadata.create_all(conn, tables=[programmes, programme_circles])


# Ordered: index i holds the migration to version i + 1. Append, never reorder.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _migrate_v1,
    _v2_limits,
    _migrate_trust,
    _v4_programmes,
]
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
        # Overwrite freed content with zeros, so a purged plaintext op leaves no copy in
        # free pages (the exchange rarely deletes; the cost is on those few writes). Some
        # builds (Debian's) have it on already; SQLite's own default is off.
        cur.execute("PRAGMA secure_delete=ON")
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
