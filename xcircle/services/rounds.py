"""The rotating feedback round: turns in the hot seat, in timeboxed phases.

The round's state (order, turn, phase, peer, timer) is a record in the store, so a
round survives the app being closed mid-way and resumes where it was, on any device.
The timer is kept as `elapsed` seconds plus `started_at` (ms) while running, so the
countdown is derived from the clock, never ticked into the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xcircle.domain import FEEDBACK_KINDS
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import Op
from xcircle.protocols import Protocol
from xcircle.rotation import Served, proposal_order
from xcircle.services.airtime import Airtime, credit
from xcircle.services.cards import Cards
from xcircle.services.context import Context, clean, in_range, join_ranks
from xcircle.services.meetings import Meetings
from xcircle.services.protocols import Protocols
from xcircle.services.topics import Topics
from xcircle.services.views import RoundState
from xcircle.timebudget import TimeBudget, budget


def turn_key(meeting: str, presenter: str) -> str:
    return f"{meeting}:{presenter}"


def peers_of(order: Sequence[str], turn: int) -> list[str]:
    """The peers who give feedback in a turn, in order, starting after the presenter."""
    return [*order[turn + 1 :], *order[:turn]]


def normalized(r: Record, protocol: Protocol) -> Record:
    """A started round's record made consistent, whatever ops built it: every field
    present, `turn` and `peer` inside the order (a peer's op may say `peer: 64` in a
    round of 4, or set some fields only), `phase` one of the protocol's. Schema-valid is
    not enough to index with."""
    order = list(r["order"])
    turn = min(max(r.get("turn", 0), 0), len(order) - 1)
    phase = protocol.phase(str(r.get("phase", ""))).id
    last_peer = max(len(peers_of(order, turn)) - 1, 0)
    return {
        **r,
        "order": order,
        "turn": turn,
        "phase": phase,
        "peer": min(max(r.get("peer", 0), 0), last_peer),
        "elapsed": r.get("elapsed", 0),
        "started_at": r.get("started_at"),
        "paused": r.get("paused", False),
        "timeboxes": r.get("timeboxes", {}),
        "done": r.get("done", False),
        "protocol": protocol.name,
        "method": r.get("method", ""),
        "presented": r.get("presented", {}),
        "gave": r.get("gave", {}),
    }


class Rounds:
    """Use cases of the feedback round inside a meeting."""

    def __init__(
        self,
        ctx: Context,
        meetings: Meetings,
        protocols: Protocols | None = None,
        cards: Cards | None = None,
    ) -> None:
        self.ctx = ctx
        self.meetings = meetings
        self.protocols = protocols or Protocols(ctx)
        self.cards = cards or Cards(ctx)
        self.airtime = Airtime(ctx, meetings)
        self.topics = Topics(ctx, meetings)

    def _now_ms(self) -> int:
        return int(self.ctx.now().timestamp() * 1000)

    def protocol(self, circle: str, meeting: str, record: Record | None = None) -> Protocol:
        """The protocol a meeting's round runs: the round's own once started, else the
        one the meeting was planned with, else the default. A name that no longer
        resolves (a template that stopped parsing) reads as the default."""
        r = record if record is not None else self.ctx.store.get(circle, "round", meeting)
        name = (r or {}).get("protocol")
        if not name:
            m = self.ctx.store.get(circle, "meeting", meeting) or {}
            name = m.get("protocol")
        try:
            return self.protocols.get(circle, name)
        except InvalidInput:
            return self.protocols.get(circle, None)

    def derived_order(self, circle: str, meeting: str) -> list[str]:
        """Presenters proposed for the round: members with an open issue card first, by
        urgency (A, B, C), then the rotation: whoever presented first least recently,
        then who has had the least time in the hot seat (airtime). An open agenda walks
        the topics chosen by vote instead (`Topics.chosen`), when any were proposed."""
        if self.protocol(circle, meeting).agenda:
            chosen = self.topics.chosen(circle, meeting)
            if chosen:
                return chosen
        members = self.ctx.members(circle)
        present = self.meetings.present(circle, meeting) or [m["id"] for m in members]
        history = []
        for index, held in enumerate(self.meetings.held(circle)):
            if held["id"] == meeting:
                continue
            state = self.ctx.store.get(circle, "round", held["id"])
            if state and state.get("order"):
                history.append(Served(index, state["order"][0]))
        urgency = {m: c["urgency"] for m, c in self.cards.open_by_member(circle).items()}
        return proposal_order(
            present,
            history,
            join_ranks(members),
            urgency=urgency,
            airtime=self.airtime.presenting_seconds(circle, exclude=meeting),
        )

    def start(
        self,
        circle: str,
        meeting: str,
        order: Sequence[str] | None = None,
        reason: str = "",
        *,
        timeboxes: Mapping[str, int] | None = None,
        protocol: str | None = None,
        method: str = "",
    ) -> Record:
        """Start (or restart) the round; an order other than the rotation's needs a reason.
        `timeboxes` (seconds per phase, e.g. `budget(...).proposed_timeboxes`) replace
        the protocol's for this round. `protocol` (a name) overrides the meeting's;
        `method` is the method phase's choice, when the protocol has one."""
        self.meetings.writable(circle, meeting)
        proto = self.protocols.get(circle, protocol) if protocol else self.protocol(circle, meeting)
        boxes = self._timeboxes(timeboxes, proto)
        chosen_method = self._method(proto, method)
        derived = self.derived_order(circle, meeting)
        chosen = list(order) if order is not None else derived
        self._check_order(circle, chosen, derived, reason)
        self.ctx.commit(
            [
                self.ctx.op(
                    circle,
                    "round",
                    meeting,
                    order=chosen,
                    order_reason=clean(reason, "the reason", 500, field="reason"),
                    turn=0,
                    phase=proto.phases[0].id,
                    peer=0,
                    elapsed=0,
                    started_at=self._now_ms(),
                    paused=False,
                    timeboxes=boxes,
                    done=False,
                    protocol=proto.name,
                    method=chosen_method,
                )
            ]
        )
        return self.state(circle, meeting)

    def _method(self, proto: Protocol, method: str) -> str:
        methods = [m for p in proto.phases for m in p.methods]
        method = method.strip()
        if not method:
            return methods[0] if methods else ""
        if method not in methods:
            choices = ", ".join(methods) if methods else "none in this protocol"
            raise InvalidInput(f"no method {method!r} (choose: {choices})", field="method")
        return method

    def set_method(self, circle: str, meeting: str, method: str) -> Record:
        """Choose the method phase's method (Kollegiale Beratung: brainstorm, headline…)."""
        r = self._round(circle, meeting)
        proto = self.protocol(circle, meeting, r)
        if not method.strip():
            raise InvalidInput("name a method", field="method")
        self._set(circle, meeting, method=self._method(proto, method))
        return self.state(circle, meeting)

    def reorder(self, circle: str, meeting: str, order: Sequence[str], reason: str) -> Record:
        """The facilitator changes the presenter order (with a reason) mid-round."""
        current = self._round(circle, meeting)
        derived = self.derived_order(circle, meeting)
        self._check_order(circle, list(order), derived, reason)
        turn = min(current["turn"], max(len(order) - 1, 0))
        self._set(
            circle,
            meeting,
            order=list(order),
            order_reason=clean(reason, "the reason", 500, field="reason"),
            turn=turn,
        )
        return self.state(circle, meeting)

    def set_timeboxes(self, circle: str, meeting: str, timeboxes: Mapping[str, int]) -> Record:
        """Change the round's timeboxes (e.g. to the budget's proposal), one write."""
        r = self._round(circle, meeting)
        proto = self.protocol(circle, meeting, r)
        self._set(circle, meeting, timeboxes=self._timeboxes(timeboxes, proto))
        return self.state(circle, meeting)

    def _timeboxes(self, timeboxes: Mapping[str, int] | None, proto: Protocol) -> dict[str, int]:
        boxes = {**proto.timeboxes, **(timeboxes or {})}
        for phase, seconds in boxes.items():
            if phase not in proto.timeboxes:
                raise InvalidInput(f"no phase {phase!r} in a turn", field="timeboxes")
            in_range(seconds, f"the {phase} timebox (seconds)", 10, 7200, field="timeboxes")
        return boxes

    def budget(self, circle: str, meeting: str) -> TimeBudget:
        """The meeting's time budget: its agenda, its presenters (the round's order, or
        the rotation's) and attendees, at the round's timeboxes."""
        rec = self.meetings.get(circle, meeting)
        r = self.ctx.store.get(circle, "round", meeting) or {}
        proto = self.protocol(circle, meeting, r)
        presenters = r.get("order") or self.derived_order(circle, meeting)
        present = self.meetings.present(circle, meeting) or presenters
        boxes = {k: v for k, v in (r.get("timeboxes") or {}).items() if k in proto.timeboxes}
        return budget(
            rec["duration"],
            len(presenters),
            max(len(present), len(presenters)),
            boxes,
            self.meetings.agenda(rec),
            phases=[p.id for p in proto.phases],
            per_peer=[p.id for p in proto.phases if p.per_peer],
            defaults=proto.timeboxes,
        )

    def _check_order(self, circle: str, order: list[str], derived: list[str], reason: str) -> None:
        if not order:
            raise InvalidInput("a round needs at least one presenter", field="order")
        if len(set(order)) != len(order):
            raise InvalidInput("a member can present only once per round", field="order")
        for member in order:
            self.ctx.record(circle, "member", member, "member")
        if order != derived and not reason.strip():
            raise InvalidInput("changing the rotation's order needs a reason", field="reason")

    # -- moving through the round --------------------------------------------------------

    def advance(self, circle: str, meeting: str) -> Record:
        """Next peer, next phase, or next turn; the round is done after the last turn."""
        r = self._round(circle, meeting)
        if r["done"]:
            return self.state(circle, meeting)
        proto = self.protocol(circle, meeting, r)
        phases = proto.phases
        phase_i = proto.index(r["phase"])
        peers = peers_of(r["order"], r["turn"])
        if phases[phase_i].per_peer and r["peer"] < len(peers) - 1:
            change: dict[str, Any] = {"peer": r["peer"] + 1}
        elif phase_i < len(phases) - 1:
            change = {"phase": phases[phase_i + 1].id, "peer": 0}
        elif r["turn"] < len(r["order"]) - 1:
            change = {"turn": r["turn"] + 1, "phase": phases[0].id, "peer": 0}
        else:
            change = {"done": True}
        ops = []
        if "turn" in change or "done" in change:  # the presenter's turn is over
            ops = self.cards.presented_ops(circle, meeting, r["order"][r["turn"]])
        self._set(
            circle, meeting, *ops, **change, **self._restart_timer(r), **self._credit(r, proto)
        )
        return self.state(circle, meeting)

    def _credit(self, r: Record, proto: Protocol) -> dict[str, Any]:
        """The airtime of the step being left, credited to whoever had the floor."""
        if r["done"]:
            return {}
        return credit(r, proto.phase(r["phase"]), peers_of(r["order"], r["turn"]), self._elapsed(r))

    def back(self, circle: str, meeting: str) -> Record:
        """Go back one step (peer, phase or turn), e.g. when a phase was skipped by mistake."""
        r = self._round(circle, meeting)
        proto = self.protocol(circle, meeting, r)
        phases = proto.phases
        phase_i = proto.index(r["phase"])
        if r["done"]:
            change: dict[str, Any] = {"done": False}
        elif phases[phase_i].per_peer and r["peer"] > 0:
            change = {"peer": r["peer"] - 1}
        elif phase_i > 0:
            previous = phases[phase_i - 1]
            last_peer = max(len(peers_of(r["order"], r["turn"])) - 1, 0)
            change = {"phase": previous.id, "peer": last_peer if previous.per_peer else 0}
        elif r["turn"] > 0:
            change = {"turn": r["turn"] - 1, "phase": phases[-1].id, "peer": 0}
        else:
            return self.state(circle, meeting)
        self._set(circle, meeting, **change, **self._restart_timer(r), **self._credit(r, proto))
        return self.state(circle, meeting)

    def pause(self, circle: str, meeting: str) -> Record:
        r = self._round(circle, meeting)
        if not r["paused"]:
            self._set(circle, meeting, paused=True, started_at=None, elapsed=self._elapsed(r))
        return self.state(circle, meeting)

    def resume(self, circle: str, meeting: str) -> Record:
        r = self._round(circle, meeting)
        if r["paused"]:
            self._set(circle, meeting, paused=False, started_at=self._now_ms())
        return self.state(circle, meeting)

    def toggle_pause(self, circle: str, meeting: str) -> Record:
        r = self._round(circle, meeting)
        return self.resume(circle, meeting) if r["paused"] else self.pause(circle, meeting)

    def _restart_timer(self, r: Record) -> dict[str, Any]:
        return {"elapsed": 0, "started_at": None if r["paused"] else self._now_ms()}

    def _elapsed(self, r: Record) -> int:
        running = 0
        if r.get("started_at") is not None and not r["paused"]:
            running = max(0, (self._now_ms() - r["started_at"]) // 1000)
        return min(int(r["elapsed"] + running), 86_400)

    def _set(self, circle: str, meeting: str, *also: Op, **fields: Any) -> None:
        self.meetings.writable(circle, meeting)
        self.ctx.commit([self.ctx.op(circle, "round", meeting, **fields), *also])

    def _round(self, circle: str, meeting: str) -> Record:
        r = self.ctx.store.get(circle, "round", meeting)
        if r is None or not r.get("order"):
            raise InvalidInput("the feedback round has not started")
        return normalized(r, self.protocol(circle, meeting, r))

    # -- what is said in a turn ----------------------------------------------------------

    def set_challenge(self, circle: str, meeting: str, presenter: str, challenge: str) -> None:
        self._turn_fields(
            circle,
            meeting,
            presenter,
            challenge=clean(challenge, "the challenge", 2000, multiline=True, field="text"),
        )

    def set_reflection(self, circle: str, meeting: str, presenter: str, reflection: str) -> None:
        self._turn_fields(
            circle,
            meeting,
            presenter,
            reflection=clean(reflection, "the reflection", 4000, multiline=True, field="text"),
        )

    def _turn_fields(self, circle: str, meeting: str, presenter: str, **fields: Any) -> None:
        self.meetings.writable(circle, meeting)
        self.ctx.record(circle, "member", presenter, "member")
        key = turn_key(meeting, presenter)
        self.ctx.commit(
            [self.ctx.op(circle, "turn", key, meeting=meeting, presenter=presenter, **fields)]
        )

    def feedback(
        self, circle: str, meeting: str, presenter: str, giver: str, kind: str, text: str
    ) -> Record:
        """Capture one peer's feedback for the presenter, of a kind the round accepts now
        (`accepted_kinds`)."""
        self.meetings.writable(circle, meeting)
        self._check_kind(kind)
        self._check_accepted(circle, meeting, presenter, kind)
        self.ctx.record(circle, "member", presenter, "member")
        self.ctx.record(circle, "member", giver, "member")
        if giver == presenter:
            raise InvalidInput("the presenter does not give feedback to themselves", field="giver")
        op = self.ctx.add(
            circle,
            "feedback",
            meeting=meeting,
            presenter=presenter,
            giver=giver,
            kind=kind,
            text=clean(text, "the feedback", 4000, required=True, multiline=True, field="text"),
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([op])
        return self.ctx.record(circle, "feedback", op.key, "feedback")

    def _check_kind(self, kind: str) -> None:
        if kind not in FEEDBACK_KINDS:
            raise InvalidInput(f"feedback is one of {', '.join(FEEDBACK_KINDS)}", field="kind")

    def accepted_kinds(self, circle: str, meeting: str, presenter: str) -> tuple[str, ...]:
        """The feedback kinds the round takes for `presenter` now: during their turn,
        those of the current phase; before or after it (a scribe catching up), or in a
        protocol that is not strict (the classic round), every kind the protocol
        accepts somewhere."""
        raw = self.ctx.store.get(circle, "round", meeting)
        proto = self.protocol(circle, meeting, raw)
        if raw is None or not raw.get("order"):
            return proto.kinds
        r = normalized(raw, proto)
        if r["done"] or r["order"][r["turn"]] != presenter or not proto.strict:
            return proto.kinds
        return proto.phase(r["phase"]).kinds

    def _check_accepted(self, circle: str, meeting: str, presenter: str, kind: str) -> None:
        accepted = self.accepted_kinds(circle, meeting, presenter)
        if kind in accepted:
            return
        raw = self.ctx.store.get(circle, "round", meeting)
        phase = self.protocol(circle, meeting, raw).phase(str((raw or {}).get("phase", "")))
        if not accepted:
            raise InvalidInput(
                f"the {phase.title.lower()} phase takes no feedback: {phase.who()} speaks",
                field="kind",
            )
        raise InvalidInput(f"this takes {', '.join(accepted)}, not {kind}", field="kind")

    def edit_feedback(
        self, circle: str, feedback: str, *, text: str | None = None, kind: str | None = None
    ) -> Record:
        """Correct one's own feedback (its words or its kind), one durable write.

        Feedback is an append-only record, so an edit is a tombstone on the old item
        plus the corrected item with the same meeting, presenter, giver and time (it
        keeps its place); both sync. The corrected item has a new id, returned here."""
        old = self._own_feedback(circle, feedback)
        fields = {k: v for k, v in old.items() if k not in ("id", "stamp")}
        if text is not None:
            fields["text"] = clean(
                text, "the feedback", 4000, required=True, multiline=True, field="text"
            )
        if kind is not None:
            self._check_kind(kind)
            fields["kind"] = kind
        op = self.ctx.add(circle, "feedback", **fields)
        self.ctx.commit([self.ctx.op(circle, "feedback", feedback, _deleted=True), op])
        return self.ctx.record(circle, "feedback", op.key, "feedback")

    def remove_feedback(self, circle: str, feedback: str) -> Record:
        """Remove one's own feedback: a tombstone that syncs. Returns what was removed
        (for an undo, `restore_feedback`)."""
        old = self._own_feedback(circle, feedback)
        self.ctx.commit([self.ctx.op(circle, "feedback", feedback, _deleted=True)])
        return old

    def restore_feedback(self, circle: str, removed: Record) -> Record:
        """Undo a removal: the same feedback again (tombstones are sticky, so as a new
        item with the removed one's fields and time)."""
        self.meetings.writable(circle, removed["meeting"])
        fields = {k: v for k, v in removed.items() if k not in ("id", "stamp")}
        op = self.ctx.add(circle, "feedback", **fields)
        self.ctx.commit([op])
        return self.ctx.record(circle, "feedback", op.key, "feedback")

    def _own_feedback(self, circle: str, feedback: str) -> Record:
        old = self.ctx.record(circle, "feedback", feedback, "feedback")
        self.meetings.writable(circle, old["meeting"])
        self.ctx.check_mine(circle, "feedback", feedback, old["giver"], "feedback")
        return old

    def feedback_for(self, circle: str, meeting: str, presenter: str | None = None) -> list[Record]:
        items = self.feedback_by_meeting(circle).get(meeting, [])
        return [f for f in items if presenter is None or f["presenter"] == presenter]

    def feedback_by_meeting(self, circle: str) -> dict[str, list[Record]]:
        """Each meeting's feedback in the order it was given (one pass over the records)."""
        out: dict[str, list[Record]] = {}
        given = sorted(
            self.ctx.store.records(circle, "feedback"), key=lambda f: (f["at"], f["stamp"])
        )
        for f in given:
            out.setdefault(f["meeting"], []).append(f)
        return out

    # -- the view a screen shows ---------------------------------------------------------

    def view(self, circle: str, meeting: str) -> RoundState:
        """`state` as a typed read model."""
        s = self.state(circle, meeting)
        if not s["started"]:
            return RoundState(False, tuple(s["derived_order"]))
        fields = {k: v for k, v in s.items() if k not in ("started", "order", "peers")}
        fields["feedback"] = tuple(s["feedback"])
        fields["commitments"] = tuple(s["commitments"])
        return RoundState(True, tuple(s["order"]), peers=tuple(s["peers"]), **fields)

    def clock(self, circle: str, meeting: str) -> Record | None:
        """The countdown alone (`remaining`, `paused`, `done`), from the round's record
        and the clock: one record read, for a screen that ticks every second (`state`
        gathers the turn's feedback and commitments too). None before the round starts."""
        r = self.ctx.store.get(circle, "round", meeting)
        if r is None or not r.get("order"):
            return None
        proto = self.protocol(circle, meeting, r)
        r = normalized(r, proto)
        boxes = {**proto.timeboxes, **r.get("timeboxes", {})}
        return {
            "remaining": boxes[r["phase"]] - self._elapsed(r),
            "paused": r["paused"],
            "done": r["done"],
        }

    def state(self, circle: str, meeting: str) -> Record:
        """Everything the round screen shows, derived from the stored round and the clock."""
        r = self.ctx.store.get(circle, "round", meeting)
        if r is None or not r.get("order"):
            return {"started": False, "derived_order": self.derived_order(circle, meeting)}
        proto = self.protocol(circle, meeting, r)
        r = normalized(r, proto)
        order: list[str] = r["order"]
        turn = r["turn"]
        presenter = order[turn]
        peers = peers_of(order, turn)
        phase = proto.phase(r["phase"])
        boxes = {**proto.timeboxes, **r.get("timeboxes", {})}
        elapsed = self._elapsed(r)
        turn_rec = self.ctx.store.get(circle, "turn", turn_key(meeting, presenter)) or {}
        commitments = [
            c
            for c in self.ctx.store.records(circle, "commitment")
            if c.get("meeting") == meeting and c["owner"] == presenter
        ]
        return {
            "started": True,
            "done": r["done"],
            "order": order,
            "order_reason": r.get("order_reason", ""),
            "turn": turn,
            "presenter": presenter,
            "phase": r["phase"],
            "phase_index": proto.index(r["phase"]),
            "phase_title": phase.title,
            "peers": peers,
            "peer": peers[r["peer"]] if phase.per_peer and peers else None,
            "peer_index": r["peer"],
            "timebox": boxes[r["phase"]],
            "elapsed": elapsed,
            "remaining": boxes[r["phase"]] - elapsed,
            "paused": r["paused"],
            "challenge": turn_rec.get("challenge", ""),
            "reflection": turn_rec.get("reflection", ""),
            "feedback": self.feedback_for(circle, meeting, presenter),
            "commitments": commitments,
            "protocol": proto.name,
            "protocol_title": proto.title,
            "phases": tuple((p.id, p.title, p.per_peer) for p in proto.phases),
            "phase_speakers": tuple(p.speakers for p in proto.phases),
            "prompt": phase.prompt,
            "speakers": phase.speakers,
            "who": phase.who(),
            "presenter_silent": phase.presenter_silent,
            "kinds": phase.kinds if not r["done"] else (),
            "accepted": () if r["done"] else (phase.kinds if proto.strict else proto.kinds),
            "method": r["method"] if phase.methods else "",
            "methods": tuple(m for p in proto.phases for m in p.methods),
            "roles": proto.roles,
            "card": None if proto.agenda else self.cards.for_turn(circle, meeting, presenter),
            "topic": self.topics.title(circle, meeting, presenter) if proto.agenda else "",
        }
