"""What `xcircle exchange` needs around the server itself: the existence check of admin
commands, the log configuration of `serve`, and the shared metrics directory of workers."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from .db import schema_version
from .errors import AdminError
from .metrics import MULTIPROC_ENV

_HINT = "check --db / --data-dir; `xcircle exchange serve` creates a new exchange"


def require_exchange_db(db_url: str) -> None:
    """Raise AdminError unless `db_url` holds an exchange database already (its schema
    table exists). Creates nothing: no file, no table."""
    url = make_url(db_url)
    where = url.render_as_string(hide_password=True)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").expanduser()
        if not path.is_file():
            raise AdminError(f"no exchange database at {path} ({_HINT})")
        where = str(path)
    else:
        connect_args = {"connect_timeout": 5}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        found = inspect(engine).has_table(schema_version.name)
    finally:
        engine.dispose()
    if not found:
        raise AdminError(f"{where} is not an exchange database ({_HINT})")


def log_config() -> dict[str, Any]:
    """uvicorn's logging setup plus the exchange's loggers (errors and the access log) on
    the same handler; uvicorn's own access log is off (it keeps query strings)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["sync.exchange"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


@contextmanager
def metrics_dir(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory where each writes its metric samples (see
    `metrics.py`), removed when the server stops. An operator's own setting is kept."""
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    path = tempfile.mkdtemp(prefix="xcircle-exchange-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
