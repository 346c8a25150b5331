"""Issue cards: what a member prepares, offline, to bring to a round.

A card holds the situation, the key question, the help wanted and not wanted, and an
urgency (A now, B soon, C some day). Open cards drive who the round proposes as
presenters (`rotation.proposal_order`); the presenter's card is on screen during
their turn, and is marked presented, with the meeting, once the turn is over.
"""

from __future__ import annotations

from xcircle.domain import URGENCIES
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import Op, new_id
from xcircle.rotation import URGENCY_RANK
from xcircle.services.context import Context, clean, pick


def card_order(card: Record) -> tuple[int, str, str]:
    """Most urgent first, then the oldest."""
    return URGENCY_RANK.get(card["urgency"], 3), card["created"], card["id"]


class Cards:
    """Use cases of issue cards."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(
        self,
        circle: str,
        situation: str,
        question: str,
        urgency: str,
        *,
        want: str = "",
        not_want: str = "",
        member: str | None = None,
    ) -> Record:
        """Prepare a card (mine, or `member`'s when a facilitator types it in)."""
        self.ctx.record(circle, "circle", circle, "circle")
        owner = member or self.ctx.me(circle)
        if owner is None:
            raise InvalidInput("name the member whose card this is", field="member")
        self.ctx.record(circle, "member", owner, "member")
        level = urgency.strip().upper()
        if level not in URGENCIES:
            raise InvalidInput("urgency is A (now), B (soon) or C (some day)", field="urgency")
        fields = {
            "member": owner,
            "situation": clean(
                situation, "the situation", 2000, required=True, multiline=True, field="situation"
            ),
            "question": clean(
                question, "the key question", 500, required=True, multiline=True, field="question"
            ),
            "want": clean(want, "the help wanted", 1000, multiline=True, field="want"),
            "not_want": clean(
                not_want, "the help not wanted", 1000, multiline=True, field="not_want"
            ),
            "urgency": level,
            "status": "open",
            "meeting": None,
            "created": self.ctx.now_iso(),
        }
        key = new_id()
        self.ctx.commit([self.ctx.op(circle, "card", key, **fields)])
        return self.ctx.record(circle, "card", key, "card")

    def all(self, circle: str, *, include_closed: bool = False) -> list[Record]:
        """The circle's cards, most urgent and oldest first (open ones only unless
        `include_closed`)."""
        cards = self.ctx.store.records(circle, "card")
        return sorted((c for c in cards if include_closed or c["status"] == "open"), key=card_order)

    def open_by_member(self, circle: str) -> dict[str, Record]:
        """Each member's most urgent open card."""
        out: dict[str, Record] = {}
        for card in self.all(circle):
            out.setdefault(card["member"], card)
        return out

    def withdraw(self, circle: str, card: str) -> Record:
        """Withdraw my card (or one this device typed in): it leaves the proposals."""
        rec = self.ctx.record(circle, "card", card, "card")
        self.ctx.check_mine(circle, "card", card, rec["member"], "card")
        if rec["status"] != "open":
            raise InvalidInput(f"this card is already {rec['status']}", field="card")
        self.ctx.commit([self.ctx.op(circle, "card", card, status="withdrawn")])
        return self.ctx.record(circle, "card", card, "card")

    def find(self, ref: str) -> Record:
        """A card in any circle by id or id prefix (with its `circle`)."""
        ref = ref.strip().lower()
        hits = [
            {**c, "circle": cid}
            for cid in self.ctx.store.circle_ids()
            for c in self.ctx.store.records(cid, "card")
            if ref and c["id"].startswith(ref)
        ]
        return pick(hits, ref, "card", "question")

    def for_turn(self, circle: str, meeting: str, presenter: str) -> Record | None:
        """The card on screen during `presenter`'s turn: the one presented in this
        meeting, else their most urgent open card."""
        presented = [
            c
            for c in self.ctx.store.records(circle, "card")
            if c["member"] == presenter and c["meeting"] == meeting and c["status"] == "presented"
        ]
        if presented:
            return min(presented, key=card_order)
        return self.open_by_member(circle).get(presenter)

    def presented_ops(self, circle: str, meeting: str, presenter: str) -> list[Op]:
        """The op marking the presenter's card presented in `meeting` (none without one)."""
        card = self.for_turn(circle, meeting, presenter)
        if card is None or card["status"] != "open":
            return []
        return [self.ctx.op(circle, "card", card["id"], status="presented", meeting=meeting)]
