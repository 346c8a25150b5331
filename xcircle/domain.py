"""The words of peer mentoring circles, as record schemas the merge rules rely on.

Each entity is either *mutable* (last writer wins per field) or *append-only* (an
add-only set keyed by op id). `validate_fields` is the "schema" stage every op passes,
local or pulled; values that fail it never reach the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from xcircle.errors import InvalidOp

FREQUENCIES: Final = ("weekly", "biweekly", "monthly")
MODES: Final = ("in-person", "online", "hybrid")
SENIORITIES: Final = ("junior", "mid", "senior")
# Conveners add and remove members, change roles and amend agreements; anyone may leave.
ROLES: Final = ("convener", "member")
CONVENER: Final = "convener"
GOAL_STATUSES: Final = ("active", "done", "dropped")
COMMITMENT_STATUSES: Final = ("open", "kept", "renegotiated", "dropped")
MEETING_STATUSES: Final = ("planned", "running", "closed", "cancelled")
HELD_STATUSES: Final = ("running", "closed")  # a meeting once started counts as held
FEEDBACK_KINDS: Final = ("question", "challenge", "support", "advice")
PULSE_ASPECTS: Final = ("support", "confidence", "learning")

# The phases of one turn in the hot seat, in order, with default timeboxes (seconds).
PHASES: Final = ("present", "questions", "feedback", "reflect", "commit")
PHASE_TITLES: Final = {
    "present": "Presenter shares a challenge",
    "questions": "Clarifying questions",
    "feedback": "Feedback from each peer",
    "reflect": "Presenter reflects",
    "commit": "Commitment",
}
DEFAULT_TIMEBOXES: Final = {
    "present": 300,
    "questions": 300,
    "feedback": 120,  # per peer
    "reflect": 120,
    "commit": 60,
}

# The agenda of a meeting when it is run; the kick-off adds the agreements step.
AGENDA: Final = ("checkin", "review", "round", "commitments", "pulse")
KICKOFF_AGENDA: Final = ("checkin", "agreements", "round", "commitments", "pulse")

DEFAULT_AGREEMENTS: Final = (
    (
        "Confidentiality",
        "What is said in the circle stays in the circle. We share lessons, never stories.",
    ),
    ("Commitment", "We come to every meeting, on time and prepared, or tell the circle early."),
    (
        "Balancing roles",
        "Everyone is both mentor and mentee: we give and receive in equal measure.",
    ),
    (
        "Being vulnerable",
        "We bring real challenges, not polished successes, and meet others' with care.",
    ),
    ("Candour with care", "We ask before we advise, and we challenge the idea, not the person."),
)

Validator = Callable[[Any], bool]


def text(max_len: int = 2000, *, required: bool = False) -> Validator:
    if required:
        return lambda v: type(v) is str and len(v) <= max_len and not v.isspace() and v != ""
    return lambda v: type(v) is str and len(v) <= max_len


def one_of(values: tuple[str, ...]) -> Validator:
    return lambda v: v in values


def integer(lo: int, hi: int) -> Validator:
    return lambda v: type(v) is int and lo <= v <= hi  # `type is`: True is not a number


def optional(inner: Validator) -> Validator:
    return lambda v: v is None or inner(v)


def boolean(v: Any) -> bool:
    return isinstance(v, bool)


def text_list(max_items: int = 50, max_len: int = 500) -> Validator:
    return lambda v: (
        isinstance(v, list)
        and len(v) <= max_items
        and all(isinstance(x, str) and len(x) <= max_len for x in v)
    )


_KEY = re.compile(r"^[0-9a-f]{32}$")


def ref(v: Any) -> bool:
    """A reference to another record of the circle (a 128-bit hex id)."""
    return type(v) is str and _KEY.match(v) is not None


def public_key(v: Any) -> bool:
    """A raw 32-byte public key in standard base64 (a device record's keys)."""
    return type(v) is str and len(v) == 44 and _B64_KEY.match(v) is not None


_B64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")


def ref_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= 64 and all(ref(x) for x in v)


def iso_datetime(v: Any) -> bool:
    """An ISO 8601 date-time with its UTC offset (a meeting's time keeps its zone)."""
    if not isinstance(v, str):
        return False
    try:
        return datetime.fromisoformat(v).tzinfo is not None
    except ValueError:
        return False


def iso_date(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def timeboxes(v: Any) -> bool:
    return isinstance(v, dict) and all(k in PHASES and integer(10, 7200)(s) for k, s in v.items())


@dataclass(frozen=True)
class Entity:
    """How records of one kind merge, and what their fields may hold."""

    name: str
    append_only: bool
    fields: Mapping[str, Validator]
    private: bool = False  # never leaves the device (reflections)


ENTITIES: Final[dict[str, Entity]] = {
    e.name: e
    for e in (
        Entity(
            "circle",
            False,
            {
                "name": text(120, required=True),
                "purpose": text(2000),
                "outcomes": text_list(),
                "frequency": one_of(FREQUENCIES),
                "duration": integer(15, 480),
                "mode": one_of(MODES),
                "archived": boolean,
                "created": iso_datetime,
            },
        ),
        Entity(
            "agreement",
            False,
            {"title": text(120, required=True), "text": text(1000), "position": integer(0, 999)},
        ),
        Entity(
            "member",
            False,
            {
                "name": text(120, required=True),
                "org": text(120, required=True),
                "seniority": optional(one_of(SENIORITIES)),
                "topics": text_list(20, 80),
                "joined": iso_datetime,
                "role": one_of(ROLES),
            },
        ),
        # A device that speaks for a member: its public keys (key = the device's key id,
        # `xcircle.crypto` derives it from the keys). Receivers check every op's signer
        # against these records (sync.e2e).
        Entity(
            "device",
            False,
            {
                "member": ref,
                "node": text(64, required=True),  # the ops' `author` this device stamps
                "x25519": public_key,
                "ed25519": public_key,
                "name": text(100),
            },
        ),
        Entity(
            "meeting",
            False,
            {
                "at": iso_datetime,
                "tz": text(64),
                "duration": integer(15, 480),
                "themes": text_list(20, 200),
                "facilitator": optional(ref),
                "status": one_of(MEETING_STATUSES),
                "notes": text(20000),
                "kickoff": boolean,
                "step": integer(0, 10),
            },
        ),
        Entity("attendance", False, {"meeting": ref, "member": ref, "present": boolean}),
        Entity("ack", True, {"member": ref, "meeting": optional(ref), "at": iso_datetime}),
        Entity(
            "goal",
            False,
            {
                "title": text(200, required=True),
                "why": text(2000),
                "measure": text(1000),
                "due": optional(iso_date),
                "status": one_of(GOAL_STATUSES),
                "owner": optional(ref),
                "created": iso_datetime,
            },
        ),
        Entity(
            "checkin",
            True,
            {
                "goal": ref,
                "member": optional(ref),
                "progress": integer(0, 100),
                "confidence": optional(integer(1, 5)),
                "note": text(4000),
                "at": iso_datetime,
            },
        ),
        Entity(
            "commitment",
            False,
            {
                "owner": ref,
                "text": text(1000, required=True),
                "due": optional(iso_date),
                "status": one_of(COMMITMENT_STATUSES),
                "meeting": optional(ref),
                "reviewed_in": optional(ref),
                "note": text(1000),
                "created": iso_datetime,
            },
        ),
        Entity(
            "pulse",
            True,
            {
                "meeting": ref,
                "member": ref,
                "support": integer(1, 5),
                "confidence": integer(1, 5),
                "learning": integer(1, 5),
            },
        ),
        Entity(
            "round",
            False,
            {
                "order": ref_list,
                "order_reason": text(500),
                "turn": integer(0, 64),
                "phase": one_of(PHASES),
                "peer": integer(0, 64),
                "elapsed": integer(0, 86_400),
                "started_at": optional(integer(0, 10**14)),
                "paused": boolean,
                "timeboxes": timeboxes,
                "done": boolean,
            },
        ),
        Entity(
            "turn",
            False,
            {
                "meeting": ref,
                "presenter": ref,
                "challenge": text(2000),
                "reflection": text(4000),
            },
        ),
        Entity(
            "feedback",
            True,
            {
                "meeting": ref,
                "presenter": ref,
                "giver": ref,
                "kind": one_of(FEEDBACK_KINDS),
                "text": text(4000, required=True),
                "at": iso_datetime,
            },
        ),
        Entity(
            "reflection",
            True,
            {"text": text(20000, required=True), "meeting": optional(ref), "at": iso_datetime},
            private=True,
        ),
    )
}

SYNCED_ENTITIES: Final = tuple(name for name, e in ENTITIES.items() if not e.private)


def validate_fields(entity: str, fields: Mapping[str, Any]) -> Entity:
    """Check `fields` against the entity's schema; raise InvalidOp naming the first fault."""
    spec = ENTITIES.get(entity)
    if spec is None:
        raise InvalidOp(f"unknown entity {entity!r}")
    if not fields:
        raise InvalidOp(f"{entity} op sets no fields")
    checks = spec.fields
    for name, value in fields.items():
        check = checks.get(name)
        if check is None:
            if name == "_deleted" and value is True and len(fields) == 1:
                return spec  # a delete
            raise InvalidOp(f"{entity} has no field {name!r}")
        if not check(value):
            raise InvalidOp(f"{entity}.{name} has an invalid value")
    return spec
