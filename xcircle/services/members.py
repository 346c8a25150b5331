"""Members of a circle: add, edit, remove, and find by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xcircle.domain import SENIORITIES, ref
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.services.context import Context, clean, pick

# The circle's meta key listing removals the exchange has not heard of yet (the sync
# engine tells it and takes them off; `sync.state.queue_removal` edits the same list).
REMOVE_PENDING = "remove_pending"


@dataclass(frozen=True)
class Removal:
    """A member removed from a circle; `shared`: the exchange is to be told."""

    circle: str
    member: str
    name: str
    shared: bool


class Members:
    """Use cases of a circle's membership."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(
        self,
        circle: str,
        name: str,
        *,
        org: str,
        seniority: str | None = None,
        topics: Sequence[str] = (),
        key: str | None = None,
    ) -> Record:
        """Add a member; `key` gives the member id when it is already known elsewhere
        (joining a shared circle: the id the exchange knows this device by)."""
        if key is not None and not ref(key):
            raise InvalidInput("a member id is 32 lowercase hex characters", field="member")
        key = key or new_id()
        fields = self._fields(name=name, org=org, seniority=seniority, topics=topics)
        self.ctx.commit([self.ctx.op(circle, "member", key, **fields, joined=self.ctx.now_iso())])
        return self.ctx.record(circle, "member", key, "member")

    def update(
        self,
        circle: str,
        member: str,
        *,
        name: str | None = None,
        org: str | None = None,
        seniority: str | None = None,
        topics: Sequence[str] | None = None,
    ) -> Record:
        self.ctx.record(circle, "member", member, "member")
        fields = self._fields(name=name, org=org, seniority=seniority, topics=topics)
        if fields:
            self.ctx.commit([self.ctx.op(circle, "member", member, **fields)])
        return self.ctx.record(circle, "member", member, "member")

    def remove(self, circle: str, member: str) -> Removal:
        """Remove a member from the circle (a sticky tombstone: they never reappear).

        One durable write: in a shared circle the same write puts the member on the
        removals the exchange must hear of (`remove_pending`, read by the sync), so the
        screen and the CLI cannot forget it and a crash cannot split the two."""
        rec = self.ctx.record(circle, "member", member, "member")
        shared = bool(self.ctx.store.meta(circle).get("shared"))
        meta = None
        if shared:
            pending = self.ctx.store.meta(circle).get(REMOVE_PENDING) or []
            meta = {REMOVE_PENDING: [*(m for m in pending if m != member), member]}
        self.ctx.commit([self.ctx.op(circle, "member", member, _deleted=True)], meta=meta)
        return Removal(circle, member, rec["name"], shared)

    def _fields(
        self,
        *,
        name: str | None,
        org: str | None,
        seniority: str | None,
        topics: Sequence[str] | None,
    ) -> dict[str, object]:
        fields: dict[str, object] = {}
        if name is not None:
            fields["name"] = clean(name, "the member's name", 120, required=True, field="name")
        if org is not None:
            fields["org"] = clean(org, "the organization", 120, required=True, field="org")
        if seniority is not None:
            if seniority and seniority not in SENIORITIES:
                raise InvalidInput(
                    f"seniority must be one of {', '.join(SENIORITIES)}", field="seniority"
                )
            fields["seniority"] = seniority or None
        if topics is not None:
            fields["topics"] = [
                t for t in (clean(t, "a topic", 80, field="topics") for t in topics) if t
            ]
        return fields

    def all(self, circle: str) -> list[Record]:
        """Members in the order they joined (ties by id): the order rotations start from."""
        return self.ctx.members(circle)

    def names(self, circle: str) -> dict[str, str]:
        return {m["id"]: m["name"] for m in self.all(circle)}

    def resolve(self, circle: str, ref: str) -> str:
        """A member id from an id, an id prefix or a unique name prefix."""
        ref = ref.strip()
        members = self.all(circle)
        for m in members:
            if m["id"] == ref or m["name"].lower() == ref.lower():
                return str(m["id"])
        low = ref.lower()
        hits = [m for m in members if m["id"].startswith(low) or m["name"].lower().startswith(low)]
        return str(pick(hits, ref, "member")["id"])
