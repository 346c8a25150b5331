"""`xcircle programme publish|view|handover|reporting` through the command only, with
the real exchange in process: the mail-merge CSV (0600, one row per participant), a
second publish that invites nobody again, the view, and bad input as one line."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import sync.client
from xcircle.cli import cli

from .helpers import URL, Exchange, Faults
from .test_programme_publish import _csv


@pytest.fixture
def xc(tmp_path: Path, exchange: Exchange, monkeypatch: pytest.MonkeyPatch) -> Any:
    real = sync.client.ExchangeClient.__init__
    state = {"down": False}

    def init(self: Any, *args: Any, **kw: Any) -> None:
        lost = "request" if state["down"] else None
        kw["transport"] = Faults(exchange.bridge, plan=lambda _i, _r: lost)
        real(self, *args, **kw)

    monkeypatch.setattr(sync.client.ExchangeClient, "__init__", init)
    monkeypatch.chdir(tmp_path)  # the default --out lands here

    def run(home: str, *args: str, code: int = 0) -> Any:
        if args == ("exchange-down",):
            state["down"] = True
            return None
        result = CliRunner().invoke(cli, ["--home", str(tmp_path / home), *args])
        assert result.exit_code == code, (args, result.output, result.stderr)
        if code:
            assert "Traceback" not in result.output
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result

    return run


def _programme(xc: Any, tmp_path: Path, home: str = "cora") -> str:
    xc(home, "init", "--name", "Cora", "--org", "Acme")
    made = orjson.loads(xc(home, "programme", "create", "Spring", "--json").stdout)
    xc(home, "programme", "import", made["id"], str(_csv(tmp_path / "pool.csv")))
    xc(home, "programme", "form", made["id"], "--size", "4", "--max-per-org", "2")
    return str(made["id"])


def test_publish_writes_the_mail_merge_file_and_is_idempotent(
    xc: Any, exchange: Exchange, tmp_path: Path
) -> None:
    ref = _programme(xc, tmp_path)
    xc("cora", "join", URL, exchange.enrollment("Acme"))
    out = tmp_path / "invites.csv"
    first = orjson.loads(
        xc("cora", "programme", "publish", ref, "--out", str(out), "--json").stdout
    )
    assert len(first["created"]) == 2 and first["invited"] == 8
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [*rows[0]] == ["name", "email", "circle", "code", "expires"]
    assert sorted(r["email"] for r in rows) == sorted(
        f"{n}@example.org" for n in ("ana", "ben", "cy", "di", "ed", "flo", "gus", "hal")
    )
    assert {r["circle"] for r in rows} == {"Spring · circle 1", "Spring · circle 2"}
    assert all(r["code"].startswith("xcs_") and r["expires"] for r in rows)
    again = xc("cora", "programme", "publish", ref, "--out", str(out))
    assert "(0 new); 0 new invite(s), 8 open" in again.stdout
    assert sorted(csv.DictReader(io.StringIO(out.read_text())), key=str) == sorted(rows, key=str)

    view = orjson.loads(xc("cora", "programme", "view", ref, "--json").stdout)
    assert len(view["circles"]) == 2
    assert all(c["reported_at"] is None for c in view["circles"])
    assert [c["name"] for c in view["circles"]] == ["Spring · circle 1", "Spring · circle 2"]
    text = xc("cora", "programme", "view", ref).stdout
    assert "no report yet" in text

    cid = first["created"][0]
    shown = orjson.loads(xc("cora", "programme", "reporting", cid, "--json").stdout)
    assert shown["reports"] == ["meetings", "attendance", "commitments", "pulse"]
    xc("cora", "programme", "reporting", cid, "--set", "meetings,pulse")
    assert "meetings, pulse" in xc("cora", "programme", "reporting", cid).stdout


def test_bad_input_is_one_line(xc: Any, exchange: Exchange, tmp_path: Path) -> None:
    ref = _programme(xc, tmp_path)
    # Not joined to an exchange: nothing is made.
    bad = xc("cora", "programme", "publish", ref, code=1)
    assert "join" in bad.stderr
    assert not (tmp_path / "cora" / "circles").exists() or not any(
        (tmp_path / "cora" / "circles").iterdir()
    )
    xc("cora", "join", URL, exchange.enrollment("Acme"))
    assert "7d" in xc("cora", "programme", "publish", ref, "--ttl", "30d", code=1).stderr
    assert "valid" in xc("cora", "programme", "publish", ref, "--ttl", "soon", code=1).stderr
    xc("cora", "programme", "publish", "no-such-programme", code=1)
    xc("cora", "programme", "view", ref, code=1)  # never published: the exchange knows none
    xc("cora", "programme", "handover", ref, "nope", "Ana", code=1)
    made = orjson.loads(xc("cora", "programme", "publish", ref, "--json").stdout)
    assert (tmp_path / "invites.csv").exists()
    cid = made["created"][0]
    assert (
        "unknown metric"
        in xc("cora", "programme", "reporting", cid, "--set", "salaries", code=1).stderr
    )
    # Ana has not joined yet: there is nobody to hand over to.
    xc("cora", "programme", "handover", ref, cid, "Cora", code=1)
    # An unreachable exchange: one line.
    xc("cora", "exchange-down")
    assert "cannot reach" in xc("cora", "programme", "publish", ref, code=1).stderr
