"""Work between meetings: written rounds ("cases").

A member opens a case between meetings (a challenge, in writing); peers answer offline,
each answer of a kind the case's protocol allows; the answers sync like any other op.
The presenter closes the case with a reflection and a commitment, and that commitment
(made outside any meeting) is reviewed at the next meeting like every open one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from xcircle.errors import InvalidInput, NotYours
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.services.commitments import Commitments
from xcircle.services.context import Context, clean
from xcircle.services.members import Members
from xcircle.services.protocols import Protocols


@dataclass(frozen=True)
class CaseReply:
    """One peer's written answer to a case."""

    id: str
    giver: str
    giver_name: str
    kind: str
    text: str
    at: str


@dataclass(frozen=True)
class CaseView:
    """A written round as the Cases tab and `xcircle case show` read it."""

    circle: str
    id: str
    title: str
    text: str
    presenter: str
    presenter_name: str
    protocol: str
    kinds: tuple[str, ...]  # what an answer may be
    status: str  # open | closed
    opened: str
    closed: str | None
    reflection: str
    commitment: str | None  # the commitment's id
    commitment_text: str
    replies: tuple[CaseReply, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Cases:
    """Use cases of written rounds: open, answer, close, read."""

    def __init__(
        self, ctx: Context, members: Members, commitments: Commitments, protocols: Protocols
    ) -> None:
        self.ctx, self.members, self.commitments = ctx, members, commitments
        self.protocols = protocols

    def open(self, circle: str, title: str, *, text: str = "", protocol: str = "") -> CaseView:
        """Open a case as its presenter (me); one write."""
        me = self._me(circle)
        protocol = clean(protocol, "the protocol", 64, field="protocol")
        chosen = self.protocols.get(circle, protocol)  # "": the default protocol
        if not chosen.kinds:
            raise InvalidInput(f"{chosen.title} takes no written answers", field="protocol")
        protocol = chosen.name
        key = new_id()
        fields = {
            "presenter": me,
            "title": clean(title, "the case's title", 200, required=True, field="title"),
            "text": clean(text, "the case", 4000, multiline=True, field="text"),
            "protocol": protocol,
            "status": "open",
            "opened": self.ctx.now_iso(),
            "closed": None,
            "reflection": "",
            "commitment": None,
        }
        self.ctx.commit([self.ctx.op(circle, "case", key, **fields)])
        return self.get(circle, key)

    def reply(
        self, circle: str, case: str, kind: str, text: str, *, giver: str | None = None
    ) -> CaseReply:
        """A peer's written answer (`giver`: me unless recorded for someone); one write."""
        rec = self._open_case(circle, case)
        giver = giver or self._me(circle)
        self.ctx.record(circle, "member", giver, "member")
        if giver == rec["presenter"]:
            raise InvalidInput("the presenter listens: peers answer a case", field="giver")
        kinds = self._kinds(circle, rec["protocol"])
        kind = kind.strip().lower()
        if kind not in kinds:
            raise InvalidInput(f"this case takes {', '.join(kinds)}, not {kind!r}", field="kind")
        body = clean(text, "the answer", 4000, required=True, multiline=True, field="text")
        op = self.ctx.add(
            circle,
            "case_reply",
            case=case,
            giver=giver,
            kind=kind,
            text=body,
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([op])
        return self._reply({**op.fields, "id": op.key}, self.members.names(circle))

    def close(
        self, circle: str, case: str, *, reflection: str, commitment: str, due: str | None = None
    ) -> CaseView:
        """The presenter closes the case: a reflection and a commitment (reviewed at the
        next meeting), in one write."""
        rec = self._open_case(circle, case)
        self._presenter_only(circle, case, rec)
        text = clean(
            reflection, "the reflection", 4000, required=True, multiline=True, field="reflection"
        )
        if not commitment.strip():
            raise InvalidInput("closing a case takes a commitment", field="commitment")
        key = new_id()
        made = self.commitments.new_op(
            circle, key, rec["presenter"], commitment, due, None, case=case
        )
        closing = self.ctx.op(
            circle,
            "case",
            case,
            status="closed",
            closed=self.ctx.now_iso(),
            reflection=text,
            commitment=key,
        )
        self.ctx.commit([closing, made])
        return self.get(circle, case)

    # -- reading -------------------------------------------------------------------------

    def get(self, circle: str, case: str) -> CaseView:
        rec = self.ctx.record(circle, "case", case, "case")
        names = self.members.names(circle)
        replies = [r for r in self.ctx.store.records(circle, "case_reply") if r["case"] == case]
        return self._view(circle, rec, names, replies)

    def all(self, circle: str) -> list[CaseView]:
        """A circle's cases: open ones first, then the newest first."""
        names = self.members.names(circle)
        by_case: dict[str, list[Record]] = {}
        for r in self.ctx.store.records(circle, "case_reply"):
            by_case.setdefault(r["case"], []).append(r)
        views = [
            self._view(circle, rec, names, by_case.get(rec["id"], []))
            for rec in self.ctx.store.records(circle, "case")
        ]
        views.sort(key=lambda v: v.id)
        views.sort(key=lambda v: v.opened, reverse=True)
        return sorted(views, key=lambda v: v.status != "open")

    def find(self, ref: str) -> tuple[str, str]:
        """(circle, case) of a case named by id, id prefix or unique title prefix."""
        rec = self.ctx.find_record("case", ref, "case")
        return str(rec["circle"]), str(rec["id"])

    # -- inside --------------------------------------------------------------------------

    def _view(
        self, circle: str, rec: Record, names: dict[str, str], replies: list[Record]
    ) -> CaseView:
        commitment = self.ctx.store.get(circle, "commitment", rec["commitment"] or "")
        try:
            kinds = self._kinds(circle, rec["protocol"])
        except InvalidInput:  # a protocol this device does not know (yet): answers wait
            kinds = ()
        ordered = sorted(replies, key=lambda r: (r.get("stamp", ""), r["id"]))
        return CaseView(
            circle=circle,
            id=rec["id"],
            title=rec["title"],
            text=rec["text"],
            presenter=rec["presenter"],
            presenter_name=names.get(rec["presenter"], "a former member"),
            protocol=rec["protocol"],
            kinds=kinds,
            status=rec["status"],
            opened=rec["opened"],
            closed=rec["closed"],
            reflection=rec["reflection"],
            commitment=rec["commitment"],
            commitment_text=commitment["text"] if commitment else "",
            replies=tuple(self._reply(r, names) for r in ordered),
        )

    @staticmethod
    def _reply(r: Record, names: dict[str, str]) -> CaseReply:
        giver = names.get(r["giver"], "a former member")
        return CaseReply(r["id"], r["giver"], giver, r["kind"], r["text"], r.get("at", ""))

    def _kinds(self, circle: str, protocol: str) -> tuple[str, ...]:
        """The kinds a written answer may have: every kind some phase of the case's
        protocol accepts."""
        return tuple(self.protocols.get(circle, protocol).kinds)

    def _me(self, circle: str) -> str:
        self.ctx.record(circle, "circle", circle, "circle")
        me = self.ctx.me(circle)
        if me is None or self.ctx.store.get(circle, "member", me) is None:
            raise InvalidInput("you are not a member of this circle")
        return me

    def _open_case(self, circle: str, case: str) -> Record:
        rec = self.ctx.record(circle, "case", case, "case")
        if rec["status"] != "open":
            raise InvalidInput(f"the case {rec['title']!r} is closed", field="case")
        return rec

    def _presenter_only(self, circle: str, case: str, rec: Record) -> None:
        if self.ctx.me(circle) != rec["presenter"]:
            raise NotYours("only the case's presenter can close it", field="case")
