"""Exchange configuration: one dataclass, read from arguments or environment variables."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .db import DEFAULT_POOL_SIZE
from .quotas import Quotas

ENV_HOME = "XCIRCLE_EXCHANGE_HOME"
ENV_DB_URL = "XCIRCLE_EXCHANGE_DB_URL"
ENV_MAX_BODY = "XCIRCLE_EXCHANGE_MAX_BODY_BYTES"
ENV_MAX_OPS = "XCIRCLE_EXCHANGE_MAX_OPS_PER_PUSH"
ENV_PULL_LIMIT = "XCIRCLE_EXCHANGE_PULLS_PER_MINUTE"
ENV_AUTH_LIMIT = "XCIRCLE_EXCHANGE_AUTH_FAILS_PER_MINUTE"
ENV_POOL_SIZE = "XCIRCLE_EXCHANGE_DB_POOL_SIZE"
ENV_PUSH_LIMIT = "XCIRCLE_EXCHANGE_PUSHES_PER_MINUTE"
ENV_MAX_OP = "XCIRCLE_EXCHANGE_MAX_OP_BYTES"
ENV_MAX_PULL = "XCIRCLE_EXCHANGE_MAX_PULL_BYTES"
ENV_OPS_PER_DAY = "XCIRCLE_EXCHANGE_OPS_PER_DEVICE_PER_DAY"
ENV_CIRCLES = "XCIRCLE_EXCHANGE_CIRCLES_PER_DEVICE"
ENV_MEMBERS = "XCIRCLE_EXCHANGE_MEMBERS_PER_CIRCLE"
ENV_INVITES = "XCIRCLE_EXCHANGE_OPEN_INVITES_PER_CIRCLE"
ENV_FORWARDED = "XCIRCLE_EXCHANGE_FORWARDED_ALLOW_IPS"
ENV_WAIT_MAX = "XCIRCLE_EXCHANGE_WAIT_MAX_SECONDS"
ENV_WAITS_PER_DEVICE = "XCIRCLE_EXCHANGE_WAITS_PER_DEVICE"
ENV_WAITS = "XCIRCLE_EXCHANGE_WAITS_PER_WORKER"
ENV_WAIT_LIMIT = "XCIRCLE_EXCHANGE_WAITS_PER_MINUTE"


class ConfigError(Exception):
    """A configuration value a user supplied is unusable (bad URL, bad number)."""


def wall_clock_ms() -> int:
    """Milliseconds since the epoch; the default clock, injectable for tests."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class ExchangeSettings:
    """Everything `create_app` needs; all state lives in the database at `db_url`."""

    db_url: str
    max_body_bytes: int = 1024 * 1024
    max_ops_per_push: int = 500
    # Per worker process (the read path takes no write); every other limit is shared.
    pull_limit_per_minute: int = 120
    # Per client address: enrollment attempts, invite redeems and failed authentications.
    auth_fail_limit_per_minute: int = 20
    db_pool_size: int = DEFAULT_POOL_SIZE  # database connections per worker process
    # Per device. A first share pushes at most 500 ops per request: 120/min is 60k ops/min.
    push_limit_per_minute: int = 120
    # The client's own cap on an op (64 KiB) plus room for the end-to-end envelope.
    max_op_bytes: int = 65 * 1024
    max_pull_bytes: int = 4 * 1024 * 1024  # op bytes in one pull answer (at least one op)
    ops_per_device_per_day: int = 100_000
    circles_per_device: int = 200
    members_per_circle: int = 200  # active member devices
    open_invites_per_circle: int = 50
    # Live sync (`POST /v1/wait`): how long one wait may hold (under proxies' read
    # timeouts), and per worker process the waits one device may hold at once, the waits
    # in all (each an open connection: keep it under the open-files limit) and the waits
    # one device may start per minute. Each idle device asks again when its wait ends:
    # 50 s rather than 25 s halves what idle devices cost (requests, CPU), still under
    # the 60 s read timeout of nginx and most load balancers.
    wait_max_seconds: int = 50
    waits_per_device: int = 4
    waits_per_worker: int = 1000
    wait_limit_per_minute: int = 120
    clock: Callable[[], int] = field(default=wall_clock_ms)

    def quotas(self) -> Quotas:
        """The bounds the store enforces."""
        return Quotas(
            max_op_bytes=self.max_op_bytes,
            max_pull_bytes=self.max_pull_bytes,
            pushes_per_minute=self.push_limit_per_minute,
            ops_per_day=self.ops_per_device_per_day,
            circles_per_device=self.circles_per_device,
            members_per_circle=self.members_per_circle,
            open_invites_per_circle=self.open_invites_per_circle,
        )

    @classmethod
    def from_env(cls) -> ExchangeSettings:
        """Build settings from `XCIRCLE_EXCHANGE_*` variables, so uvicorn workers can."""

        def num(name: str, default: int) -> int:
            raw = os.environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer") from None

        return cls(
            db_url=resolve_db_url(os.environ.get(ENV_DB_URL)),
            max_body_bytes=num(ENV_MAX_BODY, cls.max_body_bytes),
            max_ops_per_push=num(ENV_MAX_OPS, cls.max_ops_per_push),
            pull_limit_per_minute=num(ENV_PULL_LIMIT, cls.pull_limit_per_minute),
            auth_fail_limit_per_minute=num(ENV_AUTH_LIMIT, cls.auth_fail_limit_per_minute),
            db_pool_size=max(1, num(ENV_POOL_SIZE, cls.db_pool_size)),
            push_limit_per_minute=num(ENV_PUSH_LIMIT, cls.push_limit_per_minute),
            max_op_bytes=num(ENV_MAX_OP, cls.max_op_bytes),
            max_pull_bytes=num(ENV_MAX_PULL, cls.max_pull_bytes),
            ops_per_device_per_day=num(ENV_OPS_PER_DAY, cls.ops_per_device_per_day),
            circles_per_device=num(ENV_CIRCLES, cls.circles_per_device),
            members_per_circle=num(ENV_MEMBERS, cls.members_per_circle),
            open_invites_per_circle=num(ENV_INVITES, cls.open_invites_per_circle),
            wait_max_seconds=max(0, num(ENV_WAIT_MAX, cls.wait_max_seconds)),
            waits_per_device=max(1, num(ENV_WAITS_PER_DEVICE, cls.waits_per_device)),
            waits_per_worker=max(1, num(ENV_WAITS, cls.waits_per_worker)),
            wait_limit_per_minute=num(ENV_WAIT_LIMIT, cls.wait_limit_per_minute),
        )


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The exchange data dir: `explicit`, else `$XCIRCLE_EXCHANGE_HOME`, else platformdirs."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    import platformdirs  # deferred: only needed when no path was given

    return Path(platformdirs.user_data_dir("xcircle-exchange"))


def normalize_db_url(raw: str) -> str:
    """Validate a database URL; route plain `postgresql://` to the psycopg 3 driver."""
    try:
        url: URL = make_url(raw)
    except ArgumentError:
        raise ConfigError("invalid database URL (expected sqlite:///… or postgresql://…)") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise ConfigError(
            f"unsupported database driver {url.drivername!r} (use sqlite or postgresql)"
        )
    if url.drivername.startswith("sqlite") and url.database in (None, "", ":memory:"):
        raise ConfigError("the exchange needs a SQLite file, not an in-memory database")
    return url.render_as_string(hide_password=False)


def resolve_db_url(db: str | None, data_dir_arg: str | os.PathLike[str] | None = None) -> str:
    """`db` if given (normalized), else the default SQLite file in the data dir."""
    if db:
        return normalize_db_url(db)
    return f"sqlite:///{data_dir(data_dir_arg) / 'exchange.db'}"
