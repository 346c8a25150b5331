"""Programme use cases: storage on the coordinator's device, forming, moves, locks."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from tests.programme_pools import pool, row, write_csv
from xcircle.errors import InvalidInput, StoreError
from xcircle.programmes import forming
from xcircle.programmes.csvimport import participant_id
from xcircle.programmes.store import ProgrammeStore
from xcircle.services import Services
from xcircle.services.programmes import MOVED_OUT


@pytest.fixture
def store_home(svc: Services) -> Path:
    return Path(svc.store.home)


@pytest.fixture
def formed(svc: Services, tmp_path: Path) -> str:
    svc.programmes.create("Spring 2027")
    svc.programmes.import_csv("spring", write_csv(tmp_path / "p.csv", pool(24)))
    svc.programmes.form("spring", seed=1)
    return "spring"


def pid(k: int) -> str:
    return participant_id(f"p{k}@example.org")


def test_a_programme_is_one_private_file_in_the_home(svc: Services, store_home: Path) -> None:
    made = svc.programmes.create("  Spring   2027 ")
    assert made.name == "Spring 2027"
    path = store_home / "programmes" / f"{made.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in svc.programmes.list()] == ["Spring 2027"]
    assert svc.programmes.get(made.id[:4]) == made == svc.programmes.get("SPRING 2027")
    assert not list(path.parent.glob(".*.tmp"))


def test_names_are_unique_and_references_must_be_clear(svc: Services) -> None:
    svc.programmes.create("Spring")
    svc.programmes.create("Spring two")
    with pytest.raises(InvalidInput, match="already a programme named"):
        svc.programmes.create("spring")
    with pytest.raises(InvalidInput, match="more than one programme"):
        svc.programmes.get("spr")
    with pytest.raises(InvalidInput, match="no programme 'autumn'"):
        svc.programmes.get("autumn")
    with pytest.raises(InvalidInput, match="needs a name"):
        svc.programmes.create("   ")


def test_a_damaged_programme_file_is_one_clear_error(svc: Services, store_home: Path) -> None:
    made = svc.programmes.create("Spring")
    (store_home / "programmes" / f"{made.id}.json").write_bytes(b'{"id": 1')
    with pytest.raises(StoreError, match="is damaged"):
        svc.programmes.list()


def test_forming_saves_the_staging_and_the_rules_given(svc: Services, formed: str) -> None:
    p = svc.programmes.form(formed, size=4, max_per_org=1, seed=3)
    again = svc.programmes.get(formed)
    assert again == p
    assert (p.rules.size, p.rules.max_per_org) == (4, 1)
    assert len(p.staged) == 6 and p.unplaced == ()
    raw = orjson.loads(next((ProgrammeStore(svc.store.home).dir).glob("*.json")).read_bytes())
    assert raw["rules"]["size"] == 4 and len(raw["staged"]) == 6


def test_forming_refuses_an_empty_pool(svc: Services) -> None:
    svc.programmes.create("Empty")
    with pytest.raises(InvalidInput, match="no participants yet"):
        svc.programmes.form("Empty")


def test_size_out_of_range_names_the_option(svc: Services, formed: str) -> None:
    with pytest.raises(InvalidInput, match="between 4 and 8") as caught:
        svc.programmes.form(formed, size=9)
    assert caught.value.field == "size"
    with pytest.raises(InvalidInput, match="at least 1") as caught:
        svc.programmes.form(formed, max_per_org=0)


def test_a_move_rescores_both_circles_and_shows_broken_rules(svc: Services, formed: str) -> None:
    p = svc.programmes.get(formed)
    org_of = {m: x.organization for m, x in p.participants.items()}
    # Circles of 6 from 4 organizations, 2 at most each: some circle b already has 2 of
    # the organization of someone in another circle a.
    a, b, mover_id = next(
        (a, b, m)
        for a in p.staged
        for b in p.staged
        if a.id != b.id
        for m in a.members
        if sum(org_of[x] == org_of[m] for x in b.members) == 2
    )
    mover = p.participants[mover_id]
    moved = svc.programmes.move(formed, mover.email, b.id)
    a2, b2 = moved.circle(a.id), moved.circle(b.id)
    assert a2 is not None and b2 is not None
    assert mover.id not in a2.members and b2.members[-1] == mover.id
    assert b2.violations == (f"3 members from {mover.organization} (at most 2)",)
    assert a2.violations == ()
    assert a2.score == forming.score([p.participants[m] for m in a2.members], p.rules)[0]
    assert b2.score == forming.score([p.participants[m] for m in b2.members], p.rules)[0]
    assert (a2.score, b2.score) != (a.score, b.score)
    assert svc.programmes.get(formed) == moved


def test_a_move_below_the_minimum_size_is_made_and_flagged(svc: Services, formed: str) -> None:
    p = svc.programmes.form(formed, size=4)
    a = p.staged[0]
    for member in a.members[:1]:
        p = svc.programmes.move(formed, member, "-")
    a2 = p.circle(a.id)
    assert a2 is not None and a2.violations == ("3 members; a circle has 4 to 8",)
    assert [(u.participant, u.reason) for u in p.unplaced] == [(a.members[0], MOVED_OUT)]
    back = svc.programmes.move(formed, a.members[0], a.id)
    assert back.unplaced == () and back.circle(a.id).violations == ()  # type: ignore[union-attr]


def test_locked_circles_refuse_moves_and_survive_reforming(svc: Services, formed: str) -> None:
    p = svc.programmes.get(formed)
    keep, other = p.staged[0], p.staged[1]
    svc.programmes.lock(formed, keep.id)
    with pytest.raises(InvalidInput, match="is locked"):
        svc.programmes.move(formed, other.members[0], keep.id)
    with pytest.raises(InvalidInput, match="is locked"):
        svc.programmes.move(formed, keep.members[0], other.id)
    reformed = svc.programmes.reform(formed, seed=99)
    kept = reformed.circle(keep.id)
    assert kept is not None and kept.locked and kept.members == keep.members
    others = [c for c in reformed.staged if c.id != keep.id]
    assert all(c.id != keep.id and not c.locked for c in others)
    assert {m for c in others for m in c.members} == set(p.participants) - set(keep.members)
    unlocked = svc.programmes.unlock(formed, keep.id)
    assert not unlocked.circle(keep.id).locked  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="no staged circle 'zz'"):
        svc.programmes.lock(formed, "zz")


def test_unknown_people_and_circles_are_refused(svc: Services, formed: str) -> None:
    with pytest.raises(InvalidInput, match=r"no participant 'nobody@x\.org'") as caught:
        svc.programmes.move(formed, "nobody@x.org", "c1")
    assert caught.value.field == "participant"
    with pytest.raises(InvalidInput, match="no staged circle"):
        svc.programmes.move(formed, "Person 1", "c999")


def test_mark_published_records_and_locks(svc: Services, formed: str) -> None:
    p = svc.programmes.get(formed)
    staged = p.staged[2]
    invites = {m: f"code-{m}" for m in staged.members}
    marked = svc.programmes.mark_published(formed, staged.id, "circle-1", invites)
    assert marked.published == {staged.id: {"circle": "circle-1", "invites": invites}}
    assert marked.circle(staged.id).locked  # type: ignore[union-attr]
    reformed = svc.programmes.reform(formed, seed=5)
    assert reformed.circle(staged.id).members == staged.members  # type: ignore[union-attr]
    assert reformed.published == marked.published


def test_reimport_keeps_locked_circles_without_people_who_left(
    svc: Services, formed: str, tmp_path: Path
) -> None:
    p = svc.programmes.get(formed)
    keep = p.staged[0]
    svc.programmes.lock(formed, keep.id)
    leaver = keep.members[0]
    rows = [r for r in pool(24) if participant_id(r["email"]) != leaver] + [row(30)]
    again = svc.programmes.import_csv(formed, write_csv(tmp_path / "again.csv", rows))
    assert [c.id for c in again.staged] == [keep.id]
    assert again.staged[0].members == keep.members[1:]
    assert pid(30) in again.participants and leaver not in again.participants


def test_weights_decide_what_the_score_measures(svc: Services, formed: str) -> None:
    only_levels = {"organization": 0.0, "function": 0.0, "topic": 0.0}
    p = svc.programmes.form(formed, weights=only_levels)
    for c in p.staged:
        levels = [p.participants[m].seniority for m in c.members]
        counts = [levels.count(level) for level in ("junior", "mid", "senior")]
        n = len(levels)
        q, r = divmod(n, 3)
        best = 1 - (r * (q + 1) ** 2 + (3 - r) * q * q) / n**2
        assert c.score == round((1 - sum(k * k for k in counts) / n**2) / best, 4)
