"""A meeting's minutes as Markdown (or JSON): a pure function of `Services.minutes(...)`.

Every name and text is member-typed, so escaped with the report's `md` helpers. The
feedback section appears only when the circle's agreements allow it (see
`xcircle.services.minutes`); otherwise the minutes say that it was left out and why.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import orjson

from xcircle.domain import MINUTES_FEEDBACK_AGREEMENT, PULSE_ASPECTS
from xcircle.export import md, md_block, md_table, when
from xcircle.export_ics import zone_named
from xcircle.services.minutes import Minutes, MinutesCommitment

MINUTES_FORMATS = ("markdown", "json")


def minutes_markdown(
    minutes: Minutes, *, zone: tzinfo | None = None, generated: datetime | None = None
) -> str:
    """The minutes for people; times in the meeting's own zone unless `zone` is given."""
    shown = zone or zone_named(minutes.zone)
    kickoff = " (kick-off)" if minutes.kickoff else ""
    out = [f"# {md(minutes.circle_name)}: minutes of {when(minutes.at, shown)}{kickoff}", ""]
    out.append(f"- Status: {minutes.status}, {minutes.duration} minutes planned")
    out.append(f"- Facilitator: {md(minutes.facilitator or 'not recorded')}")
    if minutes.themes:
        out.append(f"- Themes: {', '.join(md(t) for t in minutes.themes)}")
    out += ["", "## Attendance", ""]
    out.append(f"- Present ({len(minutes.present)}): {_names(minutes.present)}")
    out.append(f"- Absent ({len(minutes.absent)}): {_names(minutes.absent)}")
    out += ["", "## Round", ""]
    if minutes.presenters:
        out += [f"{i}. {md(name)}" for i, name in enumerate(minutes.presenters, 1)]
    else:
        out.append("Nobody presented.")
    out += ["", "## Commitments made", ""]
    out += _commitments(minutes.made, "No commitments were made.")
    out += ["", "## Commitments reviewed", ""]
    out += _commitments(minutes.reviewed, "No commitments were reviewed.")
    out += ["", "## Pulse", ""]
    if minutes.pulse.count:
        averages = ", ".join(
            f"{aspect} {getattr(minutes.pulse, aspect):.2f}" for aspect in PULSE_ASPECTS
        )
        who = "1 member" if minutes.pulse.count == 1 else f"{minutes.pulse.count} members"
        out.append(f"{who} rated the meeting (1–5): {averages}.")
    else:
        out.append("Nobody rated the meeting.")
    if minutes.notes.strip():
        out += ["", "## Notes", "", *md_block(minutes.notes)]
    out += ["", "## Plus/delta", ""]
    if minutes.plus or minutes.delta:
        out += [f"- Plus: {md(p)}" for p in minutes.plus]
        out += [f"- Delta: {md(d)}" for d in minutes.delta]
    else:
        out.append("No plus/delta was recorded.")
    out += ["", "## Feedback", ""]
    if not minutes.feedback_allowed:
        out.append(
            "Left out: what is said in the circle stays in the circle (add an agreement "
            f"titled “{MINUTES_FEEDBACK_AGREEMENT}” to include it)."
        )
    elif minutes.feedback:
        rows = [(md(f.presenter), md(f.giver), f.kind, md(f.text)) for f in minutes.feedback]
        out += md_table(("Presenter", "From", "Kind", "Feedback"), rows)
    else:
        out.append("No feedback was recorded.")
    if generated is not None:
        out += ["", f"_Written {when(generated.isoformat(), shown)}._"]
    return "\n".join(out) + "\n"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(md(n) for n in names) if names else "none recorded"


def _commitments(items: tuple[MinutesCommitment, ...], empty: str) -> list[str]:
    if not items:
        return [empty]
    rows = [(md(c.owner), md(c.text), c.due or "-", c.status) for c in items]
    return md_table(("Owner", "Commitment", "Due", "Status"), rows)


def minutes_json(minutes: Minutes) -> bytes:
    return orjson.dumps(minutes.as_dict(), option=orjson.OPT_INDENT_2) + b"\n"


def render_minutes(minutes: Minutes, fmt: str, *, generated: datetime | None = None) -> bytes:
    if fmt == "markdown":
        return minutes_markdown(minutes, generated=generated).encode()
    if fmt == "json":
        return minutes_json(minutes)
    raise ValueError(f"unknown minutes format {fmt!r}; choose from {', '.join(MINUTES_FORMATS)}")
