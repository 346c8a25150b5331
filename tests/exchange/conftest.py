"""Fixtures for the exchange tests: databases (SQLite file, scratch PostgreSQL), an
injectable clock, in-process apps and a small async API client."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI

from sync.exchange.app import create_app
from sync.exchange.settings import ExchangeSettings

from .helpers import GENEROUS, Api, FakeClock

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A scratch PostgreSQL database (random name) for this test session / xdist worker.
    Unreachable server = failure, never a skip: CI starts the server on purpose."""
    name = "xc_exchange_test_" + secrets.token_hex(6)
    try:
        conn = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}")
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own (exists, holds nothing yet)."""
    name = "xc_fresh_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each DB-level test runs on a fresh SQLite file and on the scratch PostgreSQL DB
    (shared within a session; tests use unique names and circle ids)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'exchange.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'exchange.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_app(db_url: str, clock: FakeClock) -> Iterator[Callable[..., FastAPI]]:
    """Factory: an app on this test's database with the fake clock; overrides via kwargs."""
    apps: list[FastAPI] = []

    def make(**overrides: Any) -> FastAPI:
        settings = replace(ExchangeSettings(db_url=db_url, clock=clock, **GENEROUS), **overrides)
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.ctx.engine.dispose()


@pytest.fixture
async def api(make_app: Callable[..., FastAPI]) -> AsyncIterator[Api]:
    a = Api(make_app())
    async with a.http:
        yield a
