"""Importing a programme's participants: every row or none, errors naming row and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.programme_pools import HEADER, pool, row, write_csv
from xcircle.programmes.csvimport import ImportFailed, participant_id
from xcircle.services import Services


@pytest.fixture
def programme(svc: Services, tmp_path: Path) -> str:
    svc.programmes.create("Spring")
    svc.programmes.import_csv("Spring", write_csv(tmp_path / "first.csv", pool(6)))
    return "Spring"


def refused(svc: Services, path: Path) -> ImportFailed:
    """Import `path`, expect a refusal, and check that the pool imported before is intact."""
    before = svc.programmes.get("Spring")
    with pytest.raises(ImportFailed) as caught:
        svc.programmes.import_csv("Spring", path)
    assert svc.programmes.get("Spring") == before
    assert "nothing was imported" in str(caught.value)
    return caught.value


def test_a_good_csv_gives_participants_relations_and_organizations(
    svc: Services, tmp_path: Path
) -> None:
    svc.programmes.create("Autumn")
    rows = pool(8)
    rows[1]["manager"] = "p0@example.org"
    rows[2]["not_with"] = "p3@example.org; P4@Example.org"
    p = svc.programmes.import_csv("Autumn", write_csv(tmp_path / "p.csv", rows))
    assert len(p.participants) == 8
    assert p.organizations == ("Org 0", "Org 1", "Org 2", "Org 3")
    ids = {x.email: x.id for x in p.participants.values()}
    assert p.manages == {(ids["p0@example.org"], ids["p1@example.org"])}
    assert p.not_with == {
        frozenset((ids["p2@example.org"], ids["p3@example.org"])),
        frozenset((ids["p2@example.org"], ids["p4@example.org"])),
    }
    person = p.participants[ids["p2@example.org"]]
    assert person.topics == ("leadership", "wellbeing")
    assert person.tz == "Europe/Berlin"


def test_headers_are_matched_loosely_and_optional_columns_may_be_absent(
    svc: Services, tmp_path: Path
) -> None:
    svc.programmes.create("Loose")
    header = ("Name", "Organisation", "SENIORITY", "Function", "Topics", "Time_Zone", "E-mail")
    rows = [
        {**row(k), "Name": f"N{k}", "Organisation": "Acme", "SENIORITY": "Mid",
         "Function": "hr", "Topics": "", "Time_Zone": "Asia/Kolkata",
         "E-mail": f"n{k}@acme.org"}
        for k in range(3)
    ]  # fmt: skip
    p = svc.programmes.import_csv("Loose", write_csv(tmp_path / "l.csv", rows, header))
    assert {x.seniority for x in p.participants.values()} == {"mid"}
    assert {x.topics for x in p.participants.values()} == {()}


def test_one_organization_spelled_two_ways_is_one(svc: Services, tmp_path: Path) -> None:
    svc.programmes.create("Cases")
    rows = [row(0, organization="Acme"), row(1, organization="ACME "), row(2, function="HR")]
    rows.append(row(4, function="ENGINEERING"))
    p = svc.programmes.import_csv("Cases", write_csv(tmp_path / "c.csv", rows))
    assert p.organizations == ("Acme", "Org 0", "Org 2")
    assert {x.function for x in p.participants.values()} == {"engineering", "sales", "HR"}


def test_reimporting_keeps_participant_ids(svc: Services, programme: str, tmp_path: Path) -> None:
    before = {x.email: x.id for x in svc.programmes.get(programme).participants.values()}
    rows = [row(k, name=f"Renamed {k}") for k in reversed(range(6))]
    after = svc.programmes.import_csv(programme, write_csv(tmp_path / "again.csv", rows))
    assert {x.email: x.id for x in after.participants.values()} == before
    assert before["p0@example.org"] == participant_id("P0@Example.org")


@pytest.mark.parametrize(
    ("change", "column", "words"),
    [
        ({"time zone": "Europe/Pariss"}, "time zone", "unknown time zone 'Europe/Pariss'"),
        ({"time zone": "../../etc/passwd"}, "time zone", "unknown time zone"),
        ({"seniority": "intern"}, "seniority", "unknown seniority 'intern'"),
        ({"email": "p0@example.org"}, "email", "also on row 2"),
        ({"email": "not-an-email"}, "email", "not an email address"),
        ({"not_with": "ghost@example.org"}, "not_with", "ghost@example.org is not anyone"),
        ({"manager": "ghost@example.org"}, "manager", "ghost@example.org is not anyone"),
        ({"manager": "p3@example.org"}, "manager", "cannot refer to themselves"),
        ({"name": "  "}, "name", "name is required"),
        ({"organization": ""}, "organization", "organization is required"),
        ({"name": "Eve\x1b[31m"}, "name", "not allowed"),
    ],
)
def test_a_bad_row_names_row_and_column_and_imports_nothing(
    svc: Services, programme: str, tmp_path: Path, change: dict[str, str], column: str, words: str
) -> None:
    rows = pool(6)
    rows[3] = {**rows[3], **change}  # the fourth participant: row 5 (the header is row 1)
    error = refused(svc, write_csv(tmp_path / "bad.csv", rows))
    assert str(error).startswith(f"row 5, column {column!r}: "), str(error)
    assert words in str(error)
    assert error.problems[0].row == 5


def test_every_bad_row_is_reported(svc: Services, programme: str, tmp_path: Path) -> None:
    rows = pool(6)
    rows[0]["seniority"] = "boss"
    rows[4]["time zone"] = "Mars/Olympus"
    error = refused(svc, write_csv(tmp_path / "two.csv", rows))
    assert [(p.row, p.column) for p in error.problems] == [(2, "seniority"), (6, "time zone")]
    assert "(and 1 more problems)" in str(error)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"name,organization\x00\n", "not a CSV file"),
        (b"name;organisation;email\nAnn;Acme;a@b.c\n", "not a participants CSV"),
        (b"", "empty"),
        (b"name,organization,seniority,function,topics,time zone,email\r\n", "no participants"),
        (b'name,"organization\n', "not a readable CSV"),
        ("Ä".encode("latin-1") + b",x\n", "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_participants_csv_is_refused(
    svc: Services, programme: str, tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    assert words in str(refused(svc, path))


def test_a_too_large_file_and_a_missing_file_are_refused(
    svc: Services, programme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xcircle.programmes import csvimport

    monkeypatch.setattr(csvimport, "MAX_BYTES", 200)
    big = write_csv(tmp_path / "big.csv", pool(10))
    assert "larger than" in str(refused(svc, big))
    assert "no file" in str(refused(svc, tmp_path / "missing.csv"))
    monkeypatch.setattr(csvimport, "MAX_BYTES", 5 * 2**20)
    monkeypatch.setattr(csvimport, "MAX_ROWS", 9)
    assert "more than 9 participants" in str(refused(svc, big))


def test_a_column_given_twice_is_refused(svc: Services, programme: str, tmp_path: Path) -> None:
    header = (*HEADER, "Email")
    error = refused(svc, write_csv(tmp_path / "twice.csv", pool(3), header))
    assert str(error).startswith("row 1, column 'Email': this column appears twice")


def test_a_row_with_more_cells_than_the_header_is_refused(
    svc: Services, programme: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "wide.csv", pool(3))
    path.write_text(path.read_text() + ",".join(["x"] * (len(HEADER) + 2)) + "\n")
    error = refused(svc, path)
    assert str(error).startswith("row 5: ")
