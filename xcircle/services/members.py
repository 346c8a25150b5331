"""Members of a circle: add, edit, remove, and find by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xcircle.domain import CONVENER, ROLES, SENIORITIES, ref
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
        self._require_convener_unless_me(circle, key, "add a member")
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
        self._require_convener_unless_me(circle, member, "edit another member")
        fields = self._fields(name=name, org=org, seniority=seniority, topics=topics)
        if fields:
            self.ctx.commit([self.ctx.op(circle, "member", member, **fields)])
        return self.ctx.record(circle, "member", member, "member")

    def _require_convener_unless_me(self, circle: str, member: str, what: str) -> None:
        """Receivers refuse it from anyone else (sync.e2e), so refuse it here first."""
        me = self.ctx.me(circle)
        if me is not None and member != me and not self.is_convener(circle, me):
            raise InvalidInput(f"only a convener can {what}")

    def remove(self, circle: str, member: str) -> Removal:
        """Remove a member from the circle (a sticky tombstone: they never reappear).
        Conveners remove anyone; anyone may leave (remove themselves).

        One durable write: in a shared circle the same write puts the member on the
        removals the exchange must hear of (`remove_pending`, read by the sync), so the
        screen and the CLI cannot forget it and a crash cannot split the two."""
        rec = self.ctx.record(circle, "member", member, "member")
        me = self.ctx.me(circle)
        if member != me and me is not None and not self.is_convener(circle, me):
            raise InvalidInput("only a convener can remove someone else (anyone may leave)")
        shared = bool(self.ctx.store.meta(circle).get("shared"))
        meta = None
        if shared:
            pending = self.ctx.store.meta(circle).get(REMOVE_PENDING) or []
            meta = {REMOVE_PENDING: [*(m for m in pending if m != member), member]}
        self.ctx.commit([self.ctx.op(circle, "member", member, _deleted=True)], meta=meta)
        return Removal(circle, member, rec["name"], shared)

    def set_role(self, circle: str, member: str, role: str) -> Record:
        """Make `member` a convener or a member; only a convener may, and a circle keeps
        at least one convener."""
        if role not in ROLES:
            raise InvalidInput(f"a role is one of {', '.join(ROLES)}")
        self.ctx.record(circle, "member", member, "member")
        me = self.ctx.me(circle)
        if me is not None and not self.is_convener(circle, me):
            raise InvalidInput("only a convener can change roles")
        conveners = {m["id"] for m in self.all(circle) if self.is_convener(circle, m["id"])}
        if role != CONVENER and conveners == {member}:
            raise InvalidInput("a circle needs a convener: promote someone else first")
        self.ctx.commit([self.ctx.op(circle, "member", member, role=role)])
        return self.ctx.record(circle, "member", member, "member")

    def role(self, circle: str, member: str) -> str:
        return CONVENER if self.is_convener(circle, member) else "member"

    def is_convener(self, circle: str, member: str) -> bool:
        """A convener by role; in a circle from before roles (nobody has one), its
        first member (the creator) is."""
        return is_convener(self.all(circle), member)

    def add_device(
        self, circle: str, member: str, node: str, keys: dict[str, str], name: str = ""
    ) -> str:
        """Publish a device's public keys for `member` (`node`: the author id its ops
        carry), signed by whoever syncs it; returns the device's key id. Idempotent."""
        from xcircle.crypto import PublicKeys  # cryptography: not at the app's start

        public = PublicKeys.from_json(keys)
        name = clean(name, "a device name", 100)
        fields = {"member": member, "node": node, **public.to_json(), "name": name}
        current = self.ctx.store.get(circle, "device", public.key_id)
        if current is None or any(current.get(k) != v for k, v in fields.items()):
            self.ctx.commit([self.ctx.op(circle, "device", public.key_id, **fields)])
        return public.key_id

    def devices(self, circle: str) -> dict[str, list[Record]]:
        """Each member's devices: `{member id: [{id, fingerprint, name}]}`."""
        from xcircle.crypto import PublicKeys

        out: dict[str, list[Record]] = {}
        for d in self.ctx.store.records(circle, "device"):
            public = PublicKeys.from_json(d)
            row = {"id": d["id"], "fingerprint": public.fingerprint, "name": d.get("name", "")}
            out.setdefault(d["member"], []).append(row)
        return out

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


def is_convener(members: Sequence[Record], member: str) -> bool:
    """The role rule on a list of members in join order (shared with sync.e2e)."""
    if any(m.get("role") for m in members):
        return any(m["id"] == member and m.get("role") == CONVENER for m in members)
    return bool(members) and members[0]["id"] == member
