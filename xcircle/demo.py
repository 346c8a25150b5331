"""A demo home: two partner organizations, three circles with a living history.

Seeded so a new user sees the app at work: meetings held with feedback rounds,
commitments made and reviewed, goals with check-ins, pulses, and meetings ahead.
Deterministic for a given `now` and seed (snapshot tests rely on it).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from xcircle.domain import CLASSIC_KINDS
from xcircle.ops import deterministic_ids
from xcircle.services import Services
from xcircle.store import Store

ME = ("Alex Morgan", "Northwind Health", "mid")

CIRCLES = [
    {
        "name": "Leading Through Change",
        "purpose": "Leaders from Northwind Health and Riverside Council help each other "
        "lead teams through reorganisation without losing people or purpose.",
        "outcomes": [
            "Each of us has a plan for one hard conversation a month",
            "We leave every meeting more confident than we came",
        ],
        "frequency": "biweekly",
        "duration": 90,
        "mode": "hybrid",
        "members": [
            ("Priya Shah", "Riverside Council", "senior", ["strategy", "change"]),
            ("Tomás Ortega", "Northwind Health", "mid", ["operations"]),
            ("Grace Okafor", "Riverside Council", "mid", ["people", "coaching"]),
            ("Jonas Berg", "Northwind Health", "junior", ["data"]),
            ("Mei Lin", "Riverside Council", "senior", ["finance"]),
        ],
        "held": 5,
        "every": 14,
    },
    {
        "name": "New Managers Circle",
        "purpose": "First-time managers across both organizations learn the craft together.",
        "outcomes": ["Confidence giving feedback", "A personal management playbook"],
        "frequency": "weekly",
        "duration": 60,
        "mode": "online",
        "members": [
            ("Sam Whitaker", "Northwind Health", "junior", ["feedback"]),
            ("Aisha Rahman", "Riverside Council", "junior", ["delegation"]),
            ("Leo Duval", "Riverside Council", "mid", ["hiring"]),
            ("Noor Haddad", "Northwind Health", "junior", ["1:1s"]),
        ],
        "held": 3,
        "every": 7,
    },
    {
        "name": "Data & Digital Peers",
        "purpose": "Analysts and engineers sharing how to make data useful to the front line.",
        "outcomes": ["Ship one improvement each quarter"],
        "frequency": "monthly",
        "duration": 90,
        "mode": "in-person",
        "members": [
            ("Ravi Menon", "Riverside Council", "senior", ["analytics"]),
            ("Hannah Vogel", "Northwind Health", "mid", ["platforms"]),
            ("Chris Adeyemi", "Riverside Council", "mid", ["dashboards"]),
        ],
        "held": 0,
        "every": 30,
    },
]

CHALLENGES = [
    "How do I tell my team about the merger before the rumours do?",
    "A senior colleague keeps undermining decisions in meetings.",
    "I say yes to everything and my own work slips.",
    "My team is exhausted after the restructure; how do I rebuild energy?",
    "I need to give hard feedback to someone who used to be my peer.",
    "Budget cuts mean choosing which project to stop.",
    "I'm not sure I want the promotion I'm being offered.",
]
FEEDBACK = {
    "question": [
        "What would success look like in a month?",
        "Who else already knows?",
        "What have you tried so far?",
    ],
    "challenge": [
        "Are you protecting them or yourself by waiting?",
        "Is this really about time, or about saying no?",
    ],
    "support": [
        "You handled something similar brilliantly last spring.",
        "I've been there; it does get easier.",
    ],
    "advice": [
        "Try a short written note first, then talk.",
        "Block an hour a week that nobody can book.",
    ],
}
COMMITMENTS = [
    "Have the conversation before our next meeting",
    "Draft a one-page plan and share it with the circle",
    "Say no to one request this week",
    "Ask two team members what drains their energy",
    "Book a 1:1 with my director about priorities",
]
GOALS = [
    ("Run a team retrospective every month", "Give the team a voice", "3 retros held"),
    ("Delegate one recurring task", "Free time for strategy", "Task owned by someone else"),
    ("Build a peer feedback habit", "Grow as a circle", "Everyone gives feedback weekly"),
]


def seed_demo(store: Store, now: datetime | None = None, seed: int = 7) -> None:
    """Fill an empty home with the demo; a no-op if the home already has circles."""
    if store.circle_ids():
        return
    now = now or datetime.now().astimezone()
    rng = random.Random(seed)
    with deterministic_ids(seed):
        _seed(store, now, rng)


def _seed(store: Store, now: datetime, rng: random.Random) -> None:
    clock = _Stepper(now)
    svc = Services(store, clock=clock)
    svc.init_profile(ME[0], ME[1], seniority=ME[2])
    for spec in CIRCLES:
        start = now - timedelta(days=spec["every"] * spec["held"] + 2)  # type: ignore[operator]
        start = start.replace(hour=0, minute=0, second=0, microsecond=0)  # meetings at 18:00
        clock.at = start - timedelta(days=7)
        circle = svc.circles.create(
            str(spec["name"]),
            purpose=str(spec["purpose"]),
            outcomes=list(spec["outcomes"]),  # type: ignore[call-overload]
            frequency=str(spec["frequency"]),
            duration=int(spec["duration"]),  # type: ignore[call-overload]
            mode=str(spec["mode"]),
        )
        cid = circle["id"]
        for name, org, seniority, topics in spec["members"]:  # type: ignore[attr-defined]
            svc.members.add(cid, name, org=org, seniority=seniority, topics=topics)
        members = [m["id"] for m in svc.members.all(cid)]
        for i, (title, why, measure) in enumerate(GOALS[: 2 + (len(members) > 4)]):
            owner = None if i == 2 else members[(i * 2) % len(members)]
            due = (now + timedelta(days=30 + 15 * i)).date().isoformat()
            svc.goals.add(cid, title, owner=owner, why=why, measure=measure, due=due)
        held = int(spec["held"])  # type: ignore[call-overload]
        for n in range(held):
            clock.at = start + timedelta(days=spec["every"] * n, hours=18)  # type: ignore[operator]
            _hold_meeting(svc, cid, members, clock, rng, kickoff=n == 0)
            for g in svc.goals.all(cid):
                progress = min(100, 15 * (n + 1) + rng.randint(0, 10))
                svc.goals.checkin(
                    cid,
                    g["id"],
                    progress=progress,
                    confidence=rng.randint(2, 5),
                    note=rng.choice(["Steady progress.", "Slower week.", "Breakthrough!", ""]),
                )
        clock.at = now - timedelta(minutes=5)
        nxt = now + timedelta(days=3 if held else 6)
        nxt = nxt.replace(hour=18, minute=0, second=0, microsecond=0)
        svc.meetings.plan(cid, nxt, themes=["Review commitments", "Open round"])
    clock.at = now
    first = svc.circles.ids()[0]
    svc.reflections.add(first, "Noticed I rush to advice. Ask one more question first.")


def _hold_meeting(
    svc: Services,
    cid: str,
    members: list[str],
    clock: _Stepper,
    rng: random.Random,
    *,
    kickoff: bool,
) -> None:
    meeting = svc.meetings.plan(cid, clock(), themes=[rng.choice(["Trust", "Energy", "Focus"])])
    mid = meeting["id"]
    present = [m for m in members if kickoff or rng.random() > 0.15]
    for m in members:
        svc.meetings.mark(cid, mid, m, m in present)
    svc.meetings.start(cid, mid)
    if kickoff:
        for m in present:
            svc.meetings.acknowledge(cid, m, mid)
    for c in svc.commitments.to_review(cid, mid):
        status = rng.choice(["kept", "kept", "renegotiated", "dropped"])
        if status == "renegotiated":
            due = (clock() + timedelta(days=14)).date().isoformat()
            text = f"{c['text'].rstrip('.')}, one step at a time."
            svc.commitments.review(cid, c["id"], status, meeting=mid, text=text, due=due)
        else:
            svc.commitments.review(cid, c["id"], status, meeting=mid)
    state = svc.rounds.start(cid, mid)
    for presenter in state["order"][:3]:
        svc.rounds.set_challenge(cid, mid, presenter, rng.choice(CHALLENGES))
        for giver in state["order"]:
            if giver == presenter:
                continue
            kind = rng.choice(CLASSIC_KINDS)
            svc.rounds.feedback(cid, mid, presenter, giver, kind, rng.choice(FEEDBACK[kind]))
        svc.rounds.set_reflection(cid, mid, presenter, "Useful: I'll start with the question.")
        due = (clock() + timedelta(days=10)).date().isoformat()
        svc.commitments.add(cid, presenter, rng.choice(COMMITMENTS), due=due, meeting=mid)
    while not svc.rounds.state(cid, mid)["done"]:
        svc.rounds.advance(cid, mid)
    for m in present:
        svc.pulses.record(
            cid,
            mid,
            m,
            support=rng.randint(3, 5),
            confidence=rng.randint(2, 5),
            learning=rng.randint(3, 5),
        )
    svc.meetings.close(cid, mid, notes="Good energy; two strong commitments.")


class _Stepper:
    """A clock that moves a minute forward each time it is read (distinct, ordered times)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=20)
        return self.at


SeedFn = Callable[[Store, datetime | None, int], None]
