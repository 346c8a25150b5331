"""The member's side of the limits: a first share that runs into the push rate limit
backs off and finishes; a device rotates its token; a device follows its exchange to a
new URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.commands import rotate_token
from sync.engine import connect
from sync.engine import sync as run_sync
from sync.state import credentials, mark_shared
from tests.sync.helpers import URL, Device, Exchange, FakeClock
from xcircle.cli import cli


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exchange(tmp_path: Path, clock: FakeClock) -> Iterator[Exchange]:
    ex = Exchange(tmp_path / "exchange.db", clock=clock)
    yield ex
    ex.close()


@pytest.fixture
def ada(tmp_path: Path, exchange: Exchange) -> Iterator[Device]:
    dev = Device(tmp_path / "home-ada", "ada", "Acme", exchange)
    dev.join()
    yield dev
    dev.close()


def test_a_first_share_over_the_push_limit_backs_off_and_finishes(
    ada: Device, exchange: Exchange, clock: FakeClock
) -> None:
    ctx = exchange.app.state.ctx
    ctx.quotas = replace(ctx.quotas, pushes_per_minute=1)
    cid = ada.services.circles.create("Leaders")["id"]
    for i in range(12):
        ada.services.goals.add(cid, f"Goal {i}")
    me = ada.store.meta(cid)["me"]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the exchange's time passes while the client waits
        slept.append(seconds)
        clock.advance(seconds)

    with connect(ada.store, transport=ada.faults, retries=3, sleep=sleep) as client:
        client.create_circle(cid, me)
        mark_shared(ada.store, cid, me)
        report = run_sync(ada.store, client, push_ops=5)  # three pushes, one a minute
    assert report.circles[cid].error is None and report.pending == 0
    assert report.pushed >= 13  # the circle and its twelve goals
    assert len(slept) >= 2 and all(s >= 1 for s in slept)  # waited as Retry-After said


def test_a_device_rotates_its_token(ada: Device, exchange: Exchange) -> None:
    old = credentials(ada.store)
    assert old is not None
    with ada.client() as client:
        new = rotate_token(ada.store, client)
    assert new.token != old.token and credentials(ada.store) == new
    # Kept where the token lives: the keystore, never the profile.
    from xcircle.keystore import keystore_of

    assert keystore_of(ada.store).token == new.token
    assert "token" not in ada.store.setting("exchange")
    cid = ada.services.circles.create("Leaders")["id"]
    assert ada.share(cid).circles[cid].pushed > 0  # the new token works
    ada.store.save_setting("exchange", {**new.__dict__, "token": old.token})
    with pytest.raises(Exception, match="refused this device's token"):
        ada.sync()


def test_a_device_follows_its_exchange_to_a_new_url(ada: Device, tmp_path: Path) -> None:
    home = str(ada.home)
    ada.store.close()
    runner = CliRunner()
    shown = runner.invoke(cli, ["--home", home, "setting", "exchange_url", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout) == URL
    moved = runner.invoke(
        cli, ["--home", home, "setting", "exchange_url", "https://exchange.example.org/"]
    )
    assert moved.exit_code == 0, moved.output
    assert "https://exchange.example.org" in moved.stdout
    ada.restart()
    creds = credentials(ada.store)
    assert creds is not None and creds.url == "https://exchange.example.org"
    assert creds.token  # the same device and token, only the address changed
    fresh = tmp_path / "fresh"
    refused = runner.invoke(cli, ["--home", str(fresh), "setting", "exchange_url", "https://x.org"])
    assert refused.exit_code == 1 and "xcircle join" in refused.stderr
