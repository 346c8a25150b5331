"""Agreements that evolve: amendments decided by consent.

A convener proposes an amendment to an agreement (new title and/or text, and why). The
members asked are fixed at the proposal (`voters`: everyone in the circle then); each
consents or objects once, from their own device in a shared circle. Nobody objecting
and every voter still in the circle consenting makes it *agreed*: the agreement's next
version. Versions are derived from the ops, never written over, so every replica shows
the same history and the same current text, and a non-convener's consent is enough to
decide (no convener has to be online to "apply" it).

An agreed amendment asks everyone to acknowledge the agreements again: an
acknowledgement counts only if it is stamped after the last agreed amendment
(`changed_since`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.services.context import Context, clean, pick

if TYPE_CHECKING:
    from xcircle.services.members import Members
    from xcircle.store import Store

AGREED, OBJECTED, OPEN = "agreed", "objected", "open"


def decide(amendment: Record, votes: list[Record], live: set[str]) -> tuple[str, str]:
    """(status, stamp of the decision) of one amendment: a voter's first vote counts
    (by stamp, the same on every replica); one objection blocks it; every voter still a
    member consenting agrees it, stamped by the last consent ("" while open)."""
    voters = [v for v in amendment.get("voters", []) if v in live]
    first: dict[str, Record] = {}
    for vote in sorted(votes, key=lambda r: (r.get("stamp", ""), r["id"])):
        if vote["member"] in voters:
            first.setdefault(vote["member"], vote)
    objections = sorted(v.get("stamp", "") for v in first.values() if not v["consent"])
    if objections:
        return OBJECTED, objections[0]
    if voters and len(first) == len(voters):
        return AGREED, max(v.get("stamp", "") for v in first.values())
    return OPEN, ""


@dataclass(frozen=True)
class _Circle:
    """One pass over a circle's amendments and votes."""

    amendments: list[Record]
    votes: dict[str, list[Record]]
    decided: dict[str, tuple[str, str]]


def _read(store: Store, circle: str) -> _Circle:
    amendments = store.records(circle, "amendment")
    votes: dict[str, list[Record]] = {}
    if amendments:
        for v in store.records(circle, "consent"):
            votes.setdefault(v["amendment"], []).append(v)
    live = {m["id"] for m in store.records(circle, "member")}
    decided = {a["id"]: decide(a, votes.get(a["id"], []), live) for a in amendments}
    return _Circle(amendments, votes, decided)


def _agreed(data: _Circle) -> dict[str, list[tuple[str, Record]]]:
    """Agreement id → its agreed amendments as (decision stamp, amendment), in order."""
    out: dict[str, list[tuple[str, Record]]] = {}
    for a in data.amendments:
        status, stamp = data.decided[a["id"]]
        if status == AGREED:
            out.setdefault(a["agreement"], []).append((stamp, a))
    for versions in out.values():
        versions.sort(key=lambda sa: (sa[0], sa[1]["id"]))
    return out


def amended(store: Store, circle: str, agreements: list[Record]) -> list[Record]:
    """The agreements as they stand: each at its latest agreed version (unless a
    convener edited it directly after), with its `version` number."""
    agreed = _agreed(_read(store, circle))
    out = []
    for a in agreements:
        versions = agreed.get(a["id"], [])
        current = {**a, "version": 1 + len(versions)}
        if versions:
            stamp, last = versions[-1]
            raw = store.raw(circle, "agreement", a["id"]) or {}
            edited = max((raw.get("_h", {}).get(f, "") for f in ("title", "text")), default="")
            if stamp > edited:
                current.update(title=last["title"], text=last["text"])
        out.append(current)
    return out


def changed_since(store: Store, circle: str) -> str:
    """The stamp of the circle's last agreed amendment ("" if none): acknowledgements
    stamped before it are asked again."""
    data = _read(store, circle)
    return max((s for st, s in data.decided.values() if st == AGREED), default="")


@dataclass(frozen=True)
class Vote:
    member: str
    name: str
    consent: bool
    note: str
    at: str


@dataclass(frozen=True)
class AmendmentView:
    """One proposed amendment and where its decision stands."""

    circle: str
    id: str
    agreement: str
    title: str
    text: str
    reason: str
    proposer_name: str
    proposed: str
    status: str  # open | agreed | objected
    votes: tuple[Vote, ...]
    waiting: tuple[str, ...]  # names of voters who have not answered yet

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AgreementVersion:
    version: int
    title: str
    text: str
    amendment: str | None  # the amendment that made it (None: the first version)
    since: str  # when it was agreed (ISO date-time; "" for the first version)


@dataclass(frozen=True)
class AgreementHistory:
    """An agreement's versions, oldest first, and every amendment proposed to it."""

    circle: str
    agreement: str
    title: str  # as it stands
    text: str
    versions: tuple[AgreementVersion, ...]
    amendments: tuple[AmendmentView, ...]  # newest first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Amendments:
    """Use cases of amending agreements by consent."""

    def __init__(self, ctx: Context, members: Members) -> None:
        self.ctx, self.members = ctx, members

    def propose(
        self,
        circle: str,
        agreement: str,
        *,
        title: str | None = None,
        text: str | None = None,
        reason: str = "",
    ) -> AmendmentView:
        """A convener proposes new wording (proposing is the proposer's consent); one
        write. One open amendment per agreement at a time."""
        me = self.ctx.me(circle)
        if me is None or not self.members.is_convener(circle, me):
            raise InvalidInput("only a convener can propose an amendment to an agreement")
        current = self._current(circle, agreement)
        new_title = current["title"] if title is None else title
        fields = {
            "agreement": agreement,
            "title": clean(new_title, "the agreement's title", 120, required=True, field="title"),
            "text": clean(
                current["text"] if text is None else text,
                "the agreement's text",
                1000,
                multiline=True,
                field="text",
            ),
            "reason": clean(reason, "the reason", 1000, multiline=True, field="reason"),
            "proposer": me,
            "voters": [m["id"] for m in self.members.all(circle)],
            "proposed": self.ctx.now_iso(),
        }
        if (fields["title"], fields["text"]) == (current["title"], current["text"]):
            raise InvalidInput(
                "the amendment changes nothing: give a new text or title", field="text"
            )
        data = _read(self.ctx.store, circle)
        if any(
            a["agreement"] == agreement and data.decided[a["id"]][0] == OPEN
            for a in data.amendments
        ):
            raise InvalidInput(
                f"{current['title']!r} has an open amendment already: decide that one first",
                field="agreement",
            )
        key = new_id()
        consent = self.ctx.add(
            circle,
            "consent",
            amendment=key,
            member=me,
            consent=True,
            note="",
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([self.ctx.op(circle, "amendment", key, **fields), consent])
        return self.get(circle, key)

    def vote(
        self,
        circle: str,
        amendment: str,
        consent: bool,
        *,
        note: str = "",
        member: str | None = None,
    ) -> AmendmentView:
        """Consent to or object to an open amendment, once; an objection says why. In a
        shared circle each member answers from their own device (receivers check it);
        on a home that keeps a circle alone, the scribe records everyone's answer."""
        rec = self.ctx.record(circle, "amendment", amendment, "amendment")
        me = self.ctx.me(circle)
        member = member or me
        if member is None:
            raise InvalidInput("you are not a member of this circle")
        self.ctx.record(circle, "member", member, "member")
        if member != me and self.ctx.store.meta(circle).get("shared"):
            raise InvalidInput(
                "in a shared circle each member consents or objects from their own device",
                field="member",
            )
        view = self.get(circle, amendment)
        if view.status != OPEN:
            raise InvalidInput(f"this amendment is {view.status} already", field="amendment")
        if member not in rec["voters"]:
            raise InvalidInput(
                "only the members asked when it was proposed decide it", field="member"
            )
        if any(v.member == member for v in view.votes):
            raise InvalidInput("this member has answered already", field="member")
        note = clean(note, "the note", 500, multiline=True, field="note")
        if not consent and not note:
            raise InvalidInput("an objection says what it objects to", field="note")
        op = self.ctx.add(
            circle,
            "consent",
            amendment=amendment,
            member=member,
            consent=consent,
            note=note,
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([op])
        return self.get(circle, amendment)

    # -- reading -------------------------------------------------------------------------

    def get(self, circle: str, amendment: str) -> AmendmentView:
        rec = self.ctx.record(circle, "amendment", amendment, "amendment")
        return self._view(circle, rec, _read(self.ctx.store, circle), self.members.names(circle))

    def pending(self, circle: str) -> list[AmendmentView]:
        """Open amendments, oldest first."""
        data, names = _read(self.ctx.store, circle), self.members.names(circle)
        views = [self._view(circle, a, data, names) for a in data.amendments]
        return sorted((v for v in views if v.status == OPEN), key=lambda v: (v.proposed, v.id))

    def history(self, circle: str, agreement: str) -> AgreementHistory:
        """An agreement's versions (first, then each agreed amendment) and amendments."""
        current = self._current(circle, agreement)
        data, names = _read(self.ctx.store, circle), self.members.names(circle)
        agreed = _agreed(data).get(agreement, [])
        base = self.ctx.store.get(circle, "agreement", agreement) or current
        # Version 1 is the agreement's own record (a convener's direct edit corrects it).
        versions = [AgreementVersion(1, base["title"], base["text"], None, "")]
        for n, (_stamp, a) in enumerate(agreed, 2):
            since = max((v.get("at", "") for v in data.votes.get(a["id"], [])), default="")
            versions.append(AgreementVersion(n, a["title"], a["text"], a["id"], since))
        mine = [a for a in data.amendments if a["agreement"] == agreement]
        views = sorted(
            (self._view(circle, a, data, names) for a in mine),
            key=lambda v: (v.proposed, v.id),
            reverse=True,
        )
        return AgreementHistory(
            circle, agreement, current["title"], current["text"], tuple(versions), tuple(views)
        )

    def resolve_agreement(self, circle: str, ref: str) -> str:
        """An agreement id from an id prefix or a unique title prefix."""
        from xcircle.services.circles import Circles

        low = ref.strip().lower()
        hits = [
            a
            for a in Circles(self.ctx).agreements(circle)
            if a["id"].startswith(low) or a["title"].lower().startswith(low)
        ]
        exact = [a for a in hits if a["title"].lower() == low]
        return str(pick(exact or hits, ref, "agreement", "title")["id"])

    def find(self, ref: str) -> tuple[str, str]:
        """(circle, amendment) by id or id prefix, or a unique title prefix."""
        rec = self.ctx.find_record("amendment", ref, "amendment")
        return str(rec["circle"]), str(rec["id"])

    # -- inside --------------------------------------------------------------------------

    def _current(self, circle: str, agreement: str) -> Record:
        from xcircle.services.circles import Circles

        for a in Circles(self.ctx).agreements(circle):
            if a["id"] == agreement:
                return a
        raise InvalidInput(f"no agreement {agreement[:8]} in this circle", field="agreement")

    def _view(
        self, circle: str, rec: Record, data: _Circle, names: dict[str, str]
    ) -> AmendmentView:
        status, _ = data.decided[rec["id"]]
        first: dict[str, Record] = {}
        for v in sorted(data.votes.get(rec["id"], []), key=lambda r: (r.get("stamp", ""), r["id"])):
            first.setdefault(v["member"], v)
        votes = tuple(
            Vote(m, names.get(m, "a former member"), v["consent"], v["note"], v["at"])
            for m, v in first.items()
        )
        waiting = tuple(names[m] for m in rec["voters"] if m in names and m not in first)
        return AmendmentView(
            circle=circle,
            id=rec["id"],
            agreement=rec["agreement"],
            title=rec["title"],
            text=rec["text"],
            reason=rec["reason"],
            proposer_name=names.get(rec["proposer"] or "", "a former member"),
            proposed=rec["proposed"],
            status=status,
            votes=votes,
            waiting=waiting if status == OPEN else (),
        )
