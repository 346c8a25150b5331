"""Participants CSVs for the programme tests: rows as dicts, written as the README says."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

HEADER = (
    "name", "organization", "seniority", "function", "topics", "time zone", "email",
    "not_with", "manager",
)  # fmt: skip

ZONES = ("Europe/Paris", "Europe/London", "Europe/Berlin", "Africa/Lagos")
LEVELS = ("junior", "mid", "senior")
FUNCTIONS = ("engineering", "sales", "hr", "finance")
TOPICS = ("change management", "career", "leadership", "wellbeing")


def row(k: int, **overrides: str) -> dict[str, str]:
    """Participant k of a pool in four organizations and European-ish zones."""
    base = {
        "name": f"Person {k}",
        "organization": f"Org {k % 4}",
        "seniority": LEVELS[k % 3],
        "function": FUNCTIONS[k % 4],
        "topics": f"{TOPICS[k % 4]};{TOPICS[(k + 1) % 4]}",
        "time zone": ZONES[k % 4],
        "email": f"p{k}@example.org",
        "not_with": "",
        "manager": "",
    }
    base.update(overrides)
    return base


def pool(n: int) -> list[dict[str, str]]:
    return [row(k) for k in range(n)]


def write_csv(path: Path, rows: Sequence[dict[str, str]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(header), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
