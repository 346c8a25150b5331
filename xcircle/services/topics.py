"""Open agenda: members propose topics at the start, the circle picks them by vote, and
the round walks the chosen topics, one turn each, in the protocol's timeboxes.

One topic per member per meeting (proposing again renames it), so a turn is still a
member's: its proposer opens and harvests it. Votes are dots: each member picks up to
`MAX_VOTES` topics; voting again replaces their votes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xcircle.errors import InvalidInput
from xcircle.services.context import Context, clean
from xcircle.services.meetings import Meetings

MAX_VOTES = 3


@dataclass(frozen=True)
class Topic:
    """A proposed topic and the votes it has."""

    member: str
    title: str
    votes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Topics:
    """Use cases of an open agenda."""

    def __init__(self, ctx: Context, meetings: Meetings) -> None:
        self.ctx = ctx
        self.meetings = meetings

    def _who(self, circle: str, member: str | None) -> str:
        who = member or self.ctx.me(circle)
        if who is None:
            raise InvalidInput("name the member", field="member")
        self.ctx.record(circle, "member", who, "member")
        return who

    def propose(self, circle: str, meeting: str, title: str, member: str | None = None) -> Topic:
        """Propose (or rename) `member`'s topic for the meeting."""
        self.meetings.writable(circle, meeting)
        who = self._who(circle, member)
        fields = {
            "meeting": meeting,
            "member": who,
            "title": clean(title, "the topic", 200, required=True, field="title"),
            "at": self.ctx.now_iso(),
        }
        self.ctx.commit([self.ctx.op(circle, "topic", f"{meeting}:{who}", **fields)])
        return next(t for t in self.board(circle, meeting) if t.member == who)

    def vote(
        self, circle: str, meeting: str, proposers: Sequence[str], member: str | None = None
    ) -> list[Topic]:
        """`member`'s votes: the topics (by proposer) they pick, at most MAX_VOTES."""
        self.meetings.writable(circle, meeting)
        who = self._who(circle, member)
        picked = list(dict.fromkeys(proposers))
        if len(picked) > MAX_VOTES:
            raise InvalidInput(f"vote for at most {MAX_VOTES} topics", field="topics")
        proposed = {t.member for t in self.board(circle, meeting)}
        for p in picked:
            if p not in proposed:
                raise InvalidInput("vote only for a proposed topic", field="topics")
        self.ctx.commit(
            [
                self.ctx.op(
                    circle, "vote", f"{meeting}:{who}", meeting=meeting, member=who, topics=picked
                )
            ]
        )
        return self.board(circle, meeting)

    def board(self, circle: str, meeting: str) -> list[Topic]:
        """The meeting's topics, most votes first (ties: proposed first)."""
        topics = [t for t in self.ctx.store.records(circle, "topic") if t["meeting"] == meeting]
        counts: Counter[str] = Counter()
        for v in self.ctx.store.records(circle, "vote"):
            if v["meeting"] == meeting:
                counts.update(set(v["topics"]))
        topics.sort(key=lambda t: (-counts[t["member"]], t["at"], t["member"]))
        return [Topic(t["member"], t["title"], counts[t["member"]]) for t in topics]

    def chosen(self, circle: str, meeting: str) -> list[str]:
        """The proposers whose topics the round walks: those with votes, most first; all
        proposed topics when nobody has voted yet."""
        board = self.board(circle, meeting)
        voted = [t.member for t in board if t.votes > 0]
        return voted or [t.member for t in board]

    def title(self, circle: str, meeting: str, member: str) -> str:
        rec = self.ctx.store.get(circle, "topic", f"{meeting}:{member}")
        return str(rec["title"]) if rec else ""
