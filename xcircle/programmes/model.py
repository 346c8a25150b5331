"""A programme as plain, frozen data: participants, rules, staged circles.

Everything here is serialisable to JSON (`to_json`/`from_json`) for the programme's own
file (`xcircle.programmes.store`); no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

MIN_SIZE = 4
MAX_SIZE = 8


@dataclass(frozen=True)
class Participant:
    """One person of the pool. `id` is stable across re-imports (derived from the email)."""

    id: str
    name: str
    organization: str
    seniority: str
    function: str
    topics: tuple[str, ...]
    tz: str
    email: str


@dataclass(frozen=True)
class Weights:
    """How much each soft goal counts in a circle's score (relative; any scale)."""

    seniority: float = 1.0
    organization: float = 1.0
    function: float = 1.0
    topic: float = 1.0


@dataclass(frozen=True)
class Rules:
    """Hard rules (sizes, per-organization cap) and the soft goals' weights."""

    size: int = 6
    min_size: int = MIN_SIZE
    max_size: int = MAX_SIZE
    max_per_org: int = 2
    weights: Weights = field(default_factory=Weights)


@dataclass(frozen=True)
class StagedCircle:
    """A circle formed but not yet published. `violations` lists the hard rules a manual
    move broke (forming itself never breaks one)."""

    id: str
    members: tuple[str, ...]
    locked: bool = False
    slot: str | None = None
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unplaced:
    """A participant forming could not place, and why (one sentence)."""

    participant: str
    reason: str


@dataclass(frozen=True)
class Programme:
    """The coordinator's programme: the pool, its relations, the rules and the staging."""

    id: str
    name: str
    organizations: tuple[str, ...] = ()
    participants: dict[str, Participant] = field(default_factory=dict)
    not_with: frozenset[frozenset[str]] = frozenset()
    manages: frozenset[tuple[str, str]] = frozenset()  # (manager id, report id)
    rules: Rules = field(default_factory=Rules)
    staged: tuple[StagedCircle, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
    # staged circle id -> {"circle": circle id, "invites": {participant id: code}}
    published: dict[str, dict[str, Any]] = field(default_factory=dict)

    def circle(self, staged_id: str) -> StagedCircle | None:
        return next((c for c in self.staged if c.id == staged_id), None)

    def with_(self, **changes: Any) -> Programme:
        return replace(self, **changes)


# -- JSON ----------------------------------------------------------------------------------


def to_json(p: Programme) -> dict[str, Any]:
    """The programme as one JSON object (sorted where order carries no meaning)."""
    w = p.rules.weights
    return {
        "version": 1,
        "id": p.id,
        "name": p.name,
        "organizations": list(p.organizations),
        "participants": [
            {
                "id": x.id,
                "name": x.name,
                "organization": x.organization,
                "seniority": x.seniority,
                "function": x.function,
                "topics": list(x.topics),
                "tz": x.tz,
                "email": x.email,
            }
            for x in p.participants.values()
        ],
        "not_with": sorted(sorted(pair) for pair in p.not_with),
        "manages": sorted([m, r] for m, r in p.manages),
        "rules": {
            "size": p.rules.size,
            "min_size": p.rules.min_size,
            "max_size": p.rules.max_size,
            "max_per_org": p.rules.max_per_org,
            "weights": {
                "seniority": w.seniority,
                "organization": w.organization,
                "function": w.function,
                "topic": w.topic,
            },
        },
        "staged": [
            {
                "id": c.id,
                "members": list(c.members),
                "locked": c.locked,
                "slot": c.slot,
                "score": c.score,
                "reasons": list(c.reasons),
                "violations": list(c.violations),
            }
            for c in p.staged
        ],
        "unplaced": [{"participant": u.participant, "reason": u.reason} for u in p.unplaced],
        "published": p.published,
    }


def from_json(d: dict[str, Any]) -> Programme:
    """The inverse of `to_json`; a KeyError/TypeError/ValueError means a damaged file."""
    r = d["rules"]
    participants = {
        x["id"]: Participant(
            id=str(x["id"]),
            name=str(x["name"]),
            organization=str(x["organization"]),
            seniority=str(x["seniority"]),
            function=str(x["function"]),
            topics=tuple(str(t) for t in x["topics"]),
            tz=str(x["tz"]),
            email=str(x["email"]),
        )
        for x in d["participants"]
    }
    return Programme(
        id=str(d["id"]),
        name=str(d["name"]),
        organizations=tuple(str(o) for o in d["organizations"]),
        participants=participants,
        not_with=frozenset(frozenset(str(a) for a in pair) for pair in d["not_with"]),
        manages=frozenset((str(m), str(rep)) for m, rep in d["manages"]),
        rules=Rules(
            size=int(r["size"]),
            min_size=int(r["min_size"]),
            max_size=int(r["max_size"]),
            max_per_org=int(r["max_per_org"]),
            weights=Weights(**{k: float(v) for k, v in r["weights"].items()}),
        ),
        staged=tuple(
            StagedCircle(
                id=str(c["id"]),
                members=tuple(str(m) for m in c["members"]),
                locked=bool(c["locked"]),
                slot=c["slot"],
                score=float(c["score"]),
                reasons=tuple(c["reasons"]),
                violations=tuple(c.get("violations", ())),
            )
            for c in d["staged"]
        ),
        unplaced=tuple(Unplaced(str(u["participant"]), str(u["reason"])) for u in d["unplaced"]),
        published=dict(d["published"]),
    )
