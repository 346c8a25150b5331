"""Exports of one circle: a Markdown report, CSV tables, an iCalendar feed, JSON.

Pure functions of `Services.detail(circle)` (plus the zone to show times in and the
moment of export): no I/O here; the CLI writes the result to a file (0600) or stdout.
Everything a member typed, or a peer from another organization synced in, is treated
as untrusted text: escaped for Markdown, defused for spreadsheets in CSV, and folded
and escaped by the icalendar library in ICS.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

from xcircle import osfs, safetext
from xcircle.domain import COMMITMENT_STATUSES, HELD_STATUSES, PULSE_ASPECTS
from xcircle.export_ics import to_ics

Detail = Mapping[str, Any]

FORMATS = ("markdown", "csv", "ics", "json")
CSV_TABLES = ("goals", "attendance")

GOAL_COLUMNS = (
    "goal_id",
    "title",
    "kind",
    "owner",
    "owner_org",
    "status",
    "due",
    "progress",
    "confidence",
    "last_checkin",
    "checkins",
    "why",
    "measure",
)
ATTENDANCE_COLUMNS = (
    "meeting_id",
    "meeting_at",
    "kickoff",
    "status",
    "member_id",
    "member",
    "org",
    "present",
)


# -- shared helpers ----------------------------------------------------------------------


def names(detail: Detail) -> dict[str, str]:
    """Member id -> name, for the circle's current members."""
    return {m["id"]: m["name"] for m in detail["members"]}


def who(detail: Detail, member: str | None, *, default: str = "a former member") -> str:
    """The name of `member`; removed members keep their history under a neutral label."""
    if member is None:
        return ""
    return names(detail).get(member, default)


def local(at: str, zone: tzinfo | None = None) -> datetime:
    """An ISO date-time (with offset) shown in `zone` (None: this machine's zone)."""
    return datetime.fromisoformat(at).astimezone(zone)


def when(at: str, zone: tzinfo | None = None) -> str:
    """A meeting's time for people: `Tue 01 Dec 2026 18:00 CET`."""
    return local(at, zone).strftime("%a %d %b %Y %H:%M %Z").strip()


def day(at: str, zone: tzinfo | None = None) -> str:
    return local(at, zone).date().isoformat()


# -- Markdown ----------------------------------------------------------------------------

# Characters that start inline markup anywhere (emphasis, code, links, HTML, tables,
# strikethrough, entities, headings' closing #) and block markup at a line's start.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~&#])")
_MD_LINE_START = re.compile(r"^(?:[+\-=]|\d+(?=[.)]))")


def md(text: str) -> str:
    """`text` escaped to read literally in Markdown, on one line (tables, headings, lists)."""
    line = " ".join(safetext.line(text).split())
    line = _MD_INLINE.sub(r"\\\1", line)
    return _MD_LINE_START.sub(_escape_start, line)


def _escape_start(match: re.Match[str]) -> str:
    """`- x` -> `\\- x`, `1. x` -> `1\\. x`: never a list, heading or quote by accident."""
    text = match.group(0)
    return text + "\\" if text[0].isdigit() else "\\" + text


def md_block(text: str, prefix: str = "") -> list[str]:
    """Multi-line `text` escaped line by line (notes), each line after `prefix`."""
    text = safetext.block(text).strip()
    return [f"{prefix}{md(line)}".rstrip() for line in text.splitlines()]


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured table; cells must already be escaped (`|` above all)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return out


def pulse_averages(meetings: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """The average of every pulse given, per aspect (None when nobody rated yet)."""
    pulses = [p for m in meetings for p in m.get("pulses", [])]
    return {
        a: round(sum(p[a] for p in pulses) / len(pulses), 2) if pulses else None
        for a in PULSE_ASPECTS
    }


def to_markdown(
    detail: Detail, *, zone: tzinfo | None = None, generated: datetime | None = None
) -> str:
    """The circle as a report a member can share: settings, people, history, outcomes."""
    circle = detail["circle"]
    members = detail["members"]
    generated = generated or datetime.now(UTC)
    out = [f"# {md(circle['name'])}", ""]
    out += [f"_Circle report, generated {when(generated.isoformat(), zone)}._", ""]
    if circle.get("archived"):
        out += ["**This circle is archived.**", ""]
    if circle.get("purpose"):
        out += [*md_block(circle["purpose"]), ""]

    out += ["## Outcomes", ""]
    out += [f"- {md(o)}" for o in circle.get("outcomes", [])] or ["_None recorded._"]
    out += ["", "## Cadence", ""]
    out += [
        f"- Frequency: {circle.get('frequency', '')}",
        f"- Duration: {circle.get('duration', '')} minutes",
        f"- Mode: {circle.get('mode', '')}",
        "",
    ]
    out += _md_agreements(detail)
    out += _md_members(members)
    out += _md_meetings(detail, zone)
    out += _md_goals(detail, zone)
    out += _md_commitments(detail)
    out += _md_pulse(detail, zone)
    return "\n".join(out).rstrip() + "\n"


def _md_agreements(detail: Detail) -> list[str]:
    out = ["## Agreements", ""]
    for i, a in enumerate(detail["agreements"], 1):
        text = f": {md(a['text'])}" if a.get("text") else ""
        out.append(f"{i}. **{md(a['title'])}**{text}")
    if not detail["agreements"]:
        out.append("_None yet._")
    acknowledged = set(detail["acknowledged"])
    acked = [m["name"] for m in detail["members"] if m["id"] in acknowledged]
    pending = [m["name"] for m in detail["members"] if m["id"] not in acknowledged]
    out.append("")
    out.append(
        f"Acknowledged by {len(acked)} of {len(detail['members'])} members"
        + (f": {', '.join(md(n) for n in acked)}." if acked else ".")
    )
    if pending and acked:
        out.append(f"Not yet acknowledged: {', '.join(md(n) for n in pending)}.")
    return [*out, ""]


def _md_members(members: Sequence[Mapping[str, Any]]) -> list[str]:
    by_org: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for m in members:
        by_org[m["org"]].append(m)
    out = [f"## Members ({len(members)} from {len(by_org)} organizations)", ""]
    for org in sorted(by_org, key=str.lower):
        out += [f"### {md(org)}", ""]
        rows = [
            (md(m["name"]), m.get("seniority") or "", md(", ".join(m.get("topics", []))))
            for m in sorted(by_org[org], key=lambda m: m["name"].lower())
        ]
        out += [*md_table(("Name", "Seniority", "Topics"), rows), ""]
    return out


def _md_meetings(detail: Detail, zone: tzinfo | None) -> list[str]:
    meetings = detail["meetings"]
    held = [m for m in meetings if m["status"] in HELD_STATUSES]
    planned = [m for m in meetings if m["status"] == "planned"]
    cancelled = [m for m in meetings if m["status"] == "cancelled"]
    total = len(detail["members"])
    out = ["## Meetings", "", f"### Held ({len(held)})", ""]
    if not held:
        out += ["_No meetings held yet._", ""]
    for m in held:
        kickoff = " (kick-off)" if m.get("kickoff") else ""
        out += [f"#### {when(m['at'], zone)}{kickoff}", ""]
        out.append(f"- Facilitator: {md(who(detail, m.get('facilitator'))) or 'not recorded'}")
        marks = m.get("attendance", {})
        present = [who(detail, k) for k, v in marks.items() if v]
        absent = [who(detail, k) for k, v in marks.items() if not v]
        line = f"- Attendance: {len(present)} of {total} present"
        if absent:
            line += f"; absent: {', '.join(md(n) for n in sorted(absent))}"
        out.append(line)
        if m.get("themes"):
            out.append(f"- Themes: {', '.join(md(t) for t in m['themes'])}")
        avg = pulse_averages([m])
        if any(v is not None for v in avg.values()):
            out.append("- Pulse: " + ", ".join(f"{a} {v}" for a, v in avg.items()))
        if m.get("notes"):
            out += ["- Notes:", "", *md_block(m["notes"], "  > ")]
        out.append("")
    out += [f"### Planned ({len(planned)})", ""]
    if planned:
        rows = [
            (
                when(m["at"], zone) + (" (kick-off)" if m.get("kickoff") else ""),
                f"{m['duration']} min",
                md(", ".join(m.get("themes", []))),
            )
            for m in planned
        ]
        out += [*md_table(("When", "Duration", "Themes"), rows), ""]
    else:
        out += ["_Nothing planned._", ""]
    if cancelled:
        out += [f"Cancelled: {', '.join(when(m['at'], zone) for m in cancelled)}.", ""]
    return out


def _md_goals(detail: Detail, zone: tzinfo | None) -> list[str]:
    out = ["## Goals", ""]
    if not detail["goals"]:
        out += ["_No goals yet._", ""]
    for g in detail["goals"]:
        out += [f"### {md(g['title'])} — {g.get('progress', 0)}%", ""]
        owner = f"{md(who(detail, g['owner']))}" if g.get("owner") else "the circle (group goal)"
        out.append(f"- Owner: {owner}")
        due = f", due {g['due']}" if g.get("due") else ""
        out.append(f"- Status: {g['status']}{due}")
        if g.get("why"):
            out.append(f"- Why: {md(g['why'])}")
        if g.get("measure"):
            out.append(f"- Measure of success: {md(g['measure'])}")
        out.append("")
        if g.get("checkins"):
            rows = [
                (
                    day(c["at"], zone),
                    f"{c['progress']}%",
                    str(c["confidence"]) if c.get("confidence") else "",
                    md(who(detail, c.get("member"))),
                    md(c.get("note", "")),
                )
                for c in g["checkins"]
            ]
            out += [*md_table(("Date", "Progress", "Confidence", "By", "Note"), rows), ""]
    return out


def _md_commitments(detail: Detail) -> list[str]:
    out = ["## Commitments", ""]
    by_status: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for c in detail["commitments"]:
        by_status[c["status"]].append(c)
    if not detail["commitments"]:
        out += ["_No commitments yet._", ""]
    for status in COMMITMENT_STATUSES:
        items = by_status.get(status, [])
        if not items:
            continue
        out += [f"### {status.capitalize()} ({len(items)})", ""]
        for c in items:
            due = f" (due {c['due']})" if c.get("due") else ""
            out.append(f"- **{md(who(detail, c['owner']))}**: {md(c['text'])}{due}")
        out.append("")
    return out


def _md_pulse(detail: Detail, zone: tzinfo | None) -> list[str]:
    out = ["## Pulse", ""]
    rated = [m for m in detail["meetings"] if m.get("pulses")]
    if not rated:
        return [*out, "_No pulses yet._", ""]
    overall = pulse_averages(rated)
    latest = pulse_averages(rated[-1:])
    rows = [
        (a.capitalize(), f"{overall[a]:.2f}", f"{latest[a]:.2f}")
        for a in PULSE_ASPECTS
        if overall[a] is not None and latest[a] is not None
    ]
    out += [
        f"Averages of 1–5 ratings over {len(rated)} meetings; latest: "
        f"{when(rated[-1]['at'], zone)}.",
        "",
        *md_table(("Aspect", "Average", "Latest meeting"), rows),
        "",
    ]
    return out


# -- CSV ---------------------------------------------------------------------------------


def safe_cell(text: str) -> str:
    """Defuse spreadsheet formulas in user text (OWASP CSV injection): a leading `'`;
    control characters (but newline and tab) and bidi overrides dropped."""
    text = safetext.block(text)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """RFC 4180: a header row, CRLF line endings, quotes where needed."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()


def goals_csv(detail: Detail) -> str:
    """One row per goal, with its latest progress and confidence."""
    orgs = {m["id"]: m["org"] for m in detail["members"]}
    rows = []
    for g in detail["goals"]:
        checkins = g.get("checkins", [])
        last = checkins[-1] if checkins else {}
        owner = g.get("owner")
        rows.append(
            (
                g["id"],
                safe_cell(g["title"]),
                "individual" if owner else "group",
                safe_cell(who(detail, owner)) if owner else "",
                safe_cell(orgs.get(owner, "")) if owner else "",
                g["status"],
                g.get("due") or "",
                g.get("progress", 0),
                last.get("confidence") or "",
                last.get("at", ""),
                len(checkins),
                safe_cell(g.get("why", "")),
                safe_cell(g.get("measure", "")),
            )
        )
    return _csv(GOAL_COLUMNS, rows)


def attendance_csv(detail: Detail) -> str:
    """One row per held meeting × member: `yes`, `no`, or empty when not recorded."""
    members = {m["id"]: m for m in detail["members"]}
    rows = []
    for m in detail["meetings"]:
        marks: Mapping[str, bool] = m.get("attendance", {})
        if m["status"] not in HELD_STATUSES and not marks:
            continue
        for mid in [*members, *(k for k in marks if k not in members)]:
            member = members.get(mid)
            present = marks.get(mid)
            rows.append(
                (
                    m["id"],
                    m["at"],
                    "yes" if m.get("kickoff") else "no",
                    m["status"],
                    mid,
                    safe_cell(member["name"]) if member else "a former member",
                    safe_cell(member["org"]) if member else "",
                    "" if present is None else ("yes" if present else "no"),
                )
            )
    return _csv(ATTENDANCE_COLUMNS, rows)


def to_csv(detail: Detail, table: str) -> str:
    """The CSV table `goals` or `attendance`."""
    if table == "goals":
        return goals_csv(detail)
    if table == "attendance":
        return attendance_csv(detail)
    raise ValueError(f"no CSV table {table!r}; choose from {', '.join(CSV_TABLES)}")


# -- JSON --------------------------------------------------------------------------------


def to_json(detail: Detail) -> bytes:
    """Everything `circle show --json` prints, as one JSON document."""
    encoded = orjson.dumps(dict(detail), option=orjson.OPT_INDENT_2).decode()
    return safetext.json_safe(encoded).encode() + b"\n"


def render(
    detail: Detail,
    fmt: str,
    *,
    table: str = "goals",
    zone: tzinfo | None = None,
    now: datetime | None = None,
) -> bytes:
    """One export as bytes, ready for a file or stdout (`table` for CSV only)."""
    if fmt == "markdown":
        return to_markdown(detail, zone=zone, generated=now).encode()
    if fmt == "csv":
        return to_csv(detail, table).encode()
    if fmt == "ics":
        return to_ics(detail, stamp=now)
    if fmt == "json":
        return to_json(detail)
    raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by its owner only (0600); a file that
    cannot be written is a `StoreError` with the reason in one line."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        # mkstemp: a new file (O_EXCL, never through a link), 0600, binary on Windows.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise osfs.save_error(path, exc, what="cannot write") from None
    try:
        try:
            osfs.write_all(fd, data)  # a short write is continued or fails, never kept
            osfs.flush(fd)
        finally:
            os.close(fd)
        osfs.replace(Path(tmp), path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise osfs.save_error(path, exc, what="cannot write") from None
