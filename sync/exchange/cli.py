"""`xcircle exchange …`: serve the exchange and administer its database.

Mount with `cli.add_command(exchange)`. Errors users can cause end as one line on stderr
with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_DB_HELP = "Database URL (sqlite:///path or postgresql://…); default: exchange.db in the data dir."


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def db_options(f: F) -> F:
    """`--db` and `--data-dir`, shared by every command that opens the database."""
    f = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        envvar="XCIRCLE_EXCHANGE_HOME",
        help="Exchange data directory.",
    )(f)
    f = click.option(
        "--db", "db_url", default=None, envvar="XCIRCLE_EXCHANGE_DB_URL", help=_DB_HELP
    )(f)
    return f


@contextmanager
def _engine(db_url: str | None, data_dir: str | None, *, create: bool = False) -> Iterator[Any]:
    """Open (and migrate) the database, turning every failure into one line. Only `serve`
    passes `create`: an admin command on a mistyped `--db`/`--data-dir` must fail, not
    issue tokens from a new empty exchange that no server reads."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db import open_db
    from .errors import AdminError
    from .operators import require_exchange_db
    from .settings import ConfigError, resolve_db_url, wall_clock_ms

    try:
        url = resolve_db_url(db_url, data_dir)
        if not create:
            require_exchange_db(url)
        engine = open_db(url, wall_clock_ms())
    except (ConfigError, AdminError) as exc:
        _fail(str(exc))
    except (SQLAlchemyError, OSError, RuntimeError) as exc:
        _fail(f"cannot open the exchange database: {_one_line(exc)}")
    try:
        yield engine
    except AdminError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"database error: {_one_line(exc)}")
    finally:
        engine.dispose()


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


@click.group("exchange")
def exchange() -> None:
    """Run and administer the exchange server that circles sync through."""
    missing = [m for m in _SERVER_MODULES if not _installed(m)]
    if missing:
        _fail(
            f"the exchange server is not installed ({', '.join(missing)} missing): "
            "pip install 'xcircle[exchange]'"
        )


# What `xcircle[exchange]` adds to a member's install.
_SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "psycopg", "prometheus_client")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def default_workers(db_url: str) -> int:
    """Worker processes when `--workers` is not given (measured with bench/sync_server.py,
    50 clients pushing 10-op batches on 2 cores):

    - SQLite: 1. Writers in one process queue on a lock of ours; writers in several
      processes fall back to SQLite's busy handler, which sleeps up to 100 ms between
      retries: 2 workers pushed ~50% more ops/s closed-loop but tripled the p99.
    - PostgreSQL: one per core, at most 4. The GIL caps a worker at about one core of
      Python, so on 2 cores 2 workers roughly doubled the bare-endpoint rate and raised
      push throughput; each worker holds up to 10 connections, and 4 x 10 stays inside
      PostgreSQL's default max_connections of 100.
    """
    if db_url.startswith("sqlite"):
        return 1
    return max(1, min(4, os.cpu_count() or 1))


@exchange.command()
@db_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes [default: 1 on SQLite; one per core, at most 4, on PostgreSQL].",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    envvar="XCIRCLE_EXCHANGE_FORWARDED_ALLOW_IPS",
    help="Comma-separated addresses of your reverse proxy, whose X-Forwarded-For and "
    "X-Forwarded-Proto are believed (per-address rate limits); default: none, the "
    "connecting address counts.",
)
def serve(
    db_url: str | None,
    data_dir: str | None,
    host: str,
    port: int,
    workers: int | None,
    forwarded_allow_ips: str | None,
) -> None:
    """Serve the exchange over HTTP with uvicorn (uvloop + httptools).

    Workers default to 1 on SQLite (one writer process avoids SQLite's sleep-and-retry
    lock waits, which dominate the tail latency with several) and to one per core (at
    most 4) on PostgreSQL (each worker's GIL caps it at about one core)."""
    import uvicorn

    from .operators import log_config, metrics_dir
    from .settings import ENV_DB_URL, ConfigError, resolve_db_url
    from .supervise import ENV_SUPERVISOR, PortBusy, wait_for_port

    try:
        url = resolve_db_url(db_url, data_dir)
    except ConfigError as exc:
        _fail(str(exc))
    with _engine(url, None, create=True):  # create/migrate once: clear errors before forking
        pass
    try:  # workers of a killed predecessor may still be closing the port (see supervise)
        wait_for_port(host, port)
    except PortBusy as exc:
        _fail(str(exc))
    os.environ[ENV_DB_URL] = url  # the workers' factory reads its settings from env
    n = workers or default_workers(url)
    if n > 1:
        os.environ[ENV_SUPERVISOR] = str(os.getpid())  # they die with this process
    with metrics_dir(n):
        # uvloop + httptools: with --workers > 1 the default stack leaves Nagle on and every
        # keep-alive request waits ~40 ms for a delayed ACK (see CONVENTIONS, known traps).
        # No proxy headers unless the operator names the proxy; no `server` header; our own
        # access log (route and path without query string, status, request id).
        uvicorn.run(
            "sync.exchange.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=n,
            # uvloop does not exist on Windows: there, asyncio's loop (uvicorn's "auto").
            loop="uvloop" if importlib.util.find_spec("uvloop") else "auto",
            http="httptools",
            proxy_headers=bool(forwarded_allow_ips),
            forwarded_allow_ips=forwarded_allow_ips or None,
            server_header=False,
            access_log=False,
            log_config=log_config(),
            log_level="info",
        )


@exchange.group()
def org() -> None:
    """Organizations (operator)."""


@org.command("add")
@click.argument("name")
@db_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def org_add(name: str, db_url: str | None, data_dir: str | None, as_json: bool) -> None:
    """Register an organization and print its admin token (shown once)."""
    from .admin import add_org

    with _engine(db_url, data_dir) as engine:
        org_id, token = add_org(engine, name)
    if as_json:
        click.echo(json.dumps({"org_id": org_id, "name": name.strip(), "admin_token": token}))
        return
    click.echo(f"Organization {name.strip()!r} registered (id {org_id}).")
    click.echo(f"Admin token: {token}")
    click.echo("Store it now: it will not be shown again.")


@exchange.command("enroll-token")
@click.argument("org_ref", metavar="ORG")
@click.option("--ttl", default="7d", show_default=True, help="Validity: 90m, 12h, 7d …")
@db_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def enroll_token(
    org_ref: str, ttl: str, db_url: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Print a single-use enrollment token for a device of ORG (name or id)."""
    from .admin import issue_enrollment, parse_ttl
    from .errors import AdminError

    try:
        ttl_s = parse_ttl(ttl)
    except AdminError as exc:
        _fail(str(exc))
    with _engine(db_url, data_dir) as engine:
        token, expires = issue_enrollment(engine, org_ref, ttl_s)
    if as_json:
        click.echo(json.dumps({"token": token, "expires_at": expires}))
        return
    click.echo(f"Enrollment token (single use, valid {ttl}): {token}")
    click.echo("It will not be shown again.")


@exchange.command()
@click.argument("target", metavar="TOKEN-OR-DEVICE-ID")
@db_options
def revoke(target: str, db_url: str | None, data_dir: str | None) -> None:
    """Revoke a token, or a device and all its tokens."""
    from .admin import revoke as do_revoke

    with _engine(db_url, data_dir) as engine:
        click.echo(do_revoke(engine, target))


@exchange.command("rotate-admin")
@click.argument("org_ref", metavar="ORG")
@db_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rotate_admin(org_ref: str, db_url: str | None, data_dir: str | None, as_json: bool) -> None:
    """Revoke ORG's admin token(s) and print a new one (shown once)."""
    from .admin import rotate_admin as do_rotate

    with _engine(db_url, data_dir) as engine:
        token = do_rotate(engine, org_ref)
    if as_json:
        click.echo(json.dumps({"admin_token": token}))
        return
    click.echo(f"New admin token: {token}")
    click.echo("The previous admin token no longer works. Store this one now.")
