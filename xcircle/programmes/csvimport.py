"""A programme's pool from a CSV file: all rows or none, each error naming row and column.

The format (a header row, then one participant per row; column names are matched without
regard to case, spaces, `_` or `-`):

    name, organization, seniority, function, topics, time zone, email   (required)
    not_with   emails of people this one must not share a circle with, `;`-separated
    manager    the email of this person's manager (they are never in one circle)

`topics` is `;`-separated; `seniority` is junior, mid or senior; `time zone` is an IANA
name (Europe/Paris). Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xcircle.domain import SENIORITIES
from xcircle.errors import InvalidInput
from xcircle.programmes.model import Participant
from xcircle.safetext import problem

MAX_BYTES = 5 * 1024 * 1024  # ~40k rows of typical width: far beyond any programme
MAX_ROWS = 20_000
MAX_TOPICS = 20
MAX_TEXT = 120

REQUIRED = ("name", "organization", "seniority", "function", "topics", "time zone", "email")
OPTIONAL = ("not with", "manager")
ALIASES = {
    "organisation": "organization",
    "org": "organization",
    "timezone": "time zone",
    "tz": "time zone",
    "zone": "time zone",
    "e mail": "email",
    "notwith": "not with",
}


@dataclass(frozen=True)
class Problem:
    """One bad cell (or the file itself when `row` is 0)."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        if not self.row:
            return self.message
        where = f"row {self.row}, column {self.column!r}" if self.column else f"row {self.row}"
        return f"{where}: {self.message}"


class ImportFailed(InvalidInput):
    """The CSV was refused; nothing was imported. `problems` lists every bad cell found."""

    def __init__(self, problems: list[Problem]) -> None:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}; nothing was imported", field="file")
        self.problems = problems


@dataclass(frozen=True)
class Pool:
    """What a CSV holds: participants (by id), who must not meet, who manages whom."""

    participants: dict[str, Participant]
    not_with: frozenset[frozenset[str]]
    manages: frozenset[tuple[str, str]]

    @property
    def organizations(self) -> tuple[str, ...]:
        return tuple(sorted({p.organization for p in self.participants.values()}, key=str.casefold))


def participant_id(email: str) -> str:
    """Stable per email, so a re-import keeps ids (and publishing stays idempotent)."""
    return hashlib.blake2b(email.strip().lower().encode(), digest_size=8).hexdigest()


def read_pool(path: Path) -> Pool:
    """Parse and check `path`; raise `ImportFailed` (naming row and column) on any problem."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ImportFailed([Problem(0, "", f"no file {path}")]) from None
    except OSError as exc:
        raise ImportFailed([Problem(0, "", f"cannot read {path}: {exc.strerror or exc}")]) from None
    return parse_pool(raw, str(path))


def parse_pool(raw: bytes, name: str = "the file") -> Pool:
    """`read_pool` on bytes already read."""
    if len(raw) > MAX_BYTES:
        raise ImportFailed([Problem(0, "", f"{name} is larger than {MAX_BYTES // 2**20} MiB")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            [Problem(0, "", f"{name} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8")]
        ) from None
    if "\x00" in text:
        raise ImportFailed([Problem(0, "", f"{name} is not a CSV file (it holds NUL bytes)")])
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ImportFailed([Problem(0, "", f"{name} is not a readable CSV file: {exc}")]) from None
    rows = [r for r in rows if any(cell.strip() for cell in r)] if rows else rows
    if not rows:
        raise ImportFailed([Problem(0, "", f"{name} is empty: it needs a header row")])
    if len(rows) == 1:
        raise ImportFailed([Problem(0, "", f"{name} has a header row but no participants")])
    if len(rows) - 1 > MAX_ROWS:
        raise ImportFailed([Problem(0, "", f"{name} has more than {MAX_ROWS} participants")])
    return _Parser(rows, name).pool()


def _canonical(header: str) -> str:
    key = " ".join(header.strip().lower().replace("_", " ").replace("-", " ").split())
    return ALIASES.get(key, ALIASES.get(key.replace(" ", ""), key))


class _Parser:
    def __init__(self, rows: list[list[str]], name: str) -> None:
        self.problems: list[Problem] = []
        self.header = rows[0]
        self.body = rows[1:]
        self.columns: dict[str, int] = {}
        self.spelling: dict[str, str] = {}
        for i, h in enumerate(self.header):
            key = _canonical(h)
            if key in self.columns:
                self.fail(1, h, "this column appears twice")
            elif key in REQUIRED or key in OPTIONAL:
                self.columns[key] = i
        missing = [c for c in REQUIRED if c not in self.columns]
        if missing:
            raise ImportFailed(
                [
                    Problem(
                        0,
                        "",
                        f"{name} is not a participants CSV: its header lacks "
                        f"{', '.join(repr(c) for c in missing)} (row 1)",
                    )
                ]
            )

    def fail(self, row: int, column: str, message: str) -> None:
        self.problems.append(Problem(row, column, message))

    def cell(self, row: int, values: list[str], key: str, *, required: bool = True) -> str:
        i = self.columns.get(key)
        column = self.header[i] if i is not None else key
        value = values[i].strip() if i is not None and i < len(values) else ""
        if required and not value:
            self.fail(row, column, f"{key} is required")
        elif len(value) > MAX_TEXT and key not in ("topics", "not with"):
            self.fail(row, column, f"longer than {MAX_TEXT} characters")
        elif (unsafe := problem(value)) is not None:
            self.fail(row, column, f"contains {unsafe}, which is not allowed")
            value = ""
        return value

    def pool(self) -> Pool:
        people: list[tuple[int, Participant, str, str]] = []
        by_email: dict[str, int] = {}
        zones: dict[str, bool] = {}
        for n, values in enumerate(self.body, start=2):
            if len(values) > len(self.header):
                self.fail(n, "", f"{len(values)} cells but the header has {len(self.header)}")
                continue
            person = self._row(n, values, zones)
            if person is None:
                continue
            key = person.email.lower()
            if key in by_email:
                self.fail(
                    n,
                    self.header[self.columns["email"]],
                    f"{person.email} is also on row {by_email[key]}",
                )
                continue
            by_email[key] = n
            people.append(
                (
                    n,
                    person,
                    self.cell(n, values, "not with", required=False),
                    self.cell(n, values, "manager", required=False),
                )
            )
        not_with: set[frozenset[str]] = set()
        manages: set[tuple[str, str]] = set()
        for n, person, avoid, manager in people:
            for email in filter(None, (e.strip() for e in avoid.split(";"))):
                other = self._ref(n, "not with", email, person, by_email)
                if other:
                    not_with.add(frozenset((person.id, other)))
            if manager:
                boss = self._ref(n, "manager", manager, person, by_email)
                if boss:
                    manages.add((boss, person.id))
        if self.problems:
            raise ImportFailed(self.problems)
        return Pool(
            participants={p.id: p for _, p, _, _ in people},
            not_with=frozenset(not_with),
            manages=frozenset(manages),
        )

    def _row(self, n: int, values: list[str], zones: dict[str, bool]) -> Participant | None:
        before = len(self.problems)
        name = self.cell(n, values, "name")
        org = self.cell(n, values, "organization")
        seniority = self.cell(n, values, "seniority").lower()
        function = self.cell(n, values, "function")
        topics_text = self.cell(n, values, "topics", required=False)
        tz = self.cell(n, values, "time zone")
        email = self.cell(n, values, "email")
        header = self.header
        if seniority and seniority not in SENIORITIES:
            self.fail(
                n,
                header[self.columns["seniority"]],
                f"unknown seniority {seniority!r}; use {', '.join(SENIORITIES)}",
            )
        if tz and not zones.setdefault(tz, _known_zone(tz)):
            self.fail(
                n,
                header[self.columns["time zone"]],
                f"unknown time zone {tz!r} (e.g. Europe/Paris)",
            )
        if email and (
            email.count("@") != 1 or " " in email or email.startswith("@") or email.endswith("@")
        ):
            self.fail(n, header[self.columns["email"]], f"{email!r} is not an email address")
        topics = tuple(dict.fromkeys(t.strip() for t in topics_text.split(";") if t.strip()))
        if len(topics) > MAX_TOPICS or any(len(t) > 80 for t in topics):
            self.fail(
                n, header[self.columns["topics"]], f"at most {MAX_TOPICS} topics of 80 characters"
            )
        if len(self.problems) > before:
            return None
        return Participant(
            id=participant_id(email),
            name=name,
            # "ACME" and "Acme" are one organization: the first spelling in the file wins.
            organization=self.spelling.setdefault(org.casefold(), org),
            seniority=seniority,
            function=self.spelling.setdefault("function:" + function.casefold(), function),
            topics=topics,
            tz=tz,
            email=email,
        )

    def _ref(
        self, n: int, key: str, email: str, person: Participant, by_email: dict[str, int]
    ) -> str | None:
        column = self.header[self.columns[key]]
        if email.lower() not in by_email:
            self.fail(n, column, f"{email} is not anyone's email in this file")
            return None
        other = participant_id(email)
        if other == person.id:
            self.fail(n, column, "a person cannot refer to themselves")
            return None
        return other


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
