"""Joining an exchange with an enrollment token that was used already says so."""

from __future__ import annotations

import pytest

from sync.commands import enroll
from sync.protocol import AuthFailed
from tests.sync import conftest as sync_fixtures
from tests.sync.helpers import URL

exchange_clock, exchange, make_device = (
    sync_fixtures.exchange_clock,
    sync_fixtures.exchange,
    sync_fixtures.make_device,
)


def test_a_reused_enrollment_token_gets_a_clear_message(
    make_device: sync_fixtures.MakeDevice,
) -> None:
    ada = make_device("ada", joined=False)
    bob = make_device("bob", joined=False)
    token = ada.exchange.enrollment("Acme")
    enroll(ada.store, URL, token, name="ada", transport=ada.faults, retries=0)
    with pytest.raises(AuthFailed) as err:
        enroll(bob.store, URL, token, name="bob", transport=bob.faults, retries=0)
    message = str(err.value)
    assert "enrollment token: it was already used, has expired or was revoked" in message
    assert "this device's token" not in message
