"""Shared fixtures: every test gets its own home under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings

from xcircle.services import Services
from xcircle.store import Store

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

# Mutation runs (bench/mutation.sh) run each test once per mutant: fewer examples, the
# same ones every time (a mutant is killed or not, never by luck), and no example
# database carried from one mutant to the next. Fixed examples cover the rare branches.
settings.register_profile(
    "mutation", max_examples=20, derandomize=True, database=None, deadline=None
)
if os.environ.get("XCIRCLE_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["XCIRCLE_HYPOTHESIS_PROFILE"])


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches the real user's home."""
    monkeypatch.setenv("XCIRCLE_HOME", str(tmp_path / "default-home"))
    monkeypatch.setenv("XCIRCLE_EXCHANGE_HOME", str(tmp_path / "default-exchange"))
    monkeypatch.setenv("XCIRCLE_DEMO_HOME", str(tmp_path / "default-demo"))
    # Never the machine's real keyring: tests that want one install tests.keyrings'.
    monkeypatch.setenv("XCIRCLE_KEYRING", "0")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture
def svc(store: Store) -> Services:
    services = Services(store, clock=lambda: NOW)
    services.init_profile("Ada Lovelace", "Acme")
    return services
