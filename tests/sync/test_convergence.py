"""Convergence, proved by a hypothesis state machine over the real exchange in-process.

Three devices in two organizations share two circles. Random local actions (goals,
check-ins, concurrent edits of the circle, members added and removed, feedback,
commitments, deletes), random syncs that lose requests or responses, and process
restarts. Once everyone syncs to quiescence, every replica of a circle has the same
state, holds every op any device saved, and the exchange stores each op exactly once.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from sqlalchemy import select

from sync.commands import remove_member_remote
from sync.exchange.db import ops as ops_table
from sync.protocol import SyncError
from xcircle.errors import XCircleError

from .helpers import NOW, Device, Exchange

ACTIONS = (
    "goal",
    "checkin",
    "edit",
    "add_member",
    "remove_member",
    "feedback",
    "commitment",
    "review",
    "agreement",
    "drop_agreement",
)
FATES = st.lists(st.sampled_from([None, None, None, "request", "response"]), max_size=6)


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="xc-conv-"))
        self.ex = Exchange(self.root / "exchange.db")
        self.devices = [
            Device(self.root / "d0", "Ada", "Acme", self.ex),
            Device(self.root / "d1", "Amy", "Acme", self.ex),
            Device(self.root / "d2", "Bob", "Beta", self.ex),
        ]
        for dev in self.devices:
            dev.join()
        d0, d1, d2 = self.devices
        c1 = d0.services.circles.create("Leaders")["id"]
        d0.share(c1)
        d1.accept(d0.invite(c1))
        d2.accept(d0.invite(c1))
        c2 = d2.services.circles.create("Beta circle")["id"]
        d2.share(c2)
        d0.accept(d2.invite(c2))
        d0.sync()  # the conveners' devices confirm the joins (encrypted circles)
        d2.sync()
        self.members = {c1: [0, 1, 2], c2: [2, 0]}
        self.circles = [c1, c2]
        self.made: dict[str, set[str]] = {c1: set(), c2: set()}  # op ids saved per circle

    # -- rules -------------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 2),
        which=st.integers(0, 1),
        action=st.sampled_from(ACTIONS),
        n=st.integers(0, 10_000),
    )
    def act(self, who: int, which: int, action: str, n: int) -> None:
        cid = self.circles[which]
        if who not in self.members[cid]:
            return
        dev = self.devices[who]
        before = {op.id for op in dev.store.outbox(cid)}
        try:
            self._do(dev, cid, action, n)
        except XCircleError:
            pass  # e.g. nothing to check in on yet: a user error, nothing saved
        self.made[cid] |= {op.id for op in dev.store.outbox(cid)} - before

    def _do(self, dev: Device, cid: str, action: str, n: int) -> None:
        svc = dev.services
        me = dev.store.meta(cid)["me"]
        goals = svc.goals.all(cid)
        guests = [m["id"] for m in svc.members.all(cid) if m["org"] == "Guests"]
        if action == "goal":
            svc.goals.add(cid, f"Goal {n}", owner=me if n % 2 else None)
        elif action == "checkin" and goals:
            svc.goals.checkin(cid, goals[n % len(goals)]["id"], progress=n % 101, note=str(n))
        elif action == "edit":
            field = ("name", "purpose", "duration", "mode")[n % 4]
            value: object = {
                "name": f"Circle {n}",
                "purpose": f"Purpose {n}",
                "duration": 15 + n % 400,
                "mode": ("in-person", "online", "hybrid")[n % 3],
            }[field]
            svc.circles.update(cid, **{field: value})
        elif action == "add_member":
            svc.members.add(cid, f"Guest {n}", org="Guests")
        elif action == "remove_member" and guests:
            guest = guests[n % len(guests)]
            svc.members.remove(cid, guest)
            with dev.client() as c:
                try:
                    remove_member_remote(dev.store, cid, guest, client=c)
                except SyncError:
                    pass  # a lost answer: queued, the next sync retries
        elif action == "feedback":
            meetings = svc.meetings.all(cid)
            if not meetings:
                svc.meetings.plan(cid, NOW + timedelta(days=n % 30))
                return
            people = [m["id"] for m in svc.members.all(cid)]
            svc.rounds.feedback(
                cid, meetings[0]["id"], people[n % len(people)], me, "support", f"Kudos {n}"
            )
        elif action == "commitment":
            svc.commitments.add(cid, me, f"Commit {n}")
        elif action == "review":
            items = svc.commitments.all(cid)
            if items:
                status = ("kept", "renegotiated", "dropped")[n % 3]
                svc.commitments.review(cid, items[n % len(items)]["id"], status)
        elif action == "agreement":
            svc.circles.set_agreement(cid, f"Rule {n}", "Be kind")
        elif action == "drop_agreement":
            agreements = svc.circles.agreements(cid)
            if agreements:
                svc.circles.remove_agreement(cid, agreements[n % len(agreements)]["id"])

    @rule(who=st.integers(0, 2), fates=FATES)
    def sync(self, who: int, fates: list[str | None]) -> None:
        dev = self.devices[who]
        dev.faults.count = 0
        dev.faults.plan = lambda i, _r: fates[i] if i < len(fates) else None
        try:
            dev.sync()
        except SyncError:
            pass  # lost on the way: the next sync resumes
        finally:
            dev.faults.plan = lambda _i, _r: None

    @rule(who=st.integers(0, 2))
    def restart(self, who: int) -> None:
        self.devices[who].restart()

    # -- the proof -----------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            for _ in range(2):  # round 1 pushes everything, round 2 pulls it everywhere
                for dev in self.devices:
                    dev.sync()
            for cid in self.circles:
                self._check(cid)
        finally:
            for dev in self.devices:
                dev.close()
            self.ex.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def expected_quarantine(self, cid: str) -> dict[str, str]:
        """Op id → reason of what every replica must hold in quarantine (nothing here)."""
        return {}

    def _check(self, cid: str) -> None:
        with self.ex.engine.connect() as conn:
            stored = [
                r.op_id
                for r in conn.execute(select(ops_table.c.op_id).where(ops_table.c.circle_id == cid))
            ]
        assert len(stored) == len(set(stored)), "an op stored twice"
        assert self.made[cid] <= set(stored), "an op saved on a device never reached the exchange"
        replicas = [self.devices[i] for i in self.members[cid]]
        first = replicas[0]
        for dev in replicas:
            assert dev.store.outbox(cid) == []
            held = {q["id"]: q["reason"] for q in dev.store.quarantine(cid)}
            assert held == self.expected_quarantine(cid) and dev.store.held(cid) == 0
            assert dev.store.meta(cid)["cursor"] == len(stored)
            assert dev.store.meta(cid).get("remove_pending", []) == []
            assert dev.store.canonical(cid) == first.store.canonical(cid)
            assert dev.services.detail(cid) == first.services.detail(cid)


TestConvergence = SyncMachine.TestCase
TestConvergence.settings = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
