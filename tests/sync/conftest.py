"""Fixtures for the sync tests: an in-process exchange and devices in two organizations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import Device, Exchange, FakeClock

MakeDevice = Callable[..., Device]


@pytest.fixture
def exchange_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exchange(tmp_path: Path, exchange_clock: FakeClock) -> Iterator[Exchange]:
    ex = Exchange(tmp_path / "exchange.db", clock=exchange_clock)
    yield ex
    ex.close()


@pytest.fixture
def make_device(tmp_path: Path, exchange: Exchange) -> Iterator[MakeDevice]:
    """`make_device(name, org, joined=True, now_ms=…)`: a device with its own home."""
    devices: list[Device] = []

    def make(name: str, org: str = "Acme", *, joined: bool = True, **kw: object) -> Device:
        dev = Device(tmp_path / f"home-{name}", name, org, exchange, **kw)  # type: ignore[arg-type]
        if joined:
            dev.join()
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.close()
