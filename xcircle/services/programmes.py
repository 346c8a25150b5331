"""Programme use cases: create, import a pool, form, move, lock, re-form, mark published.

A programme is the coordinator's own file (`xcircle.programmes.store`), not part of any
circle's synced store: each call reads it, changes it and writes it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from xcircle.errors import InvalidInput
from xcircle.programmes import forming
from xcircle.programmes.csvimport import participant_id, read_pool
from xcircle.programmes.model import Participant, Programme, StagedCircle, Unplaced, Weights
from xcircle.programmes.store import ProgrammeStore
from xcircle.services.context import Context

MOVED_OUT = "taken out of its circle by the coordinator"
OUT = ("-", "none", "unplaced")


class Programmes:
    """The coordinator's programmes in this home."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def store(self) -> ProgrammeStore:
        return ProgrammeStore(Path(self.ctx.store.home))

    def create(self, name: str) -> Programme:
        return self.store.create(name)

    def list(self) -> list[Programme]:
        return self.store.list()

    def get(self, ref: str) -> Programme:
        return self.store.get(ref)

    def import_csv(self, ref: str, path: Path) -> Programme:
        """Replace the pool with the CSV's (all rows or none). Ids follow emails, so people
        keep theirs; locked circles stay (without anyone no longer in the pool), the rest
        of the staging is dropped: form again."""
        programme = self.get(ref)
        pool = read_pool(path)
        updated = programme.with_(
            organizations=pool.organizations,
            participants=pool.participants,
            not_with=pool.not_with,
            manages=pool.manages,
            unplaced=(),
        )
        kept = tuple(
            self._rescored(updated, c, [m for m in c.members if m in pool.participants])
            for c in programme.staged
            if c.locked
        )
        updated = updated.with_(staged=kept)
        self.store.save(updated)
        return updated

    def form(
        self,
        ref: str,
        size: int | None = None,
        max_per_org: int | None = None,
        seed: int = 0,
        weights: Mapping[str, float] | None = None,
    ) -> Programme:
        """Form every participant outside a locked circle; the rules given are kept.
        `weights`: soft goals to weigh anew (organization, seniority, function, topic)."""
        programme = self.get(ref)
        if not programme.participants:
            raise InvalidInput(
                f"{programme.name} has no participants yet: `xcircle programme import` a CSV",
                field="programme",
            )
        rules = programme.rules
        if size is not None:
            if not rules.min_size <= size <= rules.max_size:
                raise InvalidInput(
                    f"--size must be between {rules.min_size} and {rules.max_size}", field="size"
                )
            rules = replace(rules, size=size)
        if max_per_org is not None:
            rules = replace(rules, max_per_org=max_per_org)
        if weights:
            rules = replace(rules, weights=weighed(rules.weights, weights))
        forming.check_rules(rules)
        formation = forming.form(programme, rules, seed)
        updated = programme.with_(
            rules=rules, staged=formation.circles, unplaced=formation.unplaced
        )
        self.store.save(updated)
        return updated

    def reform(self, ref: str, seed: int = 0) -> Programme:
        """Form again every circle that is not locked (with the programme's rules)."""
        return self.form(ref, seed=seed)

    def move(self, ref: str, participant: str, to_circle: str) -> Programme:
        """Move a participant into staged circle `to_circle` (or out: "-"). Both circles are
        re-scored; a move that breaks a hard rule is made, and the circle lists it."""
        programme = self.get(ref)
        person = self.participant(programme, participant)
        source = next((c for c in programme.staged if person.id in c.members), None)
        target = None
        if to_circle.strip().lower() not in OUT:
            target = self._circle(programme, to_circle)
            if target.locked:
                raise InvalidInput(f"circle {target.id} is locked: unlock it first", field="circle")
            if source is not None and source.id == target.id:
                raise InvalidInput(f"{person.name} is already in {target.id}", field="circle")
        if source is not None and source.locked:
            raise InvalidInput(f"circle {source.id} is locked: unlock it first", field="circle")
        if source is None and target is None:
            raise InvalidInput(f"{person.name} is in no circle", field="participant")
        circles = []
        for c in programme.staged:
            if source is not None and c.id == source.id:
                c = self._rescored(programme, c, [m for m in c.members if m != person.id])
            elif target is not None and c.id == target.id:
                c = self._rescored(programme, c, [*c.members, person.id])
            circles.append(c)
        unplaced = [u for u in programme.unplaced if u.participant != person.id]
        if target is None:
            unplaced.append(Unplaced(person.id, MOVED_OUT))
        updated = programme.with_(staged=tuple(circles), unplaced=tuple(unplaced))
        self.store.save(updated)
        return updated

    def lock(self, ref: str, circle: str, locked: bool = True) -> Programme:
        """Lock a staged circle (re-forming keeps it as it is), or unlock it."""
        programme = self.get(ref)
        target = self._circle(programme, circle)
        updated = programme.with_(
            staged=tuple(
                replace(c, locked=locked) if c.id == target.id else c for c in programme.staged
            )
        )
        self.store.save(updated)
        return updated

    def unlock(self, ref: str, circle: str) -> Programme:
        return self.lock(ref, circle, locked=False)

    def mark_published(
        self, ref: str, staged_id: str, circle_id: str, invites: dict[str, str]
    ) -> Programme:
        """Record that staged circle `staged_id` is now circle `circle_id` with these
        invites (participant id -> code); the circle is locked from then on."""
        programme = self.get(ref)
        target = self._circle(programme, staged_id)
        published = {
            **programme.published,
            target.id: {"circle": circle_id, "invites": dict(invites)},
        }
        updated = programme.with_(
            published=published,
            staged=tuple(
                replace(c, locked=True) if c.id == target.id else c for c in programme.staged
            ),
        )
        self.store.save(updated)
        return updated

    # -- lookups -------------------------------------------------------------------------------

    def participant(self, programme: Programme, ref: str) -> Participant:
        """A participant by id, email or name (case-insensitive; a name must be unique)."""
        ref = ref.strip()
        people = programme.participants
        if ref in people:
            return people[ref]
        by_email = people.get(participant_id(ref)) if "@" in ref else None
        if by_email is not None:
            return by_email
        named = [p for p in people.values() if p.name.casefold() == ref.casefold()]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise InvalidInput(
                f"{len(named)} participants are named {ref!r}: use the email", field="participant"
            )
        raise InvalidInput(f"no participant {ref!r} in {programme.name}", field="participant")

    def _circle(self, programme: Programme, ref: str) -> StagedCircle:
        found = programme.circle(ref.strip())
        if found is None:
            raise InvalidInput(f"no staged circle {ref!r} in {programme.name}", field="circle")
        return found

    def _rescored(
        self, programme: Programme, c: StagedCircle, members: Sequence[str]
    ) -> StagedCircle:
        people = [programme.participants[m] for m in members if m in programme.participants]
        return forming.staged(c.id, people, programme, programme.rules, c.locked)


GOALS = ("organization", "seniority", "function", "topic")
MAX_WEIGHT = 10.0


def weighed(current: Weights, changes: Mapping[str, float]) -> Weights:
    """`current` with `changes` applied: known goals only, each weight from 0 to 10, and
    at least one above 0."""
    for goal, value in changes.items():
        if goal not in GOALS:
            raise InvalidInput(
                f"no soft goal {goal!r}; weigh one of {', '.join(GOALS)}", field="weight"
            )
        if not 0.0 <= value <= MAX_WEIGHT:
            raise InvalidInput(
                f"the weight of {goal} must be between 0 and {MAX_WEIGHT:g}", field="weight"
            )
    updated = replace(current, **dict(changes))
    if not any(getattr(updated, goal) > 0 for goal in GOALS):
        raise InvalidInput("at least one soft goal needs a weight above 0", field="weight")
    return updated


def as_json(programme: Programme) -> dict[str, Any]:
    """What `--json` prints for a programme's staging (names resolved)."""
    people = programme.participants

    def who(pid: str) -> dict[str, str]:
        p = people.get(pid)
        if p is None:
            return {"id": pid, "name": "", "organization": "", "email": ""}
        return {"id": p.id, "name": p.name, "organization": p.organization, "email": p.email}

    return {
        "id": programme.id,
        "name": programme.name,
        "participants": len(people),
        "organizations": list(programme.organizations),
        "rules": {
            "size": programme.rules.size,
            "min_size": programme.rules.min_size,
            "max_size": programme.rules.max_size,
            "max_per_org": programme.rules.max_per_org,
            "weights": {g: getattr(programme.rules.weights, g) for g in GOALS},
        },
        "circles": [
            {
                "id": c.id,
                "locked": c.locked,
                "slot": c.slot,
                "score": c.score,
                "reasons": list(c.reasons),
                "violations": list(c.violations),
                "members": [who(m) for m in c.members],
            }
            for c in programme.staged
        ],
        "unplaced": [{**who(u.participant), "reason": u.reason} for u in programme.unplaced],
    }
