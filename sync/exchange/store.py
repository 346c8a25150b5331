"""The exchange's operations on the database, one transaction each (routes stay thin)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from . import metrics
from .admin import revoke_device
from .auth import Principal
from .db import (
    circle_members,
    circles,
    devices,
    joins,
    ops,
    read_tx,
    tokens,
    write_tx,
)
from .epochs import epoch_error
from .errors import ExchangeError, forbidden, not_found, unauthorized
from .invites import pending_circles
from .members import CONVENER
from .models import Envelope
from .quotas import Quotas, check_circles_per_device
from .tokens import ADMIN, DEVICE, PREFIX, new_id, new_token


def _active(circle_id: Any, device_id: str) -> Any:
    return and_(
        circle_members.c.circle_id == circle_id,
        circle_members.c.device_id == device_id,
        circle_members.c.removed_at.is_(None),
    )


def _is_member(conn: Connection, circle_id: str, device_id: str) -> bool:
    row = conn.execute(select(circle_members.c.member_id).where(_active(circle_id, device_id)))
    return row.first() is not None


def enroll_device(
    engine: Engine,
    p: Principal,
    name: str,
    now: int,
    keys: tuple[bytes, bytes] | None = None,
) -> tuple[str, str]:
    """Consume the enrollment token `p` and register a device: `(device_id, device_token)`,
    with its public `keys` (X25519, Ed25519) when given."""
    device_id = new_id()
    token, token_hash = new_token(PREFIX[DEVICE])
    with write_tx(engine) as conn:
        # The conditional UPDATE is the single-use check: of two racing enrollments with one
        # token, exactly one sees rowcount 1.
        used = conn.execute(
            update(tokens)
            .where(
                tokens.c.hash == p.token_hash,
                tokens.c.used_at.is_(None),
                tokens.c.revoked_at.is_(None),
                tokens.c.expires_at > now,
            )
            .values(used_at=now)
        ).rowcount
        if used != 1:
            raise unauthorized()
        x25519, ed25519 = keys if keys is not None else (None, None)
        conn.execute(
            devices.insert().values(
                id=device_id,
                org_id=p.org_id,
                name=name,
                created=now,
                x25519=x25519,
                ed25519=ed25519,
            )
        )
        conn.execute(
            tokens.insert().values(
                hash=token_hash, kind=DEVICE, org_id=p.org_id, device_id=device_id, created=now
            )
        )
    return device_id, token


def rotate_device_token(engine: Engine, p: Principal, now: int) -> str:
    """Replace the calling device's token `p` with a new one, in one transaction: the old
    token stops working at once. Of two concurrent rotations with one token exactly one
    succeeds (the conditional UPDATE); the other gets 401."""
    token, token_hash = new_token(PREFIX[DEVICE])
    with write_tx(engine) as conn:
        done = conn.execute(
            update(tokens)
            .where(tokens.c.hash == p.token_hash, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
        if done != 1:
            raise unauthorized()
        conn.execute(
            tokens.insert().values(
                hash=token_hash, kind=DEVICE, org_id=p.org_id, device_id=p.device_id, created=now
            )
        )
    return token


def delete_device(engine: Engine, p: Principal, device_id: str, now: int) -> None:
    """Revoke `device_id`: allowed to the device itself and to its organization's admin."""
    with write_tx(engine) as conn:
        org_id = conn.execute(select(devices.c.org_id).where(devices.c.id == device_id)).scalar()
        if org_id is None:
            raise not_found("device not found")
        if p.device_id != device_id and not (p.kind == ADMIN and p.org_id == org_id):
            raise forbidden()
        revoke_device(conn, device_id, now)


def my_circles(engine: Engine, device_id: str) -> tuple[list[str], list[str]]:
    """Ids of the circles this device belongs to, and of those where its join waits for
    confirmation."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(circle_members.c.circle_id)
            .where(circle_members.c.device_id == device_id, circle_members.c.removed_at.is_(None))
            .order_by(circle_members.c.circle_id)
        )
        return [r.circle_id for r in rows], pending_circles(conn, device_id)


def create_circle(
    engine: Engine, device_id: str, circle_id: str, member_id: str, now: int, q: Quotas
) -> bool:
    """Create a circle with the caller as first member. True if created, False if the caller
    already had it (idempotent retry). A circle the caller cannot see answers 409: ids are
    random 128-bit hex chosen by clients, so a collision reveals nothing worth hiding; so
    does the loser of two concurrent creates of one id (never a 500)."""
    try:
        with write_tx(engine) as conn:
            # The device's row lock (quota) comes first: a device's own concurrent creates
            # queue here, and the later one sees the earlier one's circle.
            check_circles_per_device(conn, device_id, q)
            exists = conn.execute(select(circles.c.id).where(circles.c.id == circle_id)).first()
            if exists is not None:
                if _is_member(conn, circle_id, device_id):
                    return False
                raise _circle_exists()
            conn.execute(
                circles.insert().values(id=circle_id, created_by=device_id, next_seq=1, created=now)
            )
            conn.execute(
                circle_members.insert().values(
                    circle_id=circle_id,
                    device_id=device_id,
                    member_id=member_id,
                    joined=now,
                    role=CONVENER,
                )
            )
    except IntegrityError:
        raise _circle_exists() from None
    return True


def _circle_exists() -> ExchangeError:
    return ExchangeError(409, "circle_exists", "a circle with this id already exists")


def decode_ops(envs: Sequence[Envelope], max_op_bytes: int) -> list[tuple[bytes, bytes]]:
    """`(nonce, payload)` bytes of each envelope, or 422 naming the first bad one, or 413
    for an op over `max_op_bytes`. Done before any transaction, so no lock is held while
    decoding."""
    out = []
    for i, env in enumerate(envs):
        if len(env.payload) + len(env.nonce) > 4 * ((max_op_bytes + 2) // 3) + 4:
            raise _op_too_large(i, max_op_bytes)  # refused before decoding: no copy made
        try:
            out.append(
                (
                    base64.b64decode(env.nonce, validate=True),
                    base64.b64decode(env.payload, validate=True),
                )
            )
        except (binascii.Error, ValueError):
            raise ExchangeError(
                422, "invalid_request", f"ops[{i}]: nonce and payload must be base64"
            ) from None
        if len(out[-1][0]) + len(out[-1][1]) > max_op_bytes:
            raise _op_too_large(i, max_op_bytes)
    return out


def _op_too_large(i: int, max_op_bytes: int) -> ExchangeError:
    return ExchangeError(413, "too_large", f"ops[{i}]: an op is at most {max_op_bytes} bytes")


def _op_conflict() -> ExchangeError:
    return ExchangeError(409, "op_conflict", "an op with this id exists with different bytes")


# The counter row lock: one UPDATE both locks the circle's row (PostgreSQL row lock; on
# SQLite the transaction already holds the database write lock from BEGIN IMMEDIATE) and
# reserves `n` seqs, returning the new next_seq. Module-level constructs with bind
# parameters: compiled once, and psycopg prepares them server-side after a few uses.
_RESERVE = (
    update(circles)
    .where(circles.c.id == bindparam("circle"))
    .values(next_seq=circles.c.next_seq + bindparam("n"))
    .returning(circles.c.next_seq, circles.c.epoch)
)
_SET_NEXT = (
    update(circles).where(circles.c.id == bindparam("circle")).values(next_seq=bindparam("next"))
)
_KNOWN = select(ops.c.op_id, ops.c.seq, ops.c.epoch, ops.c.nonce, ops.c.payload).where(
    ops.c.circle_id == bindparam("circle"), ops.c.op_id.in_(bindparam("ids", expanding=True))
)
_INSERT = ops.insert()  # executemany: psycopg pipelines the rows in one round trip


def push(
    engine: Engine,
    caller: Callable[[Connection], str],
    circle_id: str,
    envs: Sequence[Envelope],
    decoded: Sequence[tuple[bytes, bytes]],
    now: int,
) -> tuple[list[dict[str, Any]], int]:
    """Append envelopes (with their `decode_ops` bytes) to the circle's log; idempotent by op
    id. `caller` resolves the pushing device inside the transaction (authentication and
    membership in one query). Returns per-op seqs and the circle's next seq. All or
    nothing: one conflicting op id rolls the whole push back.

    Optimistic: a push of new ops (the normal case) costs five round trips on PostgreSQL
    (BEGIN, caller, lock-and-reserve, INSERT, COMMIT), the last two under the lock. An op
    id already in the log (a retry after a lost answer) fails that INSERT on the unique
    constraint; the push then runs again, looking the known ids up under the lock first."""
    try:
        return _push(engine, caller, circle_id, envs, decoded, now, look_first=False)
    except (IntegrityError, _LookFirst):
        pass  # rolled back, nothing reserved: retry the careful way
    try:
        return _push(engine, caller, circle_id, envs, decoded, now, look_first=True)
    except IntegrityError:
        # Unreachable while the lock holds; answer as a conflict rather than a 500 if not.
        raise _op_conflict() from None


class _LookFirst(Exception):
    """The optimistic push met an op it cannot judge without looking the log up first."""


def _push(
    engine: Engine,
    caller: Callable[[Connection], str],
    circle_id: str,
    envs: Sequence[Envelope],
    decoded: Sequence[tuple[bytes, bytes]],
    now: int,
    *,
    look_first: bool,
) -> tuple[list[dict[str, Any]], int]:
    with write_tx(engine) as conn:
        device_id = caller(conn)
        if any(e.device_id not in (None, device_id) for e in envs):
            raise ExchangeError(403, "device_mismatch", "an op names another device as its pusher")
        ids = list({e.op_id: None for e in envs})
        # THE invariant: seqs are assigned under the circle's counter-row lock and the
        # counter moves in the same transaction, so pushes to one circle commit in seq
        # order and a reader's cursor never skips a seq that commits later. Seqs stay
        # contiguous: the optimistic path reserves exactly one per distinct op id and uses
        # them all, or fails and rolls the reservation back; the careful path reserves
        # nothing until it knows which ids are new.
        reserve = 0 if look_first else len(ids)
        next_seq, epoch = conn.execute(_RESERVE, {"circle": circle_id, "n": reserve}).one()
        next_seq -= reserve
        if not look_first and any(e.epoch != epoch for e in envs):
            # An op under another epoch may be a retry of one already stored (which keeps
            # its seq) or new (refused): only the careful path can tell.
            raise _LookFirst
        known: dict[str, tuple[int, int, bytes, bytes]] = {}
        if look_first:
            known = {
                r.op_id: (r.seq, r.epoch, bytes(r.nonce), bytes(r.payload))
                for r in conn.execute(_KNOWN, {"circle": circle_id, "ids": ids})
            }
        results: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for env, (nonce, payload) in zip(envs, decoded, strict=True):
            seen = known.get(env.op_id)
            if seen is not None:
                # Encrypted ops are sealed with a random nonce, so a client's retry after a
                # lost answer differs in bytes: the first write wins and keeps its seq.
                if seen[1:] != (env.epoch, nonce, payload) and seen[1] == env.epoch == 0:
                    raise _op_conflict()
                results.append({"op_id": env.op_id, "seq": seen[0]})
                continue
            if env.epoch != epoch:
                raise epoch_error(env.epoch, epoch)
            seq = next_seq
            next_seq += 1
            known[env.op_id] = (seq, env.epoch, nonce, payload)  # duplicates within a push
            rows.append(
                {
                    "circle_id": circle_id,
                    "seq": seq,
                    "op_id": env.op_id,
                    "epoch": env.epoch,
                    "nonce": nonce,
                    "payload": payload,
                    "device_id": device_id,
                    "received_at": now,
                }
            )
            results.append({"op_id": env.op_id, "seq": seq})
        if rows:
            conn.execute(_INSERT, rows)
            if look_first:
                conn.execute(_SET_NEXT, {"circle": circle_id, "next": next_seq})
        assert look_first or len(rows) == reserve, "reserved seqs must all be used"
    metrics.stored(len(rows))
    return results, next_seq


_PULL = (
    select(ops.c.seq, ops.c.op_id, ops.c.epoch, ops.c.nonce, ops.c.payload, ops.c.device_id)
    .where(ops.c.circle_id == bindparam("c"), ops.c.seq > bindparam("after"))
    .order_by(ops.c.seq)
    .limit(bindparam("n"))
)


def pull(
    engine: Engine,
    caller: Callable[[Connection], str],
    cursors: dict[str, int],
    limit: int,
    max_bytes: int,
) -> tuple[dict[str, Any], list[str]]:
    """Ops after each cursor, at most `limit` ops and about `max_bytes` op bytes in total
    (always at least one op, so a client moves on), plus the circles the caller may not
    read (unknown, never joined or removed look alike). `caller` resolves the pulling
    device on the same transaction, as for `push`. One query for the caller, one for the
    memberships, then per circle with something new a few range reads sized to the byte
    budget, so a page of large ops never loads more than about one budget."""
    b64 = base64.b64encode
    out: dict[str, Any] = {}
    with read_tx(engine) as conn:
        device_id = caller(conn)
        # Each circle's last seq, current epoch and number of pending joins (a sync knows
        # when to look at them without asking).
        waiting = (
            select(func.count())
            .where(joins.c.circle_id == circle_members.c.circle_id)
            .scalar_subquery()
        )
        allowed = {
            r.circle_id: (int(r.next_seq) - 1, int(r.epoch), int(r.joins))
            for r in conn.execute(
                select(
                    circle_members.c.circle_id,
                    circles.c.next_seq,
                    circles.c.epoch,
                    waiting.label("joins"),
                )
                .join(circles, circles.c.id == circle_members.c.circle_id)
                .where(
                    circle_members.c.device_id == device_id,
                    circle_members.c.removed_at.is_(None),
                    circle_members.c.circle_id.in_(list(cursors)),
                )
            )
        }
        budget = _Budget(limit, max_bytes)
        for circle_id, after in cursors.items():
            seen = allowed.get(circle_id)
            if seen is None:
                continue
            last, epoch, waiting_joins = seen
            page: list[dict[str, Any]] = []
            nxt = after
            while nxt < last and budget.open():
                # Seqs are contiguous from 1, so (nxt, last] holds exactly last - nxt ops.
                n = min(budget.ops, last - nxt, budget.chunk())
                rows = conn.execute(_PULL, {"c": circle_id, "after": nxt, "n": n}).all()
                if not rows:
                    break
                for s, o, e, nc, p, d in rows:
                    if not budget.take(len(nc) + len(p)):
                        break
                    page.append(
                        {
                            "seq": s,
                            "op_id": o,
                            "epoch": e,
                            "nonce": b64(nc).decode(),
                            "payload": b64(p).decode(),
                            "device_id": d,
                        }
                    )
                    nxt = s
            out[circle_id] = {
                "ops": page,
                "next": nxt,
                "more": nxt < last,
                "epoch": epoch,
                "joins": waiting_joins,
            }
    denied = [c for c in cursors if c not in allowed]
    return out, denied


class _Budget:
    """What is left of one pull's op count and byte budget."""

    def __init__(self, ops: int, max_bytes: int) -> None:
        self.ops = ops
        self.bytes = max_bytes
        self.taken = 0
        self.seen_bytes = 0

    def open(self) -> bool:
        return self.ops > 0 and self.bytes > 0

    def chunk(self) -> int:
        # Rows to read next: as many as the byte budget holds at the sizes seen so far
        # (64 before any is seen), between 16 and 1000.
        avg = self.seen_bytes // self.taken if self.taken else self.bytes // 64
        return max(16, min(1000, self.bytes // max(avg, 1)))

    def take(self, size: int) -> bool:
        """Count one op of `size` bytes; False (and the budget closed) if it does not fit,
        unless it is the pull's first op."""
        if self.taken and size > self.bytes:
            self.bytes = 0
            return False
        self.ops -= 1
        self.bytes -= size
        self.taken += 1
        self.seen_bytes += size
        return True
