"""Round protocols: the scripts a circle runs a turn in the hot seat by.

A protocol is a sequence of phases; each phase has a timebox, says who speaks (the
presenter, the peers together, each peer in turn, or everyone) and whether the
presenter stays silent, which feedback kinds it accepts, and one line the facilitator
reads out. The built-ins live here; a circle adds its own as TOML text
(`parse_toml`), validated with errors that name the line and the field. Pure domain:
no I/O beyond parsing text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from xcircle.domain import CLASSIC_KINDS, FEEDBACK_KINDS
from xcircle.errors import InvalidInput
from xcircle.safetext import is_safe

# Who has the floor in a phase.
SPEAKERS: Final = ("presenter", "peers", "each-peer", "everyone")
SPEAKER_WORDS: Final = {
    "presenter": "the presenter",
    "peers": "the peers, together",
    "each-peer": "each peer in turn",
    "everyone": "everyone",
}
MIN_TIMEBOX: Final = 10
MAX_TIMEBOX: Final = 7200
MAX_PHASES: Final = 12
MAX_SOURCE: Final = 20_000  # characters of a custom template's TOML
DEFAULT: Final = "classic"  # the fixed script every meeting ran before protocols
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class TemplateError(InvalidInput):
    """A custom template that does not hold: `line` (1-based, 0 when unknown) and
    `field` (`phase[2].kinds`) name where."""

    def __init__(self, message: str, *, field: str = "", line: int = 0) -> None:
        where = f"line {line}: " if line else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}", field=field)
        self.line = line


@dataclass(frozen=True)
class Phase:
    """One phase of a turn."""

    id: str
    title: str
    prompt: str  # what the facilitator says to open it
    timebox: int  # seconds (per peer when `speakers` is "each-peer")
    speakers: str  # one of SPEAKERS
    presenter_silent: bool  # the presenter listens without answering
    kinds: tuple[str, ...] = ()  # feedback kinds this phase accepts
    methods: tuple[str, ...] = ()  # a method the circle chooses (Kollegiale Beratung)

    @property
    def per_peer(self) -> bool:
        return self.speakers == "each-peer"

    def who(self) -> str:
        """Who speaks, in a facilitator's words."""
        words = SPEAKER_WORDS[self.speakers]
        if self.speakers != "presenter" and self.presenter_silent:
            return f"{words}; the presenter listens in silence"
        return words

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "prompt": self.prompt,
            "timebox": self.timebox,
            "speakers": self.speakers,
            "presenter_silent": self.presenter_silent,
            "kinds": list(self.kinds),
            "methods": list(self.methods),
        }


@dataclass(frozen=True)
class Protocol:
    """A round protocol: its phases in order, the roles it names, and where it comes
    from ("built-in", or "circle" for a circle's own template)."""

    name: str
    title: str
    purpose: str
    phases: tuple[Phase, ...]
    roles: tuple[str, ...] = ()
    agenda: bool = False  # open agenda: topics proposed and voted, one turn per topic
    # Strict: during a turn, feedback only of the current phase's kinds. The classic
    # round is not (as before protocols, a scribe records any of its kinds at any time).
    strict: bool = True
    source: str = "built-in"
    toml: str = field(default="", repr=False, compare=False)

    def phase(self, phase_id: str) -> Phase:
        """The phase named `phase_id` (the first one for a name it does not know, so a
        round written under another version of a template still reads)."""
        for p in self.phases:
            if p.id == phase_id:
                return p
        return self.phases[0]

    def index(self, phase_id: str) -> int:
        return next((i for i, p in enumerate(self.phases) if p.id == phase_id), 0)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind some phase accepts, in FEEDBACK_KINDS order."""
        used = {k for p in self.phases for k in p.kinds}
        return tuple(k for k in FEEDBACK_KINDS if k in used)

    def accepts(self, phase_id: str, kind: str) -> bool:
        return kind in self.phase(phase_id).kinds

    @property
    def timeboxes(self) -> dict[str, int]:
        return {p.id: p.timebox for p in self.phases}

    def turn_seconds(self, peers: int) -> int:
        """How long one turn takes with `peers` peers at the default timeboxes."""
        return sum(p.timebox * (peers if p.per_peer else 1) for p in self.phases)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "purpose": self.purpose,
            "roles": list(self.roles),
            "agenda": self.agenda,
            "strict": self.strict,
            "source": self.source,
            "phases": [p.as_dict() for p in self.phases],
        }


def _p(
    id: str,
    title: str,
    prompt: str,
    minutes: float,
    speakers: str,
    *,
    silent: bool = False,
    kinds: Iterable[str] = (),
    methods: Iterable[str] = (),
) -> Phase:
    return Phase(
        id, title, prompt, int(minutes * 60), speakers, silent, tuple(kinds), tuple(methods)
    )


BUILT_INS: Final[tuple[Protocol, ...]] = (
    Protocol(
        DEFAULT,
        "Classic round",
        "The circle's default: a challenge, clarifying questions, feedback from each peer, "
        "then the presenter reflects and commits.",
        (
            _p("present", "Presenter shares a challenge",
               "Tell us the challenge in your own words; we listen.", 5, "presenter"),
            _p("questions", "Clarifying questions",
               "Ask what you need to understand, not what you would do.", 5, "peers",
               kinds=("question",)),
            _p("feedback", "Feedback from each peer",
               "One at a time: a question, a challenge, support or advice.", 2, "each-peer",
               silent=True, kinds=CLASSIC_KINDS),
            _p("reflect", "Presenter reflects",
               "What do you take from what you heard?", 2, "presenter"),
            _p("commit", "Commitment",
               "What will you do before we meet again, and by when?", 1, "presenter"),
        ),
        strict=False,
    ),
    Protocol(
        "critical-incident",
        "Critical incident",
        "A leadership challenge: peers coach with questions, then advocate with challenge "
        "and support; the presenter reflects and commits.",
        (
            _p("incident", "The incident",
               "Walk us through the moment: what happened, what you did, what is at stake.",
               5, "presenter"),
            _p("coaching", "Coaching",
               "Only open questions that help the presenter think; no advice yet.", 8,
               "peers", kinds=("question",)),
            _p("advocacy", "Advocacy",
               "Each peer in turn: challenge what you doubt, support what you believe.", 2,
               "each-peer", silent=True, kinds=("challenge", "support")),
            _p("reflect", "Reflection", "What shifted for you?", 3, "presenter"),
            _p("commit", "Commitment", "What will you do, and by when?", 2, "presenter"),
        ),
    ),
    Protocol(
        "peer-forum",
        "Peer forum",
        "Experience sharing only: peers speak of what they lived, in \"I\" statements, and "
        "give no advice.",
        (
            _p("share", "The presenter shares", "Tell us where you stand; we listen.", 5,
               "presenter"),
            _p("experience", "Experience sharing",
               "Each in turn: \"When I …, I …\". Your own experience, no advice.", 3,
               "each-peer", silent=True, kinds=("experience",)),
            _p("reflect", "Presenter reflects", "What resonated?", 3, "presenter"),
        ),
    ),
    Protocol(
        "action-learning",
        "Action learning",
        "Questions only: peers ask, the presenter answers, then reflects on what they now "
        "see and what they will do.",
        (
            _p("problem", "The problem", "State the problem in a few sentences.", 3,
               "presenter"),
            _p("questions", "Questions only",
               "Only questions; the presenter answers each one. No statements, no advice.",
               20, "peers", kinds=("question",)),
            _p("reflect", "Reflection and action",
               "What do you now see differently, and what is your next action?", 5,
               "presenter"),
        ),
    ),
    Protocol(
        "troika",
        "Troika consulting",
        "Three peers: the presenter asks for help, then turns away while two or three "
        "peers discuss it as if they were not there.",
        (
            _p("ask", "The presenter asks", "Share your challenge and what help you want.", 2,
               "presenter"),
            _p("clarify", "Clarifying questions", "Ask only what you need to understand.", 2,
               "peers", kinds=("question",)),
            _p("consult", "Consultants discuss",
               "Presenter, turn your back. Consultants: talk about it among yourselves: "
               "ideas, observations, advice.",
               5, "peers", silent=True, kinds=("idea", "observation", "advice")),
            _p("reflect", "Presenter turns back", "What was useful to hear?", 2,
               "presenter"),
        ),
    ),
    Protocol(
        "kollegiale-beratung",
        "Kollegiale Beratung",
        "Collegial case consultation: a case giver, a moderator, a secretary who takes "
        "notes, and consultants who work through a method the circle chooses.",
        (
            _p("case", "The case",
               "Case giver: tell the case. Moderator keeps time, secretary takes notes.", 5,
               "presenter"),
            _p("key-question", "The key question",
               "Case giver: what is your key question for the consultants?", 2, "presenter"),
            _p("clarify", "Clarifying questions",
               "Consultants: questions of understanding only.", 5, "peers",
               kinds=("question",)),
            _p("method", "Method",
               "Consultants work the chosen method; the case giver listens in silence.",
               10, "peers", silent=True, kinds=("idea", "observation", "advice"),
               methods=("brainstorm", "headline", "hypotheses", "good advice")),
            _p("response", "Case giver responds",
               "Case giver: what helps, what will you take with you?", 5, "presenter"),
        ),
        roles=("case giver", "moderator", "secretary", "consultants"),
    ),
    Protocol(
        "open-agenda",
        "Open agenda",
        "Members propose topics at the start, the circle picks them by vote, and the "
        "meeting walks the chosen topics, each in its timebox.",
        (
            _p("topic", "Topic",
               "Whoever proposed the topic opens it: what is it, what do you hope for?", 2,
               "presenter"),
            _p("discussion", "Open discussion",
               "Everyone: experience, ideas, questions. Keep to the timebox.", 10,
               "everyone", kinds=("experience", "idea", "question", "advice")),
            _p("harvest", "Harvest", "What do we take from this topic?", 2, "presenter"),
        ),
        agenda=True,
    ),
)  # fmt: skip

_BY_NAME: Final = {p.name: p for p in BUILT_INS}


def builtin(name: str) -> Protocol | None:
    """The built-in protocol called `name`, if any."""
    return _BY_NAME.get(name)


def default() -> Protocol:
    return _BY_NAME[DEFAULT]


def find(name: str, custom: Iterable[Protocol] = ()) -> Protocol:
    """The protocol called `name` among the built-ins and a circle's own (`custom`); a
    circle's template never shadows a built-in. Raises InvalidInput naming the choices."""
    wanted = name.strip().lower()
    found = _BY_NAME.get(wanted) or next((p for p in custom if p.name == wanted), None)
    if found is None:
        names = ", ".join([*_BY_NAME, *(p.name for p in custom)])
        raise InvalidInput(f"no protocol {name!r}; choose one of {names}", field="protocol")
    return found


def is_slug(value: object) -> bool:
    """A protocol or phase name: lower-case letters, digits and dashes, at most 40."""
    return isinstance(value, str) and _SLUG.match(value) is not None


# -- custom templates -------------------------------------------------------------------

_TOP_KEYS: Final = {"name", "title", "purpose", "roles", "agenda", "strict", "phase"}
_PHASE_KEYS: Final = {
    "id", "title", "prompt", "minutes", "seconds", "speakers", "presenter_silent", "kinds",
    "methods",
}  # fmt: skip


def parse_toml(source: str) -> Protocol:
    """A circle's template from its TOML text, or TemplateError naming the line and the
    field at fault. See the README ("Your own protocol") for the format."""
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"the template is longer than {MAX_SOURCE} characters")
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 0) or _line_from(str(exc))
        raise TemplateError(f"not valid TOML ({_reason(exc)})", line=line) from None
    lines = _Lines(source)
    return _protocol(data, lines, source)


def _reason(exc: tomllib.TOMLDecodeError) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return re.sub(r"\s*\(at line \d+, column \d+\)$", "", str(msg))


def _line_from(message: str) -> int:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else 0


class _Lines:
    """Finds the line a key was written on, for messages (tomllib keeps no positions)."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.tables = [i + 1 for i, ln in enumerate(self.lines) if ln.strip() == "[[phase]]"]

    def of(self, key: str, phase: int | None = None) -> int:
        start, end = 0, len(self.lines)
        if phase is not None and phase < len(self.tables):
            start = self.tables[phase]
            end = self.tables[phase + 1] - 1 if phase + 1 < len(self.tables) else end
        elif self.tables:
            end = self.tables[0] - 1
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for i in range(start, end):
            if pattern.match(self.lines[i]):
                return i + 1
        if phase is not None and phase < len(self.tables):
            return self.tables[phase]
        return 0


def _fail(message: str, lines: _Lines, key: str, phase: int | None = None) -> TemplateError:
    name = key if phase is None else f"phase[{phase + 1}].{key}"
    return TemplateError(message, field=name, line=lines.of(key, phase))


def _text(
    data: Mapping[str, Any], key: str, lines: _Lines, max_len: int, phase: int | None = None,
    *, required: bool = True,
) -> str:  # fmt: skip
    value = data.get(key, "")
    if not isinstance(value, str):
        raise _fail("must be text", lines, key, phase)
    value = value.strip()
    if required and not value:
        raise _fail("is required", lines, key, phase)
    if len(value) > max_len or "\n" in value or not is_safe(value):
        raise _fail(f"must be one line of at most {max_len} plain characters", lines, key, phase)
    return value


def _words(data: Mapping[str, Any], key: str, lines: _Lines, phase: int | None = None) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail("must be a list of texts", lines, key, phase)
    if len(value) > 12 or not all(0 < len(v) <= 40 and is_safe(v) for v in value):
        raise _fail("holds at most 12 short texts", lines, key, phase)
    return [v.strip() for v in value]


def _protocol(data: dict[str, Any], lines: _Lines, source: str) -> Protocol:
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(f"unknown field (expected one of {', '.join(sorted(_TOP_KEYS))})",
                        lines, key)  # fmt: skip
    name = data.get("name")
    if not is_slug(name):
        raise _fail(
            'must be lower-case letters, digits and dashes (at most 40), e.g. "my-round"',
            lines,
            "name",
        )
    assert isinstance(name, str)
    if name in _BY_NAME:
        raise _fail(f"{name!r} is a built-in protocol; choose another name", lines, "name")
    title = _text(data, "title", lines, 80)
    purpose = _text(data, "purpose", lines, 300, required=False)
    roles = _words(data, "roles", lines)
    agenda, strict = data.get("agenda", False), data.get("strict", True)
    for key, flag in (("agenda", agenda), ("strict", strict)):
        if not isinstance(flag, bool):
            raise _fail("must be true or false", lines, key)
    raw_phases = data.get("phase")
    if not isinstance(raw_phases, list) or not raw_phases:
        raise TemplateError("add at least one [[phase]] table", field="phase", line=0)
    if len(raw_phases) > MAX_PHASES:
        raise TemplateError(
            f"at most {MAX_PHASES} phases", field="phase", line=lines.tables[MAX_PHASES]
        )
    phases = [_phase(raw, i, lines) for i, raw in enumerate(raw_phases)]
    seen: set[str] = set()
    for i, p in enumerate(phases):
        if p.id in seen:
            raise _fail(f"two phases are called {p.id!r}", lines, "id", i)
        seen.add(p.id)
    return Protocol(
        name,
        title,
        purpose,
        tuple(phases),
        tuple(roles),
        agenda,
        strict,
        source="circle",
        toml=source,
    )


def _phase(raw: Any, i: int, lines: _Lines) -> Phase:
    if not isinstance(raw, dict):
        raise TemplateError("must be a table", field=f"phase[{i + 1}]", line=0)
    for key in raw:
        if key not in _PHASE_KEYS:
            raise _fail(
                f"unknown field (expected one of {', '.join(sorted(_PHASE_KEYS))})", lines, key, i
            )
    pid = raw.get("id")
    if not is_slug(pid):
        raise _fail("must be lower-case letters, digits and dashes, e.g. \"questions\"",
                    lines, "id", i)  # fmt: skip
    assert isinstance(pid, str)
    title = _text(raw, "title", lines, 80, i)
    prompt = _text(raw, "prompt", lines, 200, i)
    timebox = _timebox(raw, lines, i)
    speakers = raw.get("speakers", "presenter")
    if speakers not in SPEAKERS:
        raise _fail(f"must be one of {', '.join(SPEAKERS)}", lines, "speakers", i)
    silent = raw.get("presenter_silent", False)
    if not isinstance(silent, bool):
        raise _fail("must be true or false", lines, "presenter_silent", i)
    kinds = _words(raw, "kinds", lines, i)
    for kind in kinds:
        if kind not in FEEDBACK_KINDS:
            raise _fail(
                f"{kind!r} is not a feedback kind (one of {', '.join(FEEDBACK_KINDS)})",
                lines,
                "kinds",
                i,
            )
    if speakers == "presenter" and kinds:
        raise _fail("a phase where only the presenter speaks takes no feedback", lines, "kinds", i)
    methods = _words(raw, "methods", lines, i)
    return Phase(pid, title, prompt, timebox, speakers, silent, tuple(kinds), tuple(methods))


def _timebox(raw: Mapping[str, Any], lines: _Lines, i: int) -> int:
    if "minutes" in raw and "seconds" in raw:
        raise _fail("give minutes or seconds, not both", lines, "seconds", i)
    key = "seconds" if "seconds" in raw else "minutes"
    if key not in raw:
        raise _fail("is required (the phase's timebox)", lines, "minutes", i)
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail("must be a number", lines, key, i)
    seconds = int(value * 60) if key == "minutes" else int(value)
    if not MIN_TIMEBOX <= seconds <= MAX_TIMEBOX:
        raise _fail(
            f"the timebox must be between {MIN_TIMEBOX} seconds and {MAX_TIMEBOX // 60} minutes",
            lines,
            key,
            i,
        )
    return seconds
