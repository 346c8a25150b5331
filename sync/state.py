"""What sync knows between runs, and what a run reports: local only, no network.

The exchange credentials and the sync state live in the profile database (0600 files in
a 0700 home); what sync keeps per circle (shared, my member id, pull cursor, removals the
exchange has yet to hear of) lives in the circle's local meta, read and written by the
helpers below. `status(store)` is what `xcircle status` and the TUI's status line show.
`Gate` lets a worker thread do network I/O while every store call runs on the thread
that owns the store. Nothing here imports httpx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from sync.protocol import NotJoined
from xcircle.store import QUARANTINE, REMOVED, Store

# {"url", "device_id", "org"} in the profile DB; the token is in the keystore (a home from
# before the keystore still has it here, and `credentials` moves it on first read).
EXCHANGE_SETTING = "exchange"
STATE_SETTING = "sync_state"  # {"last_sync", "last_attempt", "last_error", "skew_ms", "denied"}

T = TypeVar("T")


class Gate(Protocol):
    """Runs a store call where the store lives (the UI thread, for the TUI's worker)."""

    def __call__(self, fn: Callable[[], T], /) -> T: ...


def direct(fn: Callable[[], T], /) -> T:
    """The gate of single-threaded callers (CLI, tests): just call."""
    return fn()


def through_lock(store: Store) -> Gate:
    """The gate of a worker thread beside a UI that reads the same store: each gated
    call (often several store calls) runs whole under the store's own lock, so no other
    thread's call interleaves, and the UI thread is never asked to do the work."""
    return store.atomically


@dataclass
class CircleReport:
    """What one sync did to one circle."""

    circle: str
    pushed: int = 0  # ops the exchange acknowledged
    pulled: int = 0  # envelopes received
    merged: int = 0  # pulled ops that changed the state
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    held: int = 0  # pulled ops waiting because they are stamped > 5 min ahead of us
    held_back: int = 0  # local ops not pushed: stamped > 5 min ahead of the exchange
    # Fields this device had just set that a pulled op overwrote (last writer wins):
    # {"entity", "key", "field", "author"} (author: the winning op's node).
    overwritten: list[dict[str, str]] = field(default_factory=list)
    pending: int = 0  # ops still in the outbox after this sync
    denied: bool = False  # the exchange says this device is not (or no longer) a member
    waiting: bool = False  # this device's join waits for a convener's device to confirm it
    joins: int = 0  # others' joins waiting for confirmation, as the pull said
    gap: str | None = None
    error: str | None = None


@dataclass
class SyncReport:
    """The outcome of one `sync`: per circle, plus warnings (clock skew, gaps)."""

    circles: dict[str, CircleReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # news for people: "Bea joined · …"
    requests: int = 0
    skew_ms: int | None = None
    started: int = 0
    finished: int = 0

    def circle(self, cid: str) -> CircleReport:
        return self.circles.setdefault(cid, CircleReport(cid))

    @property
    def pushed(self) -> int:
        return sum(c.pushed for c in self.circles.values())

    @property
    def merged(self) -> int:
        return sum(c.merged for c in self.circles.values())

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.circles.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- credentials and state ---------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """How this device reaches its exchange: the URL, device id and organization in the
    profile database, the token in the keystore (`xcircle.keystore`)."""

    url: str
    token: str
    device_id: str
    org: str
    insecure_http: bool = False  # joined with --insecure-http (tests, a lab): kept for syncs


def credentials(store: Store) -> Credentials | None:
    raw = store.setting(EXCHANGE_SETTING)
    if not isinstance(raw, dict) or not raw.get("url"):
        return None
    if raw.get("token"):  # a home from before the keystore: move the token into it
        save_credentials(store, Credentials(raw["url"], raw["token"], *_device(raw)))
    from xcircle.keystore import keystore_of  # cryptography: not at the app's start

    token = keystore_of(store).token
    if not token:
        return None
    return Credentials(raw["url"], token, *_device(raw))


def _device(raw: dict[str, Any]) -> tuple[str, str, bool]:
    return raw.get("device_id", ""), raw.get("org", ""), raw.get("insecure_http") is True


def require_credentials(store: Store) -> Credentials:
    creds = credentials(store)
    if creds is None:
        raise NotJoined("this device has not joined an exchange: run `xcircle join URL TOKEN`")
    return creds


def save_credentials(store: Store, creds: Credentials) -> None:
    """The token into the keystore, the rest into the profile (never the token)."""
    from xcircle.keystore import keystore_of

    keystore_of(store).set_token(creds.token)
    public = {k: v for k, v in asdict(creds).items() if k != "token"}
    store.save_setting(EXCHANGE_SETTING, public)


def secrets_info(store: Store) -> dict[str, Any]:
    """Where this device's secrets are kept and its fingerprint (None before `init`)."""
    from xcircle.keystore import exists, keystore_of

    if not exists(store.home):
        return {"secrets": None, "fingerprint": None}
    ks = keystore_of(store)
    keys = ks.device_keys() if ks.has_device_keys() else None
    return {"secrets": ks.info(), "fingerprint": keys.public.fingerprint if keys else None}


def move_exchange(store: Store, url: str) -> Credentials:
    """Point this device at its exchange's new URL (same exchange, same token: the
    operator moved it). `url` is already normalized by the caller."""
    creds = require_credentials(store)
    moved = Credentials(url, creds.token, creds.device_id, creds.org)
    save_credentials(store, moved)
    return moved


def shared_circles(store: Store) -> dict[str, dict[str, Any]]:
    """The shared circles, each with its local meta (read once: callers need both)."""
    metas = {cid: store.meta(cid) for cid in store.circle_ids()}
    return {cid: meta for cid, meta in metas.items() if meta.get("shared")}


def cursor_of(meta: dict[str, Any]) -> int:
    """A circle's pull cursor from its meta (0 before its first pull)."""
    return int(meta.get("cursor") or 0)


# Local meta of a circle shared by a version that knows end-to-end encryption; a shared
# circle without it was shared before, and is upgraded on its first sync (sync/upgrade.py).
SHARED_WITH_E2E = "shared_with_e2e"


def members_by_join(store: Store, circle: str) -> list[dict[str, Any]]:
    """A circle's member records in join order (ties by id), as the role rule reads them
    (`xcircle.services.members.is_convener`)."""
    return sorted(store.records(circle, "member"), key=lambda m: (m.get("joined", ""), m["id"]))


def mark_shared(store: Store, circle: str, me: str) -> None:
    """Make `circle` a shared circle (created locally if new) with my member id `me`;
    its pull cursor stays where it is."""
    if not store.has_circle(circle):
        store.create_circle(circle)
    # Shared anew (an invite accepted again): no longer the circle this device left.
    meta = store.meta(circle)
    mark = {SHARED_WITH_E2E: True} if not meta.get("shared") else {}
    store.set_meta(circle, me=me, shared=True, cursor=cursor_of(meta), **{REMOVED: False}, **mark)


def queue_removal(store: Store, circle: str, member_id: str, *, queued: bool) -> None:
    """Put `member_id` on (or take it off) the circle's removals the exchange must hear of;
    read afresh each time, as another removal may have been queued in between."""
    left = [m for m in store.meta(circle).get("remove_pending") or [] if m != member_id]
    store.set_meta(circle, remove_pending=[*left, member_id] if queued else left)


def forget_circle(store: Store, circle: str) -> None:
    """Forget this device's copy of a circle it was removed from: the circle's files,
    its epoch secrets, and the exchange's verdict on it."""
    from xcircle.keystore import exists, keystore_of

    store.forget_circle(circle)
    if exists(store.home):
        keystore_of(store).forget_circle(circle)
    state = sync_state(store)
    if circle in state.get("denied", []):
        state["denied"] = [c for c in state["denied"] if c != circle]
        store.save_setting(STATE_SETTING, state)


def sync_state(store: Store) -> dict[str, Any]:
    state = store.setting(STATE_SETTING)
    return dict(state) if isinstance(state, dict) else {}


def status(store: Store) -> dict[str, Any]:
    """What `xcircle status` and the status widget show; local only, no request."""
    creds = credentials(store)
    state = sync_state(store)
    denied = set(state.get("denied", []))
    circles = []
    for cid, meta in shared_circles(store).items():
        record = store.get(cid, "circle", cid)
        circles.append(
            {
                "id": cid,
                "name": record["name"] if record else "",
                "pending": store.pending(cid),
                "quarantined": store.count(cid, QUARANTINE),  # counted, not decoded
                "held": store.held(cid),
                "cursor": cursor_of(meta),
                "denied": cid in denied or bool(meta.get(REMOVED)),
                "waiting": bool(meta.get("joining")),  # my join awaits a convener's device
            }
        )
    return {
        "joined": creds is not None,
        "exchange": creds.url if creds else None,
        "org": creds.org if creds else None,
        "device_id": creds.device_id if creds else None,
        **secrets_info(store),
        "last_sync": state.get("last_sync"),
        "last_attempt": state.get("last_attempt"),
        "last_error": state.get("last_error"),
        "skew_ms": state.get("skew_ms"),
        "circles": circles,
        "pending": sum(c["pending"] for c in circles),
    }
