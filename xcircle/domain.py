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
from xcircle.safetext import is_safe, problem

FREQUENCIES: Final = ("weekly", "biweekly", "monthly")
CADENCE_DAYS: Final = {"weekly": 7, "biweekly": 14}  # monthly: the same day next month
MODES: Final = ("in-person", "online", "hybrid")
SENIORITIES: Final = ("junior", "mid", "senior")
# Conveners add and remove members, change roles and amend agreements; anyone may leave.
ROLES: Final = ("convener", "member")
CONVENER: Final = "convener"
GOAL_STATUSES: Final = ("active", "done", "dropped")
COMMITMENT_STATUSES: Final = ("open", "kept", "renegotiated", "dropped")
MEETING_STATUSES: Final = ("planned", "running", "closed", "cancelled")
HELD_STATUSES: Final = ("running", "closed")  # a meeting once started counts as held
# The classic four, then the kinds other protocols ask for (xcircle.protocols): lived
# experience in "I" statements (peer forum), ideas and observations (troika, methods).
CLASSIC_KINDS: Final = ("question", "challenge", "support", "advice")
FEEDBACK_KINDS: Final = (*CLASSIC_KINDS, "experience", "idea", "observation")
URGENCIES: Final = ("A", "B", "C")  # an issue card's: A now, B soon, C some day
CARD_STATUSES: Final = ("open", "withdrawn", "presented")
CHECK_ROUNDS: Final = ("in", "out")  # the optional opening and closing rounds
PULSE_ASPECTS: Final = ("support", "confidence", "learning")
CASE_STATUSES: Final = ("open", "closed")
PLUSDELTA_KINDS: Final = ("plus", "delta")

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

# A circle allows feedback text in its meetings' minutes only when one of its agreements
# has this title (case aside): the default agreements keep what is said in the circle.
MINUTES_FEEDBACK_AGREEMENT: Final = "Feedback in minutes"

Validator = Callable[[Any], bool]


def text(max_len: int = 2000, *, required: bool = False, multiline: bool = False) -> Validator:
    """A string of at most `max_len` characters that cannot drive a terminal: no control
    characters (newline and tab only if `multiline`) and no bidi overrides."""

    def check(v: Any) -> bool:
        return (
            type(v) is str
            and len(v) <= max_len
            and not (required and (v == "" or v.isspace()))
            and is_safe(v, multiline=multiline)
        )

    return check


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
        and all(isinstance(x, str) and len(x) <= max_len and is_safe(x) for x in v)
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


_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def slug(v: Any) -> bool:
    """A protocol's or a phase's name: lower-case letters, digits and dashes."""
    return type(v) is str and _SLUG.match(v) is not None


def timeboxes(v: Any) -> bool:
    """Seconds per phase; any protocol's phase names (xcircle.protocols)."""
    return (
        isinstance(v, dict)
        and len(v) <= 16
        and all(slug(k) and integer(10, 7200)(s) for k, s in v.items())
    )


def seconds_by_member(v: Any) -> bool:
    """Airtime kept on a round: member id -> seconds."""
    return (
        isinstance(v, dict)
        and len(v) <= 64
        and all(ref(k) and integer(0, 86_400)(s) for k, s in v.items())
    )


# What a programme's circle may report to its coordinator (aggregates only, never content;
# xcircle.services.programme_reports computes them).
METRICS: Final = ("meetings", "attendance", "commitments", "pulse")
# Circle fields only a convener may change (the receivers check it, sync.e2e).
PROGRAMME_FIELDS: Final = frozenset(
    ("programme", "coordinator", "coordinator_key", "coordinator_fp", "reports")
)


def metric_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) == len(set(v)) and all(m in METRICS for m in v)


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
                "purpose": text(2000, multiline=True),
                "outcomes": text_list(),
                "frequency": one_of(FREQUENCIES),
                "duration": integer(15, 480),
                "mode": one_of(MODES),
                "archived": boolean,
                "created": iso_datetime,
                "checkin_round": boolean,  # open meetings with a check-in round
                "checkout_round": boolean,  # close them with a check-out round
                # A programme's circle (set at publishing): the programme, its
                # coordinator (member id and device keys: reports are sealed to that
                # X25519 key) and the aggregates the circle agreed to report.
                "programme": text(64),
                "coordinator": optional(ref),
                "coordinator_key": public_key,
                "coordinator_fp": text(32),
                "reports": metric_list,
            },
        ),
        Entity(
            "agreement",
            False,
            {
                "title": text(120, required=True),
                "text": text(1000, multiline=True),
                "position": integer(0, 999),
            },
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
        # An open invite of an encrypted circle (key = the invite id): the key its joiner's
        # bundle is sealed with, for `member`, so any convener's device can confirm the
        # join. Only ever sealed (never in a plain circle); deleted once confirmed.
        Entity(
            "invite",
            False,
            {
                "member": ref,
                "join_key": public_key,
                "by": ref,
                "expires": iso_datetime,
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
                "notes": text(20000, multiline=True),
                "kickoff": boolean,
                "step": integer(0, 10),
                "protocol": optional(slug),  # the round's protocol (None: the default)
            },
        ),
        Entity("attendance", False, {"meeting": ref, "member": ref, "present": boolean}),
        Entity("ack", True, {"member": ref, "meeting": optional(ref), "at": iso_datetime}),
        Entity(
            "goal",
            False,
            {
                "title": text(200, required=True),
                "why": text(2000, multiline=True),
                "measure": text(1000, multiline=True),
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
                "note": text(4000, multiline=True),
                "at": iso_datetime,
            },
        ),
        Entity(
            "commitment",
            False,
            {
                "owner": ref,
                "text": text(1000, required=True, multiline=True),
                "due": optional(iso_date),
                "status": one_of(COMMITMENT_STATUSES),
                "meeting": optional(ref),
                "reviewed_in": optional(ref),
                "note": text(1000, multiline=True),
                "created": iso_datetime,
                "replaces": optional(ref),  # the commitment it renegotiates
                "case": optional(ref),  # the written round (case) it closes
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
                "phase": slug,
                "peer": integer(0, 64),
                "protocol": slug,
                "method": text(40),  # the method phase's chosen method, if any
                "presented": seconds_by_member,  # airtime: seconds in the hot seat
                "gave": seconds_by_member,  # airtime: seconds giving feedback in turn
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
                "challenge": text(2000, multiline=True),
                "reflection": text(4000, multiline=True),
                "card": optional(ref),  # the issue card the presenter brought
            },
        ),
        # A circle's own round protocol, keyed by its name; its TOML text is parsed on
        # reading (xcircle.protocols.parse_toml), a template that does not parse is left out.
        Entity(
            "protocol",
            False,
            {
                "name": slug,
                "toml": text(20000, required=True, multiline=True),
                "added": iso_datetime,
            },
        ),
        # What a member prepares to bring to a round (urgency A now, B soon, C some day).
        Entity(
            "card",
            False,
            {
                "member": ref,
                "situation": text(2000, required=True, multiline=True),
                "question": text(500, required=True, multiline=True),
                "want": text(1000, multiline=True),
                "not_want": text(1000, multiline=True),
                "urgency": one_of(URGENCIES),
                "status": one_of(CARD_STATUSES),
                "meeting": optional(ref),  # where it was presented
                "created": iso_datetime,
            },
        ),
        # Open agenda: a topic a member proposes for a meeting (one each, keyed
        # meeting:member), and a member's votes (dot voting: the proposers whose topics
        # they pick, keyed meeting:voter, so voting again replaces the votes).
        Entity(
            "topic",
            False,
            {"meeting": ref, "member": ref, "title": text(200, required=True), "at": iso_datetime},
        ),
        Entity("vote", False, {"meeting": ref, "member": ref, "topics": ref_list}),
        # One member's words in a check-in ("in": 1-10 and a sentence) or check-out ("out":
        # a word and a take-away) round; keyed meeting:kind:member, so saying it again
        # replaces it. The rounds' own timers are "round" records keyed meeting:kind.
        Entity(
            "checkround",
            False,
            {
                "meeting": ref,
                "member": ref,
                "kind": one_of(CHECK_ROUNDS),
                "score": optional(integer(1, 10)),
                "sentence": text(500),
                "word": text(40),
                "takeaway": text(500),
                "at": iso_datetime,
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
                "text": text(4000, required=True, multiline=True),
                "at": iso_datetime,
            },
        ),
        Entity(
            "reflection",
            True,
            {
                "text": text(20000, required=True, multiline=True),
                "meeting": optional(ref),
                "at": iso_datetime,
            },
            private=True,
        ),
        # Work between meetings: a written round. The presenter opens a case, peers
        # answer offline (`case_reply`, of a kind the case's protocol allows), the
        # presenter closes it with a reflection and a commitment the next meeting reviews.
        Entity(
            "case",
            False,
            {
                "presenter": ref,
                "title": text(200, required=True),
                "text": text(4000, multiline=True),
                "protocol": text(64),
                "status": one_of(CASE_STATUSES),
                "opened": iso_datetime,
                "closed": optional(iso_datetime),
                "reflection": text(4000, multiline=True),
                "commitment": optional(ref),
            },
        ),
        Entity(
            "case_reply",
            True,
            {
                "case": ref,
                "giver": ref,
                "kind": one_of(FEEDBACK_KINDS),
                "text": text(4000, required=True, multiline=True),
                "at": iso_datetime,
            },
        ),
        # Plus/delta on the process at the end of a meeting: what worked, what to change.
        Entity(
            "plusdelta",
            True,
            {
                "meeting": ref,
                "member": optional(ref),
                "kind": one_of(PLUSDELTA_KINDS),
                "text": text(1000, required=True, multiline=True),
                "at": iso_datetime,
            },
        ),
        # Agreements that evolve: a convener proposes an amendment; the members asked
        # (`voters`, fixed at the proposal) consent or object; all consenting and nobody
        # objecting makes it the agreement's next version (derived, never written over).
        Entity(
            "amendment",
            False,
            {
                "agreement": ref,
                "title": text(120, required=True),
                "text": text(1000, multiline=True),
                "reason": text(1000, multiline=True),
                "proposer": ref,
                "voters": ref_list,
                "proposed": iso_datetime,
            },
        ),
        Entity(
            "consent",
            True,
            {
                "amendment": ref,
                "member": ref,
                "consent": boolean,
                "note": text(500, multiline=True),
                "at": iso_datetime,
            },
        ),
    )
}

# What a screen may rely on. Ops merge per field, so a schema-valid record can lack any
# field (a peer's op set only some, or its creating op is not here yet). Reads fill the
# missing ones from DEFAULTS; a record lacking one of its REQUIRED fields means nothing
# (feedback for no meeting) and is left out of what services return.
_EPOCH: Final = "1970-01-01T00:00:00+00:00"
DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "circle": {"name": "(unnamed circle)", "purpose": "", "outcomes": [],
               "frequency": "monthly", "duration": 90, "mode": "online", "archived": False,
               "created": _EPOCH},
    "agreement": {"title": "(untitled)", "text": "", "position": 999},
    "member": {"name": "(unnamed)", "org": "", "seniority": None, "topics": [],
               "joined": _EPOCH},
    "meeting": {"at": _EPOCH, "tz": "", "duration": 90, "themes": [], "facilitator": None,
                "status": "planned", "notes": "", "kickoff": False, "step": 0},
    "attendance": {"present": False},
    "ack": {"meeting": None, "at": _EPOCH},
    "goal": {"title": "(untitled)", "why": "", "measure": "", "due": None,
             "status": "active", "owner": None, "created": _EPOCH},
    "checkin": {"member": None, "progress": 0, "confidence": None, "note": "", "at": _EPOCH},
    "commitment": {"text": "(no text)", "due": None, "status": "open", "meeting": None,
                   "reviewed_in": None, "note": "", "created": _EPOCH},
    "pulse": {},
    "round": {"order_reason": "", "turn": 0, "phase": PHASES[0], "peer": 0, "elapsed": 0,
              "started_at": None, "paused": False, "timeboxes": {}, "done": False},
    "turn": {"challenge": "", "reflection": ""},
    "protocol": {"added": _EPOCH},
    "card": {"want": "", "not_want": "", "urgency": "C", "status": "open", "meeting": None,
             "created": _EPOCH},
    "topic": {"at": _EPOCH},
    "vote": {},
    "checkround": {"score": None, "sentence": "", "word": "", "takeaway": "", "at": _EPOCH},
    "feedback": {"at": _EPOCH},
    "reflection": {"meeting": None, "at": _EPOCH},
    "case": {"title": "(untitled)", "text": "", "protocol": "", "status": "open",
             "opened": _EPOCH, "closed": None, "reflection": "", "commitment": None},
    "case_reply": {"at": _EPOCH},
    "plusdelta": {"member": None, "at": _EPOCH},
    "amendment": {"title": "(untitled)", "text": "", "reason": "", "proposer": None,
                  "voters": [], "proposed": _EPOCH},
    "consent": {"note": "", "at": _EPOCH},
}  # fmt: skip
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "attendance": ("meeting", "member"),
    "ack": ("member",),
    "checkin": ("goal",),
    "commitment": ("owner",),
    "pulse": ("meeting", "member", *PULSE_ASPECTS),
    "round": ("order",),
    "turn": ("meeting", "presenter"),
    "feedback": ("meeting", "presenter", "giver", "kind", "text"),
    "reflection": ("text",),
    "case": ("presenter",),
    "case_reply": ("case", "giver", "kind", "text"),
    "plusdelta": ("meeting", "kind", "text"),
    "amendment": ("agreement",),
    "consent": ("amendment", "member", "consent"),
    "protocol": ("name", "toml"),
    "card": ("member", "situation", "question"),
    "checkround": ("meeting", "member", "kind"),
    "topic": ("meeting", "member", "title"),
    "vote": ("meeting", "member", "topics"),
}


def complete(entity: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """`record` with every field its entity defines (defaults for the missing ones), or
    None when it lacks a field it cannot mean anything without. A whole record (the usual
    case) is returned as it is: no copy on the screens' hot paths."""
    if any(name not in record for name in REQUIRED.get(entity, ())):
        return None
    defaults = DEFAULTS.get(entity, {})
    if defaults.keys() <= record.keys():
        return record
    filled = {k: v.copy() if isinstance(v, list | dict) else v for k, v in defaults.items()}
    return {**filled, **record}


SYNCED_ENTITIES: Final = tuple(name for name, e in ENTITIES.items() if not e.private)


def _unsafe_in(value: Any) -> str | None:
    """The terminal-driving character a text (or list of texts) holds, if any."""
    texts = value if isinstance(value, list) else [value]
    for t in texts:
        if isinstance(t, str) and (found := problem(t, multiline=True)):
            return found
    return None


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
            unsafe = _unsafe_in(value)
            if unsafe:
                raise InvalidOp(f"{entity}.{name} holds {unsafe}")
            raise InvalidOp(f"{entity}.{name} has an invalid value")
    return spec
