"""The proof that a meeting is scriptable end to end: the same two meetings (attendance,
a round with feedback edited and removed, commitments, a renegotiation, pulses, close,
minutes) run once from the CLI alone and once through the calls the app's screens make,
end in the same state.

`SCRIPT` is the meeting, step by step, with members named; `run_cli` plays it through
`xcircle …` commands, `run_services` through the services as the screens call them (the
round started by the facilitator, feedback given in the round's order). `meeting_state`
is what a member would check afterwards, by name: it is what both runs must agree on.
A Pilot test can play `SCRIPT` through the screens and compare with `EXPECTED` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from xcircle.cli import cli
from xcircle.export_minutes import minutes_markdown
from xcircle.services import Services
from xcircle.store import Store

FIRST, SECOND = "2099-12-01", "2099-12-15"
MEMBERS = (("Bob Stone", "Beta"), ("Cy Young", "Gamma"))  # and me, Ada Lovelace (Acme)

# (action, arguments): names for members, dates for meetings, texts for feedback and
# commitments (each text is unique, so it names its record).
Step = tuple[str, tuple[Any, ...]]
SCRIPT: tuple[Step, ...] = (
    ("plan", (FIRST,)),
    ("start", (FIRST,)),
    ("attend", (FIRST, ("Ada Lovelace", "Bob Stone"), True)),
    ("attend", (FIRST, ("Cy Young",), False)),
    ("round", (FIRST,)),
    ("feedback", (FIRST, "Ada Lovelace", "Bob Stone", "advice", "Wrong field")),
    ("edit", ("Wrong field", "What would change?", "question")),
    ("feedback", (FIRST, "Ada Lovelace", "Bob Stone", "challenge", "Typo, remove me")),
    ("remove", ("Typo, remove me",)),
    ("feedback", (FIRST, "Bob Stone", "Ada Lovelace", "support", "A bold move")),
    ("commit", (FIRST, "Ada Lovelace", "Write it down", "2099-12-08")),
    ("commit", (FIRST, "Bob Stone", "Ask my director", "2099-12-10")),
    ("pulse", (FIRST, "Ada Lovelace", 4, 4, 5)),
    ("pulse", (FIRST, "Bob Stone", 3, 4, 4)),
    ("close", (FIRST,)),
    ("plan", (SECOND,)),
    ("start", (SECOND,)),
    ("attend", (SECOND, ("Ada Lovelace", "Bob Stone", "Cy Young"), True)),
    ("review", ("Write it down", "kept", None, None)),
    ("review", ("Ask my director", "renegotiated", "Email my director", "2099-12-20")),
    ("pulse", (SECOND, "Cy Young", 5, 3, 4)),
    ("close", (SECOND,)),
)


# -- the CLI half ------------------------------------------------------------------------


def run_cli(home: Path) -> None:
    """Play `SCRIPT` with `xcircle` commands only."""
    runner = CliRunner()

    def x(*args: str) -> Any:
        result = runner.invoke(cli, ["--home", str(home), *args, "--json"])
        assert result.exit_code == 0, (args, result.stderr)
        return orjson.loads(result.stdout)

    x("init", "--name", "Ada Lovelace", "--org", "Acme", "--tz", "Europe/Paris")
    x("circle", "create", "Leaders")
    for name, org in MEMBERS:
        x("member", "add", "Leaders", name, "--org", org)
    feedback: dict[str, str] = {}
    for action, a in SCRIPT:
        if action == "plan":
            x("meeting", "plan", "Leaders", "--at", f"{a[0]}T18:00")
        elif action == "start":
            x("meeting", "start", a[0])
        elif action == "attend":
            x("meeting", "attend", a[0], *a[1], *([] if a[2] else ["--absent"]))
        elif action == "round":
            pass  # the CLI has no round to start: feedback names its presenter
        elif action == "feedback":
            day, presenter, giver, kind, text = a
            rec = x("feedback", "add", day, "--presenter", presenter, "--giver", giver,
                    "--kind", kind, text)  # fmt: skip
            feedback[text] = rec["id"]
        elif action == "edit":
            old, text, kind = a
            feedback[text] = x("feedback", "edit", feedback[old], text, "--kind", kind)["id"]
        elif action == "remove":
            x("feedback", "remove", feedback[a[0]])
        elif action == "commit":
            day, owner, text, due = a
            x("commitment", "add", day, "--owner", owner, text, "--due", due)
        elif action == "review":
            text, status, new_text, due = a
            extra = ["--text", new_text, "--due", due] if new_text else []
            x("commitment", "review", text, status, *extra)
        elif action == "pulse":
            day, member, s, c, lr = a
            x("pulse", "add", day, "--member", member, "--support", str(s),
              "--confidence", str(c), "--learning", str(lr))  # fmt: skip
        elif action == "close":
            x("meeting", "close", a[0])
        else:
            raise AssertionError(action)


# -- the services half (what the screens call) ------------------------------------------


def run_services(svc: Services) -> None:
    """Play `SCRIPT` through the service calls the app's screens make."""
    svc.init_profile("Ada Lovelace", "Acme", zone="Europe/Paris")
    cid = svc.circles.create("Leaders")["id"]
    for name, org in MEMBERS:
        svc.members.add(cid, name, org=org)
    names = {m["name"]: m["id"] for m in svc.members.all(cid)}
    meetings: dict[str, str] = {}
    said: dict[str, str] = {}
    for action, a in SCRIPT:
        if action == "plan":
            meetings[a[0]] = svc.meetings.schedule(cid, f"{a[0]}T18:00")["id"]
            continue
        if action in ("start", "attend", "round", "feedback", "commit", "pulse", "close"):
            mid = meetings[a[0]]
        if action == "start":
            svc.meetings.start(cid, mid)
        elif action == "attend":
            svc.meetings.mark_many(cid, mid, [names[n] for n in a[1]], a[2])
        elif action == "round":
            svc.rounds.start(cid, mid)
        elif action == "feedback":
            _, presenter, giver, kind, text = a
            rec = svc.rounds.feedback(cid, mid, names[presenter], names[giver], kind, text)
            said[text] = rec["id"]
        elif action == "edit":
            old, text, kind = a
            said[text] = svc.rounds.edit_feedback(cid, said[old], text=text, kind=kind)["id"]
        elif action == "remove":
            svc.rounds.remove_feedback(cid, said[a[0]])
        elif action == "commit":
            _, owner, text, due = a
            svc.commitments.add(cid, names[owner], text, due=due, meeting=mid)
        elif action == "review":
            text, status, new_text, due = a
            found = svc.ctx.find_record("commitment", text, "commitment", label="text")
            running = [m for m in svc.meetings.all(cid) if m["status"] == "running"]
            svc.commitments.review(
                cid, found["id"], status, meeting=running[-1]["id"], text=new_text, due=due
            )
        elif action == "pulse":
            _, member, s, c, lr = a
            svc.pulses.record(cid, mid, names[member], support=s, confidence=c, learning=lr)
        elif action == "close":
            svc.meetings.close(cid, mid)


# -- what both must agree on -------------------------------------------------------------


def meeting_state(svc: Services) -> dict[str, Any]:
    """The circle's meetings as a member checks them, by name (ids and times differ
    between two runs): status, facilitator, attendance, feedback (and how much was
    removed), commitments, pulses, and the minutes as exported."""
    (cid,) = svc.circles.ids()
    names: dict[str, str] = {m["id"]: m["name"] for m in svc.members.all(cid)}
    texts = {c["id"]: c["text"] for c in svc.commitments.all(cid)}
    by_day: dict[str, Any] = {}
    # Tombstones as synced (the raw records every replica holds), per meeting.
    raw_feedback = orjson.loads(svc.store.canonical(cid)).get("feedback", {}).values()
    for m in svc.meetings.all(cid):
        mid = m["id"]
        tombstones = sum(1 for r in raw_feedback if "_d" in r and r.get("meeting") == mid)
        by_day[m["at"][:10]] = {
            "status": m["status"],
            "facilitator": names.get(m.get("facilitator") or ""),
            "attendance": {names[k]: v for k, v in svc.meetings.attendance(cid, mid).items()},
            "feedback": [
                (names[f["presenter"]], names[f["giver"]], f["kind"], f["text"])
                for f in svc.rounds.feedback_for(cid, mid)
            ],
            "feedback_removed": tombstones,
            "commitments": sorted(
                (
                    names[c["owner"]],
                    c["text"],
                    c.get("due"),
                    c["status"],
                    texts.get(c.get("replaces") or ""),
                )
                for c in svc.commitments.all(cid)
                if c.get("meeting") == mid
            ),
            "reviewed": sorted(
                (c["text"], c["status"])
                for c in svc.commitments.all(cid)
                if c.get("reviewed_in") == mid
            ),
            "pulses": {
                names[k]: (p["support"], p["confidence"], p["learning"])
                for k, p in svc.pulses.for_meeting(cid, mid).items()
            },
            "minutes": minutes_markdown(svc.minutes(cid, mid)),
        }
    return by_day


EXPECTED_FIRST = {
    "status": "closed",
    "facilitator": "Ada Lovelace",
    "attendance": {"Ada Lovelace": True, "Bob Stone": True, "Cy Young": False},
    "feedback": [
        ("Ada Lovelace", "Bob Stone", "question", "What would change?"),
        ("Bob Stone", "Ada Lovelace", "support", "A bold move"),
    ],
    "feedback_removed": 2,  # the edited item's old version, and the typo
    "commitments": [
        ("Ada Lovelace", "Write it down", "2099-12-08", "kept", None),
        ("Bob Stone", "Ask my director", "2099-12-10", "renegotiated", None),
    ],
    "reviewed": [],
    "pulses": {"Ada Lovelace": (4, 4, 5), "Bob Stone": (3, 4, 4)},
}


def test_a_meeting_run_from_the_cli_ends_as_in_the_app(tmp_path: Path) -> None:
    run_cli(tmp_path / "cli")
    with Store(tmp_path / "app") as store:
        app = Services(store)
        run_services(app)
        expected = meeting_state(app)
    with Store(tmp_path / "cli", read_only=True) as store:
        scripted = meeting_state(Services(store))
    assert scripted == expected
    first = scripted[FIRST]
    assert {k: v for k, v in first.items() if k != "minutes"} == EXPECTED_FIRST
    second = scripted[SECOND]
    assert second["facilitator"] == "Bob Stone"  # the rotation moved on
    assert second["reviewed"] == [("Ask my director", "renegotiated"), ("Write it down", "kept")]
    assert second["commitments"] == [
        ("Bob Stone", "Email my director", "2099-12-20", "open", "Ask my director")
    ]
    minutes = first["minutes"]
    for line in (
        "- Facilitator: Ada Lovelace",
        "- Present (2): Ada Lovelace, Bob Stone",
        "- Absent (1): Cy Young",
        "1. Ada Lovelace\n2. Bob Stone",
        "2 members rated the meeting (1–5): support 3.50, confidence 4.00, learning 4.50.",
    ):
        assert line in minutes, line
    assert "bold move" not in minutes  # the default agreements keep feedback out
