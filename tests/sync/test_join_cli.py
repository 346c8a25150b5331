"""The invite → accept → confirm flow through the `xcircle` command only, on three
homes in two organizations, with the real exchange in process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import sync.client
from xcircle.cli import cli

from .helpers import URL, Exchange, Faults


@pytest.fixture
def xc(tmp_path: Path, exchange: Exchange, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`xc(home, *args, code=0)`: run `xcircle --home HOME args…`, check the exit code,
    return the result; every client the commands make talks to the in-process exchange."""
    real = sync.client.ExchangeClient.__init__

    def init(self: Any, *args: Any, **kw: Any) -> None:
        kw["transport"] = Faults(exchange.bridge)
        real(self, *args, **kw)

    monkeypatch.setattr(sync.client.ExchangeClient, "__init__", init)

    def run(home: str, *args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(cli, ["--home", str(tmp_path / home), *args])
        assert result.exit_code == code, (args, result.output, result.stderr)
        return result

    return run


def js(result: Any) -> Any:
    return orjson.loads(result.stdout)


def test_invite_accept_confirm_through_the_cli(xc: Any, exchange: Exchange) -> None:
    people = {"ada": ("Ada", "Acme"), "bea": ("Bea", "Borealis"), "cai": ("Cai", "Acme")}
    exchange.org("Borealis")
    for home, (name, org) in people.items():
        xc(home, "init", "--name", name, "--org", org)
        token = exchange.enrollment(org)
        xc(home, "join", URL, token)
    cid = js(xc("ada", "circle", "create", "Leaders", "--purpose", "Grow", "--json"))["id"]
    xc("ada", "agreement", "add", cid, "Confidentiality", "What is said here stays")
    xc("ada", "goal", "add", cid, "Ada's own goal, said before Bea joined")
    xc("ada", "goal", "add", cid, "Grow together", "--group")
    shared = js(xc("ada", "circle", "share", cid, "--json"))
    assert shared["circles"][cid]["pushed"] > 0

    code = xc("ada", "circle", "invite", cid).stdout.strip()
    assert code.startswith("xcs_") and code.endswith(f"@{URL}")
    accepted = xc("bea", "circle", "accept", code)
    assert "Waiting for a convener's device to confirm" in accepted.stdout
    status = js(xc("bea", "status", "--json"))
    fingerprint = status["fingerprint"]
    assert fingerprint in accepted.stdout
    assert [(c["id"], c["waiting"]) for c in status["circles"]] == [(cid, True)]
    assert "waiting" in xc("bea", "status").stdout

    waiting = xc("bea", "sync")
    assert "waiting for a convener's device" in waiting.stdout
    confirmed = xc("ada", "sync")
    assert f"Bea (Borealis) joined · fingerprint {fingerprint}" in confirmed.stdout
    joined = xc("bea", "sync")
    assert "You joined Leaders" in joined.stdout and joined.stderr == ""
    assert not js(xc("bea", "status", "--json"))["circles"][0]["waiting"]

    # Bea invites Cai: a member's invite is confirmed by Ada's (a convener's) device.
    code = xc("bea", "invite", cid).stdout.strip()
    xc("cai", "accept", code)
    assert "joined" not in xc("bea", "sync").stdout
    assert "Cai (Acme) joined" in xc("ada", "sync").stdout
    xc("cai", "sync")
    xc("cai", "goal", "add", cid, "Speak up")
    for home in ("cai", "ada", "bea"):
        report = js(xc(home, "sync", "--json"))
        assert report["warnings"] == [] and all(
            c["quarantined"] == [] for c in report["circles"].values()
        )
    shown = [js(xc(h, "circle", "show", cid, "--json")) for h in ("ada", "bea", "cai")]
    assert shown[1] == shown[2] and shown[0]["members"] == shown[1]["members"]
    assert {m["name"] for m in shown[0]["members"]} == {"Ada", "Bea", "Cai"}
    assert "Confidentiality" in {a["title"] for a in shown[0]["agreements"]}
    assert shown[0]["agreements"] == shown[1]["agreements"] == shown[2]["agreements"]
    # Ada's individual goal was said before the others joined: only Ada reads it.
    titles = [{g["title"] for g in s["goals"]} for s in shown]
    assert titles[1] == titles[2] == {"Grow together", "Speak up"}
    assert titles[0] == titles[1] | {"Ada's own goal, said before Bea joined"}
