"""Roles and devices in a circle: conveners add and remove members, change roles and amend
agreements; anyone may leave; each member's devices are listed with their fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xcircle.cli import cli
from xcircle.errors import InvalidInput
from xcircle.keystore import keystore_of
from xcircle.services import Services


def test_the_creator_is_convener_and_her_device_is_listed(svc: Services) -> None:
    circle = svc.circles.create("Leads")["id"]
    me = svc.ctx.me(circle)
    assert me is not None and svc.members.role(circle, me) == "convener"
    devices = svc.members.devices(circle)[me]
    assert [d["fingerprint"] for d in devices] == [
        keystore_of(svc.store).device_keys().public.fingerprint
    ]


def test_a_member_cannot_remove_others_or_change_roles_but_may_leave(svc: Services) -> None:
    circle = svc.circles.create("Leads")["id"]
    me = svc.ctx.me(circle)
    assert me is not None
    bob = svc.members.add(circle, "Bob", org="Beta")["id"]
    cai = svc.members.add(circle, "Cai", org="Beta")["id"]
    svc.members.set_role(circle, me, "convener")
    with pytest.raises(InvalidInput, match="needs a convener"):
        svc.members.set_role(circle, me, "member")  # the last convener
    svc.members.set_role(circle, bob, "convener")
    svc.members.set_role(circle, me, "member")  # now Bob convenes
    assert svc.members.role(circle, me) == "member"
    with pytest.raises(InvalidInput, match="only a convener can remove"):
        svc.members.remove(circle, cai)
    with pytest.raises(InvalidInput, match="only a convener can change roles"):
        svc.members.set_role(circle, cai, "convener")
    with pytest.raises(InvalidInput, match="only a convener can amend"):
        svc.circles.set_agreement(circle, "New rule", "")
    svc.members.remove(circle, me)  # leaving is always allowed
    assert me not in {m["id"] for m in svc.members.all(circle)}


def test_a_circle_from_before_roles_is_convened_by_its_first_member(svc: Services) -> None:
    from xcircle.services.members import is_convener

    members = [{"id": "a", "joined": "1"}, {"id": "b", "joined": "2"}]
    assert is_convener(members, "a") and not is_convener(members, "b")
    members[1]["role"] = "convener"
    assert is_convener(members, "b") and not is_convener(members, "a")


def test_cli_member_list_and_role(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*home, *args])
        assert result.exit_code == 0, result.output
        return result.output

    run("init", "--name", "Ada", "--org", "Acme")
    circle = json.loads(run("circle", "create", "Leads", "--json"))["id"]
    run("member", "add", circle, "Bob", "--org", "Beta")
    listed = {m["name"]: m for m in json.loads(run("member", "list", circle, "--json"))}
    ada, bob = listed["Ada"], listed["Bob"]
    assert (ada["role"], bob["role"]) == ("convener", "member")
    status = json.loads(run("status", "--json"))
    assert [d["fingerprint"] for d in ada["devices"]] == [status["fingerprint"]]
    assert bob["devices"] == []
    promoted = json.loads(run("member", "role", circle, "Bob", "convener", "--json"))
    assert (promoted["role"], promoted["exchange"]) == ("convener", "not shared")
    again = {m["name"]: m for m in json.loads(run("member", "list", circle, "--json"))}
    assert again["Bob"]["role"] == "convener"
    text = run("member", "list", circle)
    assert "ROLE" in text and status["fingerprint"] in text
