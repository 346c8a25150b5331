"""Where this device keeps its secrets: private keys, the exchange token, epoch secrets.

They live in one file, `secrets.bin` (0600), sealed (ChaCha20-Poly1305, `xcircle.crypto`)
under a random 256-bit *home key*. The home key lives in the OS keyring (the `keyring`
package: macOS Keychain, Windows Credential Locker, Secret Service…) when a backend
exists, so a lost laptop's disk holds no usable secret; otherwise in `home.key` (0600)
beside it. Which one is recorded in `keystore.json` (never secret) when the keystore
is first made, and that first run tells the user (`Keystore.created`, `describe()`):
never silently. `XCIRCLE_KEYRING=0` turns the keyring off (tests, headless machines).
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any

import orjson

from xcircle import crypto
from xcircle.errors import StoreError
from xcircle.export import write_private

KEYRING_ENV = "XCIRCLE_KEYRING"
SERVICE = "xcircle"
META_FILE = "keystore.json"  # these three names are also in store.SECRET_FILES
SECRETS_FILE = "secrets.bin"
KEY_FILE = "home.key"
KEYRING, FILE = "keyring", "file"


class KeystoreError(StoreError):
    """The secrets cannot be read (keyring gone, home key lost, file damaged)."""


def keyring_backend() -> Any | None:
    """The OS keyring if one is usable here, else None (also when `XCIRCLE_KEYRING=0`)."""
    if os.environ.get(KEYRING_ENV, "1") == "0":
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - a dependency, but packagers may strip it
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    if getattr(backend, "backends", None) == []:  # a chainer with nothing to chain
        return None
    return backend


class Keystore:
    """The device's secrets in one home (see the module docstring)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.created = False
        self._announced = False
        self._data: dict[str, Any] = {}
        meta_path = home / META_FILE
        if meta_path.exists():
            meta = _load_json(meta_path)
            self.id, self.where = str(meta.get("id", "")), str(meta.get("where", ""))
            if self.where not in (KEYRING, FILE) or not self.id:
                raise KeystoreError(f"{meta_path} is damaged")
            self._key = self._read_key()
            self._data = self._read_data()
        else:
            self._create(meta_path)

    # -- where -------------------------------------------------------------------------

    def _create(self, meta_path: Path) -> None:
        backend = keyring_backend()
        self.id = crypto.random_bytes(16).hex()
        self._key = crypto.random_bytes(crypto.KEY_BYTES)
        self.where = FILE
        if backend is not None:
            try:
                backend.set_password(SERVICE, self._username, crypto.b64(self._key))
                self.where = KEYRING
            except Exception:  # any backend failure: fall back to the file, and say so
                pass
        if self.where == FILE:
            write_private(self.home / KEY_FILE, crypto.b64(self._key).encode())
        self._data = {}
        self._save()
        write_private(meta_path, orjson.dumps({"id": self.id, "where": self.where}))
        self.created = True

    @property
    def _username(self) -> str:
        return f"home-key:{self.id}"

    def _read_key(self) -> bytes:
        if self.where == FILE:
            try:
                text = (self.home / KEY_FILE).read_text("ascii")
            except (OSError, UnicodeDecodeError):
                raise KeystoreError(f"the home key {self.home / KEY_FILE} is missing") from None
        else:
            backend = keyring_backend()
            if backend is None:
                raise KeystoreError(
                    "this home's secrets are in the system keyring, which is not available"
                )
            text = backend.get_password(SERVICE, self._username)
            if text is None:
                raise KeystoreError("this home's key is no longer in the system keyring")
        try:
            return crypto.unb64(text.strip(), crypto.KEY_BYTES, "home key")
        except crypto.CryptoError:
            raise KeystoreError("the home key is damaged") from None

    def _read_data(self) -> dict[str, Any]:
        path = self.home / SECRETS_FILE
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = orjson.loads(crypto.open_home(self._key, sealed))
        except (crypto.CryptoError, orjson.JSONDecodeError):
            raise KeystoreError(f"{path} does not open with this home's key") from None
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        sealed = crypto.seal_home(self._key, orjson.dumps(self._data))
        write_private(self.home / SECRETS_FILE, sealed)

    def describe(self) -> str:
        """One line for people: where the secrets are kept."""
        if self.where == KEYRING:
            return "in the system keyring (the home holds them only encrypted)"
        return (
            f"in {self.home / KEY_FILE} (no system keyring found: anyone who can read "
            "this home can read them)"
        )

    def first_run_notice(self) -> str | None:
        """The line that tells where secrets are kept, once, when this run made the
        keystore (SEC-27: never silently); None afterwards."""
        if not self.created or self._announced:
            return None
        self._announced = True
        return f"This device's keys and tokens are kept {self.describe()}."

    def info(self) -> dict[str, str]:
        return {"where": self.where, "detail": self.describe()}

    # -- the secrets -----------------------------------------------------------------------

    def device_keys(self) -> crypto.DeviceKeys:
        """This device's keys, made on first use (at `init` or `join`)."""
        raw = self._data.get("device")
        if raw is None:
            keys = crypto.DeviceKeys.generate()
            self._data["device"] = keys.to_json()
            self._save()
            return keys
        try:
            return crypto.DeviceKeys.from_json(raw)
        except crypto.CryptoError:
            raise KeystoreError("this device's keys are damaged") from None

    def has_device_keys(self) -> bool:
        return "device" in self._data

    @property
    def token(self) -> str | None:
        value = self._data.get("token")
        return value if isinstance(value, str) else None

    def set_token(self, token: str | None) -> None:
        if token is None:
            self._data.pop("token", None)
        else:
            self._data["token"] = token
        self._save()

    def epoch_secret(self, circle: str, epoch: int) -> bytes | None:
        raw = self._data.get("epochs", {}).get(circle, {}).get(str(epoch))
        return crypto.unb64(raw, crypto.KEY_BYTES, "epoch secret") if raw else None

    def epochs(self, circle: str) -> list[int]:
        return sorted(int(e) for e in self._data.get("epochs", {}).get(circle, {}))

    def save_epoch(self, circle: str, epoch: int, secret: bytes) -> None:
        self._data.setdefault("epochs", {}).setdefault(circle, {})[str(epoch)] = crypto.b64(secret)
        self._save()

    # Invites this device made: what it needs to open their joiners' bundles.

    def save_invite(self, circle: str, invite_id: str, record: dict[str, Any]) -> None:
        self._data.setdefault("invites", {}).setdefault(circle, {})[invite_id] = record
        self._save()

    def invites(self, circle: str) -> dict[str, dict[str, Any]]:
        found = self._data.get("invites", {}).get(circle, {})
        return dict(found) if isinstance(found, dict) else {}

    def forget_invite(self, circle: str, invite_id: str) -> None:
        if self._data.get("invites", {}).get(circle, {}).pop(invite_id, None) is not None:
            self._save()

    def forget_circle(self, circle: str) -> None:
        found = self._data.get("epochs", {}).pop(circle, None)
        if self._data.get("invites", {}).pop(circle, None) is not None or found is not None:
            self._save()


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise KeystoreError(f"{path} is damaged") from None
    if not isinstance(data, dict):
        raise KeystoreError(f"{path} is damaged")
    return data


def exists(home: Path) -> bool:
    """Whether this home has a keystore yet (reading must not make one)."""
    return (home / META_FILE).exists()


_open: weakref.WeakKeyDictionary[Any, Keystore] = weakref.WeakKeyDictionary()
_opening = threading.Lock()


def keystore_of(owner: Any) -> Keystore:
    """The keystore of a store's home, opened once per store object (`owner.home`):
    reading the keyring can be slow, and the secrets are read on every sync."""
    with _opening:  # the app's sync worker and its UI thread may both ask first
        ks = _open.get(owner)
        if ks is None:
            ks = _open[owner] = Keystore(owner.home)
        return ks
