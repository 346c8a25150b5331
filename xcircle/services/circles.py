"""Circles: create, edit, archive, list, and everything a member checks after a sync."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xcircle.domain import CONVENER, DEFAULT_AGREEMENTS, FREQUENCIES, MODES
from xcircle.errors import InvalidInput, NotFound
from xcircle.merge import Record
from xcircle.ops import Op, new_id
from xcircle.services.context import Context, clean, in_range, pick


class Circles:
    """Use cases of circles and their agreements."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(
        self,
        name: str,
        *,
        purpose: str = "",
        outcomes: Sequence[str] = (),
        frequency: str = "biweekly",
        duration: int = 90,
        mode: str = "online",
        agreements: Sequence[tuple[str, str]] = DEFAULT_AGREEMENTS,
    ) -> Record:
        """Create a circle with me as its first member; one durable write."""
        profile = self.ctx.store.require_profile()
        self._unique_name(name)
        fields = self._validated(
            name=name,
            purpose=purpose,
            outcomes=list(outcomes),
            frequency=frequency,
            duration=duration,
            mode=mode,
        )
        cid, me = new_id(), new_id()
        now = self.ctx.now_iso()
        self.ctx.store.create_circle(cid)
        ops = [self.ctx.op(cid, "circle", cid, **fields, archived=False, created=now)]
        ops.append(
            self.ctx.op(
                cid,
                "member",
                me,
                name=profile["name"],
                org=profile["org"],
                seniority=profile.get("seniority"),
                topics=[],
                joined=now,
                role=CONVENER,
            )
        )
        for position, (title, text) in enumerate(agreements):
            ops.append(
                self.ctx.op(
                    cid,
                    "agreement",
                    new_id(),
                    title=clean(
                        title, "an agreement's title", 120, required=True, field="agreements"
                    ),
                    text=clean(
                        text, "an agreement's text", 1000, multiline=True, field="agreements"
                    ),
                    position=position,
                )
            )
        ops.extend(self._my_device(cid, me))
        self.ctx.commit(ops, meta={"me": me})
        return self.get(cid)

    def _my_device(self, circle: str, me: str) -> list[Op]:
        """This device's record in a new circle (its public keys, so others can check
        what it signs), when this home has keys (`init` makes them)."""
        from xcircle.keystore import exists, keystore_of

        if not exists(self.ctx.store.home) or not keystore_of(self.ctx.store).has_device_keys():
            return []
        public = keystore_of(self.ctx.store).device_keys().public
        node = self.ctx.store.require_profile()["node"]
        fields = {"member": me, "node": node, **public.to_json(), "name": ""}
        return [self.ctx.op(circle, "device", public.key_id, **fields)]

    def _unique_name(self, name: str, circle: str | None = None) -> None:
        """Refuse a second circle of the same name (case and spaces aside): names are
        how the CLI and the palette find a circle."""
        wanted = " ".join(name.split()).casefold()
        for cid in self.ctx.store.circle_ids():
            rec = self.ctx.store.get(cid, "circle", cid)
            if cid != circle and rec and " ".join(rec["name"].split()).casefold() == wanted:
                raise InvalidInput(
                    f"a circle named {rec['name']!r} exists already: choose another name",
                    field="name",
                )

    def update(self, circle: str, **changes: Any) -> Record:
        """Change some settings of a circle (only the fields given)."""
        self.get(circle)
        if "name" in changes:
            self._unique_name(changes["name"], circle)
        fields = self._validated(**changes)
        if fields:
            self.ctx.commit([self.ctx.op(circle, "circle", circle, **fields)])
        return self.get(circle)

    def archive(self, circle: str, archived: bool = True) -> Record:
        self.get(circle)
        self.ctx.commit([self.ctx.op(circle, "circle", circle, archived=archived)])
        return self.get(circle)

    def _validated(self, **fields: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "name" in fields:
            out["name"] = clean(
                fields["name"], "the circle's name", 120, required=True, field="name"
            )
        if "purpose" in fields:
            out["purpose"] = clean(
                fields["purpose"], "the purpose", 2000, multiline=True, field="purpose"
            )
        if "outcomes" in fields:
            outcomes = [clean(o, "an outcome", 500, field="outcomes") for o in fields["outcomes"]]
            out["outcomes"] = [o for o in outcomes if o]
        if "frequency" in fields:
            if fields["frequency"] not in FREQUENCIES:
                raise InvalidInput(
                    f"cadence must be one of {', '.join(FREQUENCIES)}", field="frequency"
                )
            out["frequency"] = fields["frequency"]
        if "duration" in fields:
            out["duration"] = in_range(
                fields["duration"], "the duration (minutes)", 15, 480, field="duration"
            )
        if "mode" in fields:
            if fields["mode"] not in MODES:
                raise InvalidInput(f"mode must be one of {', '.join(MODES)}", field="mode")
            out["mode"] = fields["mode"]
        return out

    # -- agreements ----------------------------------------------------------------------

    def agreements(self, circle: str) -> list[Record]:
        """The agreements as they stand (each at its latest agreed amendment), in order."""
        from xcircle.services.amendments import amended

        ordered = sorted(
            self.ctx.store.records(circle, "agreement"), key=lambda a: (a["position"], a["id"])
        )
        return amended(self.ctx.store, circle, ordered)

    def set_agreement(
        self, circle: str, title: str, text: str, agreement: str | None = None
    ) -> Record:
        """Add an agreement, or edit one when `agreement` (its id) is given (conveners)."""
        self._require_convener(circle)
        key = agreement or new_id()
        fields: dict[str, Any] = {
            "title": clean(title, "an agreement's title", 120, required=True, field="title"),
            "text": clean(text, "an agreement's text", 1000, multiline=True, field="text"),
        }
        if agreement is None:
            fields["position"] = len(self.agreements(circle))
        else:
            self.ctx.record(circle, "agreement", agreement, "agreement")
        self.ctx.commit([self.ctx.op(circle, "agreement", key, **fields)])
        return self.ctx.record(circle, "agreement", key, "agreement")

    def remove_agreement(self, circle: str, agreement: str) -> None:
        self._require_convener(circle)
        self.ctx.record(circle, "agreement", agreement, "agreement")
        self.ctx.commit([self.ctx.op(circle, "agreement", agreement, _deleted=True)])

    def _require_convener(self, circle: str) -> None:
        from xcircle.services.members import is_convener

        me = self.ctx.me(circle)
        if me is not None and not is_convener(self.ctx.members(circle), me):
            raise InvalidInput("only a convener can amend the circle's agreements")

    # -- reading -------------------------------------------------------------------------

    def get(self, circle: str) -> Record:
        if not self.ctx.store.has_circle(circle):
            raise NotFound(f"no circle {circle[:8]} in this home")
        record = self.ctx.store.get(circle, "circle", circle)
        if record is None:
            raise NotFound(f"circle {circle[:8]} has not been synced yet")
        return record

    def is_shared(self, circle: str) -> bool:
        """Whether the circle is on an exchange (its changes sync to other members)."""
        return bool(self.ctx.store.meta(circle).get("shared"))

    def ids(self, *, include_archived: bool = True) -> list[str]:
        out = []
        for cid in self.ctx.store.circle_ids():
            record = self.ctx.store.get(cid, "circle", cid)
            if record and (include_archived or not record.get("archived")):
                out.append(cid)
        return sorted(out, key=lambda c: self.ctx.store.get(c, "circle", c)["name"].lower())  # type: ignore[index]

    def all(self, *, include_archived: bool = True) -> list[Record]:
        return [self.get(cid) for cid in self.ids(include_archived=include_archived)]

    def resolve(self, ref: str) -> str:
        """A circle id from an id, an id prefix or a unique name prefix."""
        ref = ref.strip()
        circles = self.all()
        for c in circles:
            if c["id"] == ref or c["name"].lower() == ref.lower():
                return str(c["id"])
        low = ref.lower()
        hits = [c for c in circles if c["id"].startswith(low) or c["name"].lower().startswith(low)]
        return str(pick(hits, ref, "circle")["id"])
