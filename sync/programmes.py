"""Programmes on the exchange: publishing staged circles, the hand-over at kick-off, and
the reports that let the coordinator follow each circle without reading it.

- `publish`: each staged circle becomes a circle (created once: its id is recorded with
  `mark_published` right after, so a re-run finds it), shared encrypted with the
  coordinator's device as its convener, put in the programme on the exchange, and one
  single-use invite per participant. Idempotent: circles made are not made again, and a
  participant with an unexpired invite is not invited again (unless asked).
- the hand-over (`handover`): the coordinator's device promotes a member to convener and
  steps down to member; the next sync of a convener's device (`after_pull`) then
  removes the coordinator through the usual removal (`remove_member_remote`: a new epoch
  wrapped without the coordinator's devices, made by a device that stays). The
  coordinator never learns the new epoch's secret.
- reports: on every sync a convener's device computes its circle's aggregates
  (`xcircle.services.programme_reports`), seals them to the coordinator's device key
  (`crypto.seal_report`) and sends them when they changed; `fetch_reports` opens them on
  the coordinator's device.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from hashlib import sha256
from typing import TYPE_CHECKING, Any

from sync.commands import invite_code, remove_member_remote, set_role_remote, share_circle
from sync.protocol import NotMember, SyncError
from sync.state import Gate, direct, members_by_join, require_credentials
from xcircle import crypto
from xcircle.domain import CONVENER, METRICS
from xcircle.errors import InvalidInput
from xcircle.services import programme_reports as reports
from xcircle.services.members import is_convener
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient
    from sync.engine import _Run
    from xcircle.programmes.model import Programme
    from xcircle.services import Services

log = logging.getLogger(__name__)

REPORT_SENT = "programme_report_sent"  # circle meta: digest of the last report sent
# Circle meta on the coordinator's device: participant id -> {member, expires} of the
# invite made for them (the codes themselves are in the programme's file).
INVITES = "programme_invites"


@dataclass(frozen=True)
class InviteRow:
    """One line of the mail-merge CSV."""

    name: str
    email: str
    circle: str
    code: str
    expires: str
    new: bool


@dataclass
class Published:
    """What a publish did: circles made now, invites made now, every current row."""

    created: list[str] = field(default_factory=list)
    circles: dict[str, str] = field(default_factory=dict)  # staged id -> circle id
    rows: list[InviteRow] = field(default_factory=list)

    @property
    def invited(self) -> int:
        return sum(1 for r in self.rows if r.new)


def circle_name(programme: Programme, index: int) -> str:
    return f"{programme.name} · circle {index}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


OLD_EXCHANGE = "this exchange does not offer programmes yet: its operator needs to update it"
PROGRAMME_NOT_FOUND = "programme_not_found"  # the exchange's code (sync.exchange.programmes)


def _reports_of(client: ExchangeClient, programme_id: str) -> dict[str, Any] | None:
    """The exchange's answer for this device's programme, or None when it offers
    programmes but knows this one not (yet); an exchange from before programmes is an
    error that says so."""
    try:
        return client.programme_reports(programme_id)
    except NotMember as exc:
        if exc.code != PROGRAMME_NOT_FOUND:
            raise SyncError(OLD_EXCHANGE) from None
        return None


def _still_open(entry: object, joined: set[str], now: datetime) -> bool:
    """An invite this device made for a participant that is neither used (its member
    joined) nor expired."""
    if not isinstance(entry, Mapping) or entry.get("member") in joined:
        return False
    try:
        return datetime.fromisoformat(str(entry.get("expires"))) > now
    except ValueError:
        return False


def publish(
    services: Services,
    client: ExchangeClient,
    programme: Programme,
    *,
    ttl_seconds: int,
    reinvite: bool = False,
    purpose: str = "",
    frequency: str = "biweekly",
    on_store: Gate = direct,
) -> Published:
    """Publish every staged circle of `programme` (see the module docstring).

    Progress is recorded after each step the exchange acknowledged (the circle's id with
    `mark_published` as soon as it exists; each invite's code there too, and its member
    id and expiry in the circle's local meta), so an interrupted publish is finished by
    running it again."""
    store = services.store
    on_store(partial(require_credentials, store))  # not joined: one clear line
    if not programme.staged:
        raise InvalidInput("the programme has no staged circles: form them first")
    # Unreachable, not let in, or an exchange without programmes: stop before writing.
    client.me()
    _reports_of(client, programme.id)
    from xcircle.keystore import keystore_of

    public = on_store(lambda: keystore_of(store).device_keys().public)
    mark = services.programmes.mark_published
    now = services.now()
    done = Published()
    for index, staged in enumerate(programme.staged, start=1):
        entry = programme.published.get(staged.id) or {}
        cid = entry.get("circle")
        codes: dict[str, str] = dict(entry.get("invites") or {})
        if not isinstance(cid, str) or not on_store(partial(store.has_circle, cid)):
            name = circle_name(programme, index)
            make = partial(_create, services, programme.id, name, public, purpose, frequency)
            cid = on_store(make)
            on_store(partial(mark, programme.id, staged.id, cid, codes))
            done.created.append(cid)
        done.circles[staged.id] = cid
        if not on_store(partial(store.meta, cid)).get("shared"):
            share_circle(store, client, cid, on_store=on_store)
        client.add_programme_circle(programme.id, cid)
        invite = partial(_invite, services, client, programme, staged.id, cid, codes)
        done.rows += invite(staged.members, ttl_seconds, reinvite, now, on_store)
    return done


def _invite(
    services: Services,
    client: ExchangeClient,
    programme: Programme,
    staged_id: str,
    cid: str,
    codes: dict[str, str],
    members: Sequence[str],
    ttl_seconds: int,
    reinvite: bool,
    now: datetime,
    on_store: Gate,
) -> list[InviteRow]:
    """One staged circle's invites: a new one for each participant who has none open
    (or for all, `reinvite`), each recorded as soon as the exchange made it; the rows of
    every participant who has not joined yet."""
    store, mark = services.store, services.programmes.mark_published
    title = str((on_store(partial(store.get, cid, "circle", cid)) or {}).get("name", cid))
    made = dict(on_store(partial(store.meta, cid)).get(INVITES) or {})
    joined = {m["id"] for m in on_store(partial(store.records, cid, "member"))}
    rows = []
    for pid in members:
        person = programme.participants.get(pid)
        if person is None:
            continue
        current = made.get(pid)
        if isinstance(current, Mapping) and current.get("member") in joined:
            continue  # joined already: nothing to send
        fresh = reinvite or pid not in codes or not _still_open(current, joined, now)
        if fresh:
            answer = invite_code(store, client, cid, ttl_seconds, on_store=on_store)
            current = {"member": answer["member"], "expires": _iso(int(answer["expires_at"]))}
            made[pid] = current
            codes[pid] = str(answer["code"])
            on_store(partial(store.set_meta, cid, **{INVITES: made}))
            on_store(partial(mark, programme.id, staged_id, cid, dict(codes)))
        assert isinstance(current, Mapping)
        expires = str(current["expires"])
        rows.append(InviteRow(person.name, person.email, title, codes[pid], expires, fresh))
    return rows


def _create(
    services: Services,
    programme: str,
    name: str,
    public: crypto.PublicKeys,
    purpose: str,
    frequency: str,
) -> str:
    """A new circle carrying its programme, the coordinator's key and what it reports
    (everything, until its convener decides otherwise); me as its convener."""
    found = _made_before(services.store, programme, name)
    if found is not None:
        return found  # made by a publish that stopped before recording it
    circle = services.circles.create(name, purpose=purpose, frequency=frequency)
    cid = str(circle["id"])
    me = services.ctx.me(cid)
    ctx = services.ctx
    ctx.commit(
        [
            ctx.op(
                cid,
                "circle",
                cid,
                programme=programme,
                coordinator=me,
                coordinator_key=crypto.b64(public.x25519),
                coordinator_fp=public.fingerprint,
                reports=list(METRICS),
            ),
            ctx.op(cid, "member", str(me), role=CONVENER),
        ]
    )
    return cid


def _made_before(store: Store, programme: str, name: str) -> str | None:
    for cid in store.circle_ids():
        record = store.get(cid, "circle", cid)
        if record and record.get("programme") == programme and record.get("name") == name:
            return cid
    return None


# -- the hand-over -------------------------------------------------------------------------


def handover(
    services: Services,
    client: ExchangeClient,
    circle: str,
    member: str,
    *,
    on_store: Gate = direct,
) -> None:
    """The coordinator hands a programme circle to `member`: promote them to convener,
    step down to member, tell the exchange, push. The next sync of a convener's device
    removes the coordinator (a new epoch without the coordinator's devices)."""
    from sync.engine import sync as run_sync

    ctx = services.ctx
    info = on_store(partial(reports.programme_of, ctx, circle))
    me = on_store(partial(ctx.me, circle))
    if info is None:
        raise InvalidInput("this circle belongs to no programme", field="circle")
    if me is None or info["coordinator"] != me:
        raise InvalidInput("only the programme's coordinator hands a circle over")
    if member == me:
        raise InvalidInput("hand the circle to one of its members, not to yourself")
    devices = on_store(partial(services.members.devices, circle))
    if not devices.get(member):
        raise InvalidInput(
            "that member has not joined from a device yet: hand over once they have",
            field="member",
        )
    # The exchange's roles (and whether it answers at all) before anything changes. Each
    # step is skipped when already done, so a hand-over cut short runs again.
    listed = client.circle(circle).get("members") or []
    roles = {m.get("member_id"): m.get("role") for m in listed if isinstance(m, dict)}
    members, store = services.members, services.store
    if not on_store(partial(members.is_convener, circle, member)):
        on_store(partial(members.set_role, circle, member, CONVENER))
    if roles.get(member) != CONVENER:
        set_role_remote(store, circle, member, CONVENER, client=client, on_store=on_store)
    if on_store(partial(members.is_convener, circle, me)):
        on_store(partial(members.set_role, circle, me, "member"))
    if roles.get(me) == CONVENER:
        set_role_remote(store, circle, me, "member", client=client, on_store=on_store)
    run_sync(services.store, client, circles=[circle], on_store=on_store)


def _coordinator_to_remove(store: Store, circle: str) -> str | None:
    """On a convener's device: the coordinator of a programme circle once it stepped
    down (no longer a convener) and is still a member; else None."""
    record = store.get(circle, "circle", circle)
    me = store.meta(circle).get("me")
    if record is None or not record.get("programme") or not isinstance(me, str):
        return None
    coordinator = record.get("coordinator")
    members = members_by_join(store, circle)
    if not isinstance(coordinator, str) or coordinator == me:
        return None
    if not any(m["id"] == coordinator for m in members):
        return None
    if is_convener(members, coordinator) or not is_convener(members, me):
        return None
    return coordinator


def _remove_coordinator(store: Store, circle: str, coordinator: str) -> None:
    from xcircle.services import Services

    Services(store).members.remove(circle, coordinator)


# -- reports ----------------------------------------------------------------------------------


def sealed_report(store: Store, circle: str) -> tuple[str, str] | None:
    """This device's report of `circle`, sealed for the coordinator: `(base64, digest
    of the plain report)`, or None when the circle is in no programme, this device is
    not a convener's (or is the coordinator's), or the report is the one last sent
    (checked before sealing: a sync that changed nothing seals nothing)."""
    from xcircle.keystore import keystore_of
    from xcircle.services.context import Context

    ctx = Context(store)
    info = reports.programme_of(ctx, circle)
    meta = store.meta(circle)
    me = meta.get("me")
    if info is None or not isinstance(me, str) or info["coordinator"] == me:
        return None
    if not is_convener(ctx.members(circle), me) or not info["coordinator_key"]:
        return None
    report = reports.of_circle(ctx, circle)
    if report is None:
        return None
    plain = reports.encode(report)
    key = crypto.unb64(info["coordinator_key"], crypto.KEY_BYTES, "coordinator key")
    digest = sha256(plain + key).hexdigest()
    if meta.get(REPORT_SENT) == digest:
        return None
    keys = keystore_of(store).device_keys()
    sealed = crypto.seal_report(keys, key, str(info["programme"]), circle, plain)
    return crypto.b64(sealed), digest


def after_pull(run: _Run, metas: dict[str, dict[str, Any]]) -> None:
    """The programme step of a sync, for each circle this device convenes: remove the
    coordinator once it handed the circle over, and send the circle's report when it
    changed. A failure is reported for its circle and never stops the sync."""
    for cid in metas:
        rep = run.report.circles.get(cid)
        if rep is None or rep.denied or rep.waiting:
            continue
        try:
            coordinator = run.gate(partial(_coordinator_to_remove, run.store, cid))
            if coordinator is not None:
                run.gate(partial(_remove_coordinator, run.store, cid, coordinator))
                remove_member_remote(
                    run.store, cid, coordinator, client=run.client, on_store=run.gate
                )
                run.report.notices.append(
                    f"circle {cid[:8]}: handed over; the programme's coordinator left"
                )
            made = run.gate(partial(sealed_report, run.store, cid))
            if made is None:
                continue
            sealed, digest = made
            run.client.put_report(cid, sealed)
            run.gate(partial(run.store.set_meta, cid, **{REPORT_SENT: digest}))
        except (SyncError, InvalidInput, crypto.CryptoError) as exc:
            rep.error = f"programme: {exc}"
            run.report.warnings.append(f"circle {cid[:8]}: {rep.error}")


@dataclass(frozen=True)
class CircleProgress:
    """One circle in the coordinator's view: what its report says, metric by metric."""

    circle: str
    name: str
    reported_at: int | None
    metrics: dict[str, dict[str, Any]]  # only what `programme_reports.safe` lets through
    problem: str = ""
    # False: the sender could not be checked against the circle's devices (this device
    # no longer holds the circle); the view says so.
    verified: bool = True

    def shown(self, metric: str) -> str:
        if self.problem:
            return self.problem
        if self.reported_at is None:
            return "no report yet"
        return reports.shown(self.metrics.get(metric))


def fetch_reports(
    store: Store,
    client: ExchangeClient,
    programme_id: str,
    names: Mapping[str, str],
    *,
    on_store: Gate = direct,
) -> list[CircleProgress]:
    """The coordinator's device: every circle's report, opened and checked. A report
    that does not open, is not for its circle, or is signed by a device the circle's
    records (as this device last saw them) do not know is shown as a problem; one this
    device cannot check (it no longer holds the circle) is marked unverified."""
    import orjson

    from xcircle.keystore import keystore_of

    keys = on_store(lambda: keystore_of(store).device_keys())
    answer = _reports_of(client, programme_id)
    if answer is None:
        raise InvalidInput("the exchange knows no such programme of this device: publish it first")
    out = []
    for row in answer.get("circles") or []:
        cid = str(row.get("circle_id"))
        name = names.get(cid, cid[:8])
        sealed, at = row.get("report"), row.get("reported_at")
        if not isinstance(sealed, str):
            out.append(CircleProgress(cid, name, None, {}))
            continue
        try:
            opened = crypto.open_report(keys, programme_id, cid, crypto.unb64(sealed))
            known = on_store(partial(_known_signer, store, cid, opened.signer))
            if known is False:
                raise crypto.CryptoError("signed by a device this circle's records do not know")
            report = orjson.loads(opened.report)
            if not isinstance(report, dict) or report.get("circle") != cid:
                raise crypto.CryptoError("a report of another circle")
            metrics = report.get("metrics") or {}
        except (crypto.CryptoError, orjson.JSONDecodeError) as exc:
            out.append(CircleProgress(cid, name, at, {}, problem=f"unreadable report: {exc}"))
            continue
        safe = {m: reports.safe(metrics.get(m)) for m in METRICS}
        when = at if isinstance(at, int) else None
        out.append(CircleProgress(cid, name, when, safe, verified=known is True))
    return out


def _known_signer(store: Store, circle: str, ed25519: bytes) -> bool | None:
    """Whether the signer is a device of the circle as this device's records have it
    (the coordinator held the circle until the hand-over; a convener's later devices
    are unknown to it: their reports wait until one it knows sends). None: this device
    no longer holds the circle, so the sender cannot be checked."""
    if not store.has_circle(circle):
        return None
    wanted = crypto.b64(ed25519)
    return any(d.get("ed25519") == wanted for d in store.records(circle, "device"))
