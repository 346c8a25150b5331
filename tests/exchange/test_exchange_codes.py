"""The client's restated error codes (`sync.protocol`) are the ones the exchange answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync import protocol

SERVER = "".join(
    p.read_text() for p in Path(protocol.__file__).parent.joinpath("exchange").glob("*.py")
)
CODES = [
    protocol.EPOCH_RETIRED,
    protocol.EPOCH_UNKNOWN,
    protocol.EPOCH_CONFLICT,
    protocol.WRAP_SET_MISMATCH,
    protocol.MEMBER_ID_TAKEN,
    protocol.LAST_CONVENER,
    protocol.KEYS_REQUIRED,
    protocol.KEYS_ALREADY_SET,
    protocol.DEVICE_MISMATCH,
    protocol.INVITE_NOT_FOUND,
]


@pytest.mark.parametrize("code", CODES)
def test_the_exchange_answers_with_the_code_the_client_knows(code: str) -> None:
    assert f'"{code}"' in SERVER
