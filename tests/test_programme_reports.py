"""A programme circle's report: aggregates only, never over fewer than three people, only
the metrics the circle agreed to report; and the coordinator's view re-checks the rule
on whatever a report carries."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from xcircle.domain import METRICS
from xcircle.services import programme_reports as pr

MEMBERS = [f"{i:032x}" for i in range(1, 9)]
MEETINGS = [f"{i:032x}" for i in range(100, 106)]


def _people(metric: dict[str, Any]) -> int | None:
    return metric.get("people") if isinstance(metric, dict) else None


@st.composite
def circles(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    meetings = [
        {
            "id": m,
            "at": f"2026-0{i + 1}-01T10:00:00+00:00",
            "status": draw(st.sampled_from(["planned", "closed", "closed", "cancelled"])),
        }
        for i, m in enumerate(MEETINGS)
    ]
    who = st.sampled_from(MEMBERS[: draw(st.integers(1, 8))])
    attendance = {
        (m, p): {"id": f"{m}:{p}", "meeting": m, "member": p, "present": draw(st.booleans())}
        for m, p in draw(st.lists(st.tuples(st.sampled_from(MEETINGS), who), max_size=30))
    }
    commitments = [
        {
            "id": f"c{i}",
            "owner": draw(who),
            "status": draw(st.sampled_from(["open", "kept", "renegotiated", "dropped"])),
        }
        for i in range(draw(st.integers(0, 12)))
    ]
    pulses = [
        {
            "id": f"p{i}",
            "meeting": draw(st.sampled_from(MEETINGS)),
            "member": draw(who),
            "support": draw(st.integers(1, 5)),
            "confidence": draw(st.integers(1, 5)),
            "learning": draw(st.integers(1, 5)),
        }
        for i in range(draw(st.integers(0, 30)))
    ]
    return {
        "meeting": meetings,
        "attendance": list(attendance.values()),
        "commitment": commitments,
        "pulse": pulses,
    }


@settings(max_examples=300, deadline=None)
@given(circles(), st.sets(st.sampled_from(METRICS)))
def test_no_figure_over_fewer_than_three_people(records: Any, reported: set[str]) -> None:
    report = pr.compute("c" * 32, records, reported)
    for name, metric in report["metrics"].items():
        if name not in reported:
            assert metric == {"not_reported": True}
            continue
        if "fewer_than" in metric:
            assert set(metric) == {"fewer_than"}
            continue
        assert _people(metric) is not None and metric["people"] >= 3
        for point in metric.get("trend", []):
            assert point["people"] >= 3
        # The people counted are real: that many distinct members stand behind it.
        if name == "commitments":
            reviewed = {c["owner"] for c in records["commitment"] if c["status"] != "open"}
            assert len(reviewed) == metric["people"]
    # What the view shows agrees: a figure, or the reason there is none.
    for name in METRICS:
        text = pr.shown(report["metrics"][name])
        assert text in ("not reported", "fewer than 3") or name in reported


def test_figures_of_a_circle_that_meets() -> None:
    a, b, c, d = MEMBERS[:4]
    m1, m2, m3 = MEETINGS[:3]
    records = {
        "meeting": [
            {"id": m1, "at": "2026-01-05T10:00:00+00:00", "status": "closed"},
            {"id": m2, "at": "2026-01-19T10:00:00+00:00", "status": "closed"},
            {"id": m3, "at": "2026-02-02T10:00:00+00:00", "status": "planned"},
        ],
        "attendance": [
            {"id": f"{m}:{p}", "meeting": m, "member": p, "present": p != d or m == m2}
            for m in (m1, m2)
            for p in (a, b, c, d)
        ],
        "commitment": [
            {"id": "1", "owner": a, "status": "kept"},
            {"id": "2", "owner": b, "status": "kept"},
            {"id": "3", "owner": c, "status": "dropped"},
            {"id": "4", "owner": d, "status": "open"},
        ],
        "pulse": [
            {"id": f"{m}{p}", "meeting": m, "member": p, "support": s, "confidence": s,
             "learning": s}
            for m, s in ((m1, 3), (m2, 4))
            for p in (a, b, c)
        ] + [{"id": "x", "meeting": m1, "member": d, "support": 1, "confidence": 1,
              "learning": 1}],
    }  # fmt: skip
    report = pr.compute("c" * 32, records, METRICS)["metrics"]
    assert report["meetings"] == {"held": 2, "people": 4}
    assert report["attendance"] == {"rate": 0.875, "people": 4}
    assert report["commitments"] == {"kept": 2, "reviewed": 3, "rate": 0.667, "people": 3}
    assert [p["support"] for p in report["pulse"]["trend"]] == [2.5, 4.0]
    assert pr.shown(report["meetings"]) == "2 held"
    assert pr.shown(report["attendance"]) == "88%"
    assert pr.shown(report["commitments"]) == "2/3 kept (67%)"
    assert pr.shown(report["pulse"]) == "2.5 → 4.0"
    # Two people: nothing but the reason.
    two = {k: [r for r in v if r.get("member", r.get("owner")) in (a, b, None)]
           for k, v in records.items()}  # fmt: skip
    small = pr.compute("c" * 32, two, METRICS)["metrics"]
    assert all(v == {"fewer_than": 3} for v in small.values()), small


def test_the_view_refuses_a_small_figure_a_report_carries() -> None:
    """A modified client could send a figure over two people: the view never shows it."""
    assert pr.shown({"held": 5, "people": 2}) == "fewer than 3"
    assert pr.shown({"rate": 0.5}) == "fewer than 3"
    assert pr.safe({"rate": 0.5, "people": 1}) == {"fewer_than": 3}
    trend = {"trend": [{"at": "x", "support": 1, "confidence": 1, "learning": 1, "people": 2}],
             "people": 3}  # fmt: skip
    assert pr.shown(trend) == "fewer than 3" and pr.safe(trend) == {"fewer_than": 3}
    assert pr.shown(None) == "not reported" and pr.shown({"not_reported": True}) == "not reported"
