"""Where secrets live (SEC-26, SEC-27): the OS keyring when there is one, else a 0600
file the user is told about; the home never holds a usable secret beside a keyring."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner

from sync.state import Credentials, credentials, save_credentials, status
from tests.keyrings import MemoryKeyring
from xcircle import crypto
from xcircle.cli import cli
from xcircle.keystore import Keystore, KeystoreError, keystore_of
from xcircle.services import Services
from xcircle.store import Store

TOKEN = "xcd_" + "T0k3n" * 9


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    monkeypatch.setenv("XCIRCLE_KEYRING", "1")
    yield backend
    keyring.set_keyring(previous)


def encodings(secret: bytes) -> list[bytes]:
    """Every way a secret could sit in a file: raw, hex, base64 and base64url."""
    b64 = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return [secret, secret.hex().encode(), b64, b64.rstrip(b"="), url.rstrip(b"=")]


def scan(home: Path, secrets: list[bytes]) -> list[str]:
    found = []
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}" for s in secrets for e in encodings(s) if e in data]
    return found


def a_home_with_secrets(home: Path) -> tuple[Store, list[bytes]]:
    store = Store(home)
    svc = Services(store)
    svc.init_profile("Ada", "Acme")
    save_credentials(store, Credentials("https://x.example", TOKEN, "dev-1", "Acme"))
    ks = keystore_of(store)
    secret = crypto.new_epoch_secret()
    ks.save_epoch("c" * 32, 1, secret)
    keys = ks.device_keys()
    return store, [keys.x25519_private, keys.ed25519_private, TOKEN.encode(), secret]


def test_with_a_keyring_the_home_holds_no_secret(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    store, secrets = a_home_with_secrets(tmp_path / "home")
    for n in range(20):  # and after writes
        keystore_of(store).save_epoch("d" * 32, n + 1, crypto.new_epoch_secret())
    store.close()
    assert scan(tmp_path / "home", secrets) == []
    assert not (tmp_path / "home" / "home.key").exists()
    (tmp_path / "home" / "planted").write_bytes(base64.b64encode(secrets[1]))
    assert set(scan(tmp_path / "home", secrets)) == {"planted"}  # the scan does see secrets
    assert len(memory_keyring.passwords) == 1
    # and it all comes back from the keyring
    again = Store(tmp_path / "home")
    assert credentials(again) == Credentials("https://x.example", TOKEN, "dev-1", "Acme")
    assert keystore_of(again).device_keys().x25519_private == secrets[0]
    assert status(again)["secrets"]["where"] == "keyring"
    again.close()


def test_without_a_keyring_the_user_is_told_where(tmp_path: Path) -> None:
    store, secrets = a_home_with_secrets(tmp_path / "home")
    ks = keystore_of(store)
    assert ks.where == "file"
    notice = Services(store).secrets()["notice"]
    assert notice is not None and str(tmp_path / "home" / "home.key") in notice
    assert Services(store).secrets()["notice"] is None  # told once, not on every call
    key = tmp_path / "home" / "home.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "home" / "secrets.bin").stat().st_mode) == 0o600
    # The secrets file itself is sealed: only home.key makes it readable.
    assert scan(tmp_path / "home", secrets) == []
    assert status(store)["secrets"]["where"] == "file"
    store.close()


def test_the_token_is_no_longer_in_the_profile(tmp_path: Path) -> None:
    store, _ = a_home_with_secrets(tmp_path / "home")
    assert "token" not in store.setting("exchange")
    store.close()


def test_a_home_from_before_the_keystore_moves_its_token(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    store.save_setting(
        "exchange", {"url": "https://x", "token": TOKEN, "device_id": "d", "org": "A"}
    )
    assert credentials(store) == Credentials("https://x", TOKEN, "d", "A")
    assert "token" not in store.setting("exchange")
    assert keystore_of(store).token == TOKEN
    store.close()


def test_a_keyring_that_went_away_is_a_clear_error(
    tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = a_home_with_secrets(tmp_path / "home")
    store.close()
    monkeypatch.setenv("XCIRCLE_KEYRING", "0")
    with pytest.raises(KeystoreError, match="system keyring"):
        Keystore(tmp_path / "home")


def test_a_damaged_secrets_file_is_refused(tmp_path: Path) -> None:
    store, _ = a_home_with_secrets(tmp_path / "home")
    store.close()
    path = tmp_path / "home" / "secrets.bin"
    data = bytearray(path.read_bytes())
    data[20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(KeystoreError, match="does not open"):
        Keystore(tmp_path / "home")


def test_cli_init_says_where_secrets_are_kept_the_first_time(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "home")
    first = runner.invoke(cli, ["--home", home, "init", "--name", "Ada", "--org", "Acme"])
    assert first.exit_code == 0, first.output
    assert "keys and tokens are kept in" in first.output and "home.key" in first.output
    second = runner.invoke(cli, ["--home", home, "init", "--name", "Ada", "--org", "Acme"])
    assert "keys and tokens are kept" not in second.output
    shown = runner.invoke(cli, ["--home", home, "status", "--json"])
    value = json.loads(shown.output)
    assert value["secrets"]["where"] == "file"
    assert len(value["fingerprint"]) == 19 and value["fingerprint"] in first.output
    text = runner.invoke(cli, ["--home", home, "status"]).output
    assert "Secrets: kept in" in text and value["fingerprint"] in text


def test_cli_init_with_a_keyring_says_so(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    out = (
        CliRunner()
        .invoke(cli, ["--home", str(tmp_path / "h"), "init", "--name", "Ada", "--org", "Acme"])
        .output
    )
    assert "kept in the system keyring" in out
