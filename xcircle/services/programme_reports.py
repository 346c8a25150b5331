"""What a programme's circle tells its coordinator: aggregates, never content.

Pure functions over a circle's records (the convener's device computes them from its
own store; `sync.programmes` seals and sends them). Every figure names how many people
it is over, and a figure over fewer than `MIN_PEOPLE` is never computed into a report:
it is replaced by `{"fewer_than": 3}`, so nobody can work out one member's attendance,
commitments or pulse. Only the metrics the circle agreed to report (the circle record's
`reports`, which a convener changes) are in it; the others read "not reported".

The report (JSON, sorted keys, version 1):

    {"v": 1, "circle": id, "metrics": {
       "meetings":    {"held": n, "people": k},
       "attendance":  {"rate": 0.0–1.0, "people": k},
       "commitments": {"kept": n, "reviewed": n, "rate": 0.0–1.0, "people": k},
       "pulse":       {"trend": [{"at": date, "support": x, "confidence": x,
                                  "learning": x, "people": k}, …], "people": k}
     }}

with any metric replaced by {"fewer_than": 3} or {"not_reported": true}.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from xcircle.domain import CONVENER, METRICS, PULSE_ASPECTS
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.services.context import Context
from xcircle.services.members import is_convener

MIN_PEOPLE: Final = 3
PULSE_POINTS: Final = 6  # the trend: the last held meetings with enough pulses
VERSION: Final = 1
FEWER: Final = {"fewer_than": MIN_PEOPLE}
NOT_REPORTED: Final = {"not_reported": True}

Records = Mapping[str, Sequence[Record]]  # entity -> live records of one circle


def _held(records: Records) -> list[Record]:
    """Closed meetings, oldest first (a meeting held is one that was closed)."""
    meetings = [m for m in records.get("meeting", ()) if m.get("status") == "closed"]
    return sorted(meetings, key=lambda m: (str(m.get("at", "")), m["id"]))


def _guard(people: int, figure: dict[str, Any]) -> dict[str, Any]:
    return {**figure, "people": people} if people >= MIN_PEOPLE else dict(FEWER)


def meetings_held(records: Records) -> dict[str, Any]:
    """How many meetings were held, over the people who attended any of them."""
    held = {m["id"] for m in _held(records)}
    people = {
        a["member"]
        for a in records.get("attendance", ())
        if a.get("meeting") in held and a.get("present") is True
    }
    return _guard(len(people), {"held": len(held)})


def attendance(records: Records) -> dict[str, Any]:
    """Present / recorded attendance over the held meetings."""
    held = {m["id"] for m in _held(records)}
    rows = [a for a in records.get("attendance", ()) if a.get("meeting") in held]
    people = {a["member"] for a in rows}
    if not rows:
        return _guard(0, {})
    present = sum(1 for a in rows if a.get("present") is True)
    return _guard(len(people), {"rate": round(present / len(rows), 3)})


def commitments(records: Records) -> dict[str, Any]:
    """Kept / reviewed commitments (kept, renegotiated or dropped), over their owners."""
    reviewed = [c for c in records.get("commitment", ()) if c.get("status") != "open"]
    people = {c["owner"] for c in reviewed}
    kept = sum(1 for c in reviewed if c.get("status") == "kept")
    figure: dict[str, Any] = {"kept": kept, "reviewed": len(reviewed)}
    if reviewed:
        figure["rate"] = round(kept / len(reviewed), 3)
    return _guard(len(people), figure)


def pulse_trend(records: Records) -> dict[str, Any]:
    """Each held meeting's average pulse (the latest per member), only for meetings
    where at least three members gave one; the last `PULSE_POINTS` of them."""
    by_meeting: dict[str, dict[str, Record]] = {}
    for p in records.get("pulse", ()):
        meeting, member = p.get("meeting"), p.get("member")
        if isinstance(meeting, str) and isinstance(member, str):
            # One per member: a corrected pulse tombstones the one it replaces.
            by_meeting.setdefault(meeting, {})[member] = p
    points = []
    for m in _held(records):
        given = [
            p
            for p in by_meeting.get(m["id"], {}).values()
            if all(isinstance(p.get(a), int) for a in PULSE_ASPECTS)
        ]
        if len(given) < MIN_PEOPLE:
            continue
        point: dict[str, Any] = {"at": str(m.get("at", ""))[:10], "people": len(given)}
        for aspect in PULSE_ASPECTS:
            point[aspect] = round(sum(p[aspect] for p in given) / len(given), 2)
        points.append(point)
    points = points[-PULSE_POINTS:]
    if not points:
        return dict(FEWER)
    return {"trend": points, "people": min(p["people"] for p in points)}


COMPUTE = {
    "meetings": meetings_held,
    "attendance": attendance,
    "commitments": commitments,
    "pulse": pulse_trend,
}


def compute(circle: str, records: Records, reported: Iterable[str]) -> dict[str, Any]:
    """The report of one circle from its records: only the `reported` metrics."""
    chosen = set(reported)
    metrics = {
        name: COMPUTE[name](records) if name in chosen else dict(NOT_REPORTED) for name in METRICS
    }
    return {"v": VERSION, "circle": circle, "metrics": metrics}


def encode(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_SORT_KEYS)


def of_circle(ctx: Context, circle: str) -> dict[str, Any] | None:
    """The circle's report as this device sees it, or None for a circle of no
    programme. Reads the circle's live records once."""
    record = ctx.store.get(circle, "circle", circle)
    if record is None or not record.get("programme"):
        return None
    records = {e: ctx.store.records(circle, e) for e in _ENTITIES}
    return compute(circle, records, record.get("reports") or [])


_ENTITIES = ("meeting", "attendance", "commitment", "pulse")


def programme_of(ctx: Context, circle: str) -> dict[str, Any] | None:
    """The circle's programme fields (programme, coordinator, key, fingerprint, reports),
    or None when it belongs to no programme."""
    record = ctx.store.get(circle, "circle", circle)
    if record is None or not record.get("programme"):
        return None
    return {
        "programme": record["programme"],
        "coordinator": record.get("coordinator"),
        "coordinator_key": record.get("coordinator_key"),
        "coordinator_fp": record.get("coordinator_fp", ""),
        "reports": list(record.get("reports") or []),
    }


def set_reported(ctx: Context, circle: str, metrics: Sequence[str]) -> list[str]:
    """A convener changes what the circle reports to its programme (one write)."""
    if programme_of(ctx, circle) is None:
        raise InvalidInput("this circle belongs to no programme", field="circle")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InvalidInput(
            f"unknown metric {unknown[0]!r} (choose from {', '.join(METRICS)})", field="metrics"
        )
    me = ctx.me(circle)
    if me is None or not is_convener(ctx.members(circle), me):
        raise InvalidInput(f"only a {CONVENER} can change what the circle reports")
    chosen: list[str] = [m for m in METRICS if m in set(metrics)]
    ctx.commit([ctx.op(circle, "circle", circle, reports=chosen)])
    return chosen


def shown(metric: Mapping[str, Any] | None) -> str:
    """How the coordinator's view shows one metric: its figure, "not reported" or
    "fewer than 3". A figure over fewer than three people is never shown, even if a
    report carried one (a modified client could send it)."""
    if not isinstance(metric, Mapping) or metric.get("not_reported"):
        return "not reported"
    people = metric.get("people")
    if "fewer_than" in metric or not isinstance(people, int) or people < MIN_PEOPLE:
        return f"fewer than {MIN_PEOPLE}"
    if "held" in metric:
        return f"{metric['held']} held"
    if "rate" in metric and "kept" in metric:
        return f"{metric['kept']}/{metric['reviewed']} kept ({_pct(metric['rate'])})"
    if "rate" in metric:
        return _pct(metric["rate"])
    if "trend" in metric:
        points = [
            p
            for p in metric["trend"]
            if isinstance(p, Mapping) and isinstance(p.get("people"), int)
        ]
        values = [_mean(p) for p in points if p["people"] >= MIN_PEOPLE]
        return " → ".join(f"{v:.1f}" for v in values if v is not None) or f"fewer than {MIN_PEOPLE}"
    return "not reported"


def safe(metric: Mapping[str, Any] | None) -> dict[str, Any]:
    """The metric as the `--json` view gives it: the same rule as `shown`."""
    text = shown(metric)
    if text == "not reported":
        return dict(NOT_REPORTED)
    if text.startswith("fewer than"):
        return dict(FEWER)
    assert isinstance(metric, Mapping)
    out = dict(metric)
    if "trend" in out:
        out["trend"] = [
            p
            for p in out["trend"]
            if isinstance(p, Mapping)
            and isinstance(p.get("people"), int)
            and p["people"] >= MIN_PEOPLE
        ]
    return out


def _mean(point: Mapping[str, Any]) -> float | None:
    values = [point.get(a) for a in PULSE_ASPECTS]
    nums = [float(v) for v in values if isinstance(v, int | float)]
    return sum(nums) / len(nums) if len(nums) == len(PULSE_ASPECTS) else None


def _pct(rate: object) -> str:
    return f"{float(rate) * 100:.0f}%" if isinstance(rate, int | float) else "?"
