"""Check-in and check-out rounds: optional per circle, timed like the feedback round.

A check-in opens the meeting: each member in turn says how they arrive, a number from
1 to 10 and a sentence. A check-out closes it: one word and one take-away. Both go in
the feedback round's turn order (its order once started, else the proposal), each
member with the timebox a peer has in the round's per-peer phase. The timer is kept
like the round's (`elapsed` + `started_at`, derived from the clock), in a "round"
record keyed `meeting:in` or `meeting:out`, so it survives a restart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from xcircle.domain import CHECK_ROUNDS
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.services.context import Context, clean, in_range
from xcircle.services.rounds import Rounds

TITLES = {"in": "Check-in round", "out": "Check-out round"}
PROMPTS = {
    "in": "How do you arrive? A number from 1 to 10, and a sentence.",
    "out": "One word for how you leave, and one take-away.",
}


@dataclass(frozen=True)
class CheckRoundState:
    """A check-in or check-out round as its screen and `--json` show it."""

    kind: str
    title: str
    prompt: str
    started: bool
    order: tuple[str, ...]
    turn: int = 0
    member: str | None = None
    done: bool = False
    timebox: int = 0
    elapsed: int = 0
    remaining: int = 0
    paused: bool = False
    said: tuple[Record, ...] = ()  # what each member said, in the order

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def round_key(meeting: str, kind: str) -> str:
    return f"{meeting}:{kind}"


class CheckRounds:
    """Use cases of the opening and closing rounds."""

    def __init__(self, ctx: Context, rounds: Rounds) -> None:
        self.ctx = ctx
        self.rounds = rounds
        self.meetings = rounds.meetings

    # -- per circle ------------------------------------------------------------------------

    def enabled(self, circle: str) -> dict[str, bool]:
        rec = self.ctx.record(circle, "circle", circle, "circle")
        return {"in": bool(rec.get("checkin_round")), "out": bool(rec.get("checkout_round"))}

    def configure(
        self, circle: str, *, checkin: bool | None = None, checkout: bool | None = None
    ) -> dict[str, bool]:
        """Turn the circle's check-in and check-out rounds on or off (one write)."""
        self.ctx.record(circle, "circle", circle, "circle")
        fields = {
            k: v
            for k, v in (("checkin_round", checkin), ("checkout_round", checkout))
            if v is not None
        }
        if fields:
            self.ctx.commit([self.ctx.op(circle, "circle", circle, **fields)])
        return self.enabled(circle)

    # -- running one -------------------------------------------------------------------------

    def _kind(self, circle: str, kind: str) -> str:
        if kind not in CHECK_ROUNDS:
            raise InvalidInput("a check round is 'in' or 'out'", field="kind")
        if not self.enabled(circle)[kind]:
            word = "check-in" if kind == "in" else "check-out"
            raise InvalidInput(
                f"this circle has no {word} round (xcircle checkround setup turns it on)",
                field="kind",
            )
        return kind

    def _timebox(self, circle: str, meeting: str) -> int:
        proto = self.rounds.protocol(circle, meeting)
        r = self.ctx.store.get(circle, "round", meeting) or {}
        boxes = {**proto.timeboxes, **(r.get("timeboxes") or {})}
        per_peer = [p.id for p in proto.phases if p.per_peer]
        return int(boxes[per_peer[0]]) if per_peer else 120

    def _order(self, circle: str, meeting: str) -> list[str]:
        r = self.ctx.store.get(circle, "round", meeting)
        if r and r.get("order"):
            return list(r["order"])
        return self.rounds.derived_order(circle, meeting)

    def start(self, circle: str, meeting: str, kind: str) -> CheckRoundState:
        """Start (or restart) the check round, in the feedback round's turn order."""
        self._kind(circle, kind)
        self.meetings.writable(circle, meeting)
        order = self._order(circle, meeting)
        fields = {
            "order": order,
            "turn": 0,
            "phase": f"check-{kind}",
            "peer": 0,
            "elapsed": 0,
            "started_at": self._now_ms(),
            "paused": False,
            "timeboxes": {f"check-{kind}": self._timebox(circle, meeting)},
            "done": False,
        }
        self.ctx.commit([self.ctx.op(circle, "round", round_key(meeting, kind), **fields)])
        return self.view(circle, meeting, kind)

    def _now_ms(self) -> int:
        return int(self.ctx.now().timestamp() * 1000)

    def _record(self, circle: str, meeting: str, kind: str) -> Record:
        r = self.ctx.store.get(circle, "round", round_key(meeting, kind))
        if r is None or not r.get("order"):
            raise InvalidInput("start the round first", field="kind")
        return r

    def _elapsed(self, r: Record) -> int:
        running = 0
        if r.get("started_at") is not None and not r.get("paused"):
            running = max(0, (self._now_ms() - r["started_at"]) // 1000)
        return min(int(r.get("elapsed", 0) + running), 86_400)

    def _set(self, circle: str, meeting: str, kind: str, **fields: Any) -> CheckRoundState:
        self.meetings.writable(circle, meeting)
        self.ctx.commit([self.ctx.op(circle, "round", round_key(meeting, kind), **fields)])
        return self.view(circle, meeting, kind)

    def advance(self, circle: str, meeting: str, kind: str) -> CheckRoundState:
        """The next member, or done after the last."""
        r = self._record(circle, meeting, kind)
        if r.get("done"):
            return self.view(circle, meeting, kind)
        turn = min(max(r.get("turn", 0), 0), len(r["order"]) - 1)
        change: dict[str, Any] = (
            {"turn": turn + 1} if turn < len(r["order"]) - 1 else {"done": True}
        )
        timer = {"elapsed": 0, "started_at": None if r.get("paused") else self._now_ms()}
        return self._set(circle, meeting, kind, **change, **timer)

    def toggle_pause(self, circle: str, meeting: str, kind: str) -> CheckRoundState:
        r = self._record(circle, meeting, kind)
        if r.get("paused"):
            return self._set(circle, meeting, kind, paused=False, started_at=self._now_ms())
        return self._set(
            circle, meeting, kind, paused=True, started_at=None, elapsed=self._elapsed(r)
        )

    def say(
        self,
        circle: str,
        meeting: str,
        kind: str,
        member: str,
        *,
        score: int | None = None,
        sentence: str = "",
        word: str = "",
        takeaway: str = "",
    ) -> Record:
        """What `member` says: a score (1-10) and a sentence at check-in; a word and a
        take-away at check-out. Saying it again replaces it."""
        self._kind(circle, kind)
        self.meetings.writable(circle, meeting)
        self.ctx.record(circle, "member", member, "member")
        fields: dict[str, Any] = {"meeting": meeting, "member": member, "kind": kind}
        if kind == "in":
            if score is None:
                raise InvalidInput("say how you arrive, from 1 to 10", field="score")
            fields["score"] = in_range(score, "the number", 1, 10, field="score")
            fields["sentence"] = clean(sentence, "the sentence", 500, field="sentence")
        else:
            fields["word"] = clean(word, "the word", 40, required=True, field="word")
            if " " in fields["word"]:
                raise InvalidInput("one word, without spaces", field="word")
            fields["takeaway"] = clean(takeaway, "the take-away", 500, field="takeaway")
        fields["at"] = self.ctx.now_iso()
        key = f"{meeting}:{kind}:{member}"
        self.ctx.commit([self.ctx.op(circle, "checkround", key, **fields)])
        return self.ctx.record(circle, "checkround", key, "check round")

    def said(self, circle: str, meeting: str, kind: str) -> list[Record]:
        return [
            c
            for c in self.ctx.store.records(circle, "checkround")
            if c["meeting"] == meeting and c["kind"] == kind
        ]

    def view(self, circle: str, meeting: str, kind: str) -> CheckRoundState:
        """Where the check round stands, from its record and the clock."""
        r = self.ctx.store.get(circle, "round", round_key(meeting, kind))
        said = self.said(circle, meeting, kind)
        if r is None or not r.get("order"):
            order = tuple(self._order(circle, meeting))
            place = {m: i for i, m in enumerate(order)}
            said.sort(key=lambda c: place.get(c["member"], len(place)))
            return CheckRoundState(kind, TITLES[kind], PROMPTS[kind], False, order,
                                   said=tuple(said))  # fmt: skip
        order = tuple(r["order"])
        place = {m: i for i, m in enumerate(order)}
        said.sort(key=lambda c: place.get(c["member"], len(place)))
        turn = min(max(r.get("turn", 0), 0), len(order) - 1)
        box = int(next(iter((r.get("timeboxes") or {}).values()), 120))
        elapsed = self._elapsed(r)
        done = bool(r.get("done"))
        return CheckRoundState(
            kind,
            TITLES[kind],
            PROMPTS[kind],
            True,
            order,
            turn=turn,
            member=None if done else order[turn],
            done=done,
            timebox=box,
            elapsed=elapsed,
            remaining=box - elapsed,
            paused=bool(r.get("paused")),
            said=tuple(said),
        )
