"""Reseeding a circle's log: upgrading a plaintext circle, and rebuilding a lost exchange.

Both are a convener's re-push of the circle's whole history:

- **Upgrade.** After the first rekey (epoch 0 → 1) a convener's device re-pushes every op
  sealed under an epoch ≥ 1. An op the log holds in plaintext is replaced in place: same
  seq, same op id, its new sealed bytes. Cursors stay valid and a device that already
  pulled the plaintext version pulls nothing twice. Then `purge_plaintext` empties what is
  left at epoch 0 (ops the reseeding device did not have), keeping their seqs, so a pull
  stays contiguous: an epoch-0 op with an empty payload is a purged one.
- **A lost exchange.** On an empty exchange the convener creates the circle again, sets
  its epoch with a rekey (which may jump to the old numbering), and re-pushes the history:
  ops at any epoch up to the current one are appended in the order given.

Ordinary pushes stay strict (new ops only under the current epoch); only conveners may
reseed, and an encrypted op already in the log is never rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select, update

from .db import circles, ops, write_tx
from .epochs import epoch_error
from .errors import ExchangeError, forbidden, not_found
from .members import CONVENER, caller_row, lock_circle
from .models import Envelope


def _convener(conn: Any, circle_id: str, device_id: str) -> int:
    """The circle's epoch, under its lock, for a convener's device; 404/403 otherwise."""
    epoch = lock_circle(conn, circle_id)
    if epoch is None:
        raise not_found("circle not found")
    if caller_row(conn, circle_id, device_id).role != CONVENER:
        raise forbidden()
    return epoch


def reseed(
    engine: Engine,
    device_id: str,
    circle_id: str,
    envs: Sequence[Envelope],
    decoded: Sequence[tuple[bytes, bytes]],
    now: int,
) -> tuple[list[dict[str, Any]], int]:
    """Re-push history: `(results, next_seq)` as for a push. A plaintext op re-sealed
    under an epoch ≥ 1 replaces its plaintext in place; other known ops keep their seq;
    new ops may carry any epoch up to the current one."""
    if any(e.device_id not in (None, device_id) for e in envs):
        raise ExchangeError(403, "device_mismatch", "an op names another device as its pusher")
    with write_tx(engine) as conn:
        epoch = _convener(conn, circle_id, device_id)
        next_seq = int(
            conn.execute(select(circles.c.next_seq).where(circles.c.id == circle_id)).scalar_one()
        )
        ids = list({e.op_id: None for e in envs})
        known = {
            r.op_id: (int(r.seq), int(r.epoch))
            for r in conn.execute(
                select(ops.c.op_id, ops.c.seq, ops.c.epoch).where(
                    ops.c.circle_id == circle_id, ops.c.op_id.in_(ids)
                )
            )
        }
        results: list[dict[str, Any]] = []
        for env, (nonce, payload) in zip(envs, decoded, strict=True):
            # Up to the current epoch, and never plaintext again once upgraded.
            if env.epoch > epoch or (env.epoch == 0 < epoch and env.op_id not in known):
                raise epoch_error(env.epoch, epoch)
            seen = known.get(env.op_id)
            if seen is None:
                seen = (next_seq, env.epoch)
                next_seq += 1
                conn.execute(
                    ops.insert().values(
                        circle_id=circle_id,
                        seq=seen[0],
                        op_id=env.op_id,
                        epoch=env.epoch,
                        nonce=nonce,
                        payload=payload,
                        device_id=device_id,
                        received_at=now,
                    )
                )
                known[env.op_id] = seen
            elif seen[1] == 0 and env.epoch > 0:
                conn.execute(
                    update(ops)
                    .where(ops.c.circle_id == circle_id, ops.c.seq == seen[0])
                    .values(
                        epoch=env.epoch,
                        nonce=nonce,
                        payload=payload,
                        device_id=device_id,
                        received_at=now,
                    )
                )
                known[env.op_id] = (seen[0], env.epoch)
            results.append({"op_id": env.op_id, "seq": seen[0]})
        conn.execute(update(circles).where(circles.c.id == circle_id).values(next_seq=next_seq))
    return results, next_seq


def purge_plaintext(engine: Engine, device_id: str, circle_id: str) -> int:
    """Empty the payload of every op still in plaintext (epoch 0) in an upgraded circle;
    returns how many. Seqs and op ids stay, so pulls stay contiguous."""
    with write_tx(engine) as conn:
        if _convener(conn, circle_id, device_id) == 0:
            raise ExchangeError(
                409, "not_upgraded", "the circle is still in plaintext: rekey it first"
            )
        purged = int(
            conn.execute(
                update(ops)
                .where(ops.c.circle_id == circle_id, ops.c.epoch == 0, ops.c.payload != b"")
                .values(payload=b"", nonce=b"")
            ).rowcount
        )
    if engine.dialect.name == "sqlite":
        # SQLite zeroes freed cells (secure_delete, see db.py) but the WAL still holds the
        # old pages, of this purge and of the re-sealing before it that replaced plaintext
        # in place: copy them into the database and cut the WAL to nothing. Best effort:
        # a reader holding an old snapshot lets the next checkpoint finish the job.
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return purged
