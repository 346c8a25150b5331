"""The `exchange` click group: org add, enroll-token, revoke; errors are one line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.exchange.admin import add_org, find_org, revoke
from sync.exchange.auth import authenticate
from sync.exchange.cli import exchange
from sync.exchange.db import open_db
from sync.exchange.errors import ExchangeError
from sync.exchange.tokens import ADMIN

from .helpers import enroll_device


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(exchange, list(args))
    return result.exit_code, result.stdout, result.stderr


def _serve_once(db: str) -> None:
    """What `serve` does first: create the database (admin commands never do)."""
    open_db(db, 0).dispose()


def test_org_add_and_enroll_token(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ex' / 'exchange.db'}"
    _serve_once(db)
    code, out, _ = _run("org", "add", "Acme", "--db", db)
    assert code == 0 and "xca_" in out and "will not be shown again" in out
    code, out, _ = _run("org", "add", "Globex", "--db", db, "--json")
    body = json.loads(out)
    assert code == 0 and body["admin_token"].startswith("xca_") and body["name"] == "Globex"
    code, out, _ = _run("enroll-token", "Acme", "--ttl", "2h", "--db", db, "--json")
    assert code == 0 and json.loads(out)["token"].startswith("xce_")
    file = tmp_path / "ex" / "exchange.db"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700


def test_default_db_lives_in_the_data_dir(tmp_path: Path) -> None:
    _serve_once(f"sqlite:///{tmp_path / 'home' / 'exchange.db'}")
    code, _, _ = _run("org", "add", "Acme", "--data-dir", str(tmp_path / "home"))
    assert code == 0
    engine = open_db(f"sqlite:///{tmp_path / 'home' / 'exchange.db'}", 0)
    assert find_org(engine, "Acme")
    engine.dispose()


def test_errors_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    _serve_once(db)
    assert _run("org", "add", "Acme", "--db", db)[0] == 0
    cases = [
        ("org", "add", "Acme", "--db", db),  # duplicate
        ("enroll-token", "Nope", "--db", db),  # unknown org
        ("enroll-token", "Acme", "--ttl", "99y", "--db", db),  # bad duration
        ("org", "add", "X", "--db", "nonsense://"),  # bad URL
        ("org", "add", "X", "--db", "postgresql://nobody@127.0.0.1:1/none"),  # unreachable
        ("revoke", "xcd_unknown", "--db", db),
        ("revoke", "no-such-device", "--db", db),
    ]
    for args in cases:
        code, out, err = _run(*args)
        assert code == 1, (args, out, err)
        assert err.startswith("Error: ") and err.count("\n") == 1, (args, err)
        assert "Traceback" not in err


def test_revoke_device(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    engine = open_db(db, 0)
    org_id, _ = add_org(engine, "Acme", now_ms=0)
    device_id, token = enroll_device(engine, org_id, now=0)
    code, out, _ = _run("revoke", token, "--db", db)
    assert code == 0 and device_id in out
    assert "already revoked" in revoke(engine, device_id)
    engine.dispose()


@pytest.mark.postgres
def test_admin_commands_refuse_a_database_that_does_not_exist(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    typo = tmp_path / "exchnage.db"
    for args in (
        ("org", "add", "Acme", "--db", f"sqlite:///{typo}"),
        ("org", "add", "Acme", "--data-dir", str(tmp_path / "nowhere")),
        ("enroll-token", "Acme", "--db", f"sqlite:///{typo}"),
        ("rotate-admin", "Acme", "--db", f"sqlite:///{typo}"),
        ("revoke", "xcd_x", "--db", f"sqlite:///{typo}"),
        ("org", "add", "Acme", "--db", fresh_pg_url),  # exists, but holds no exchange
    ):
        code, _, err = _run(*args)
        assert code == 1 and err.count("\n") == 1, (args, err)
        assert "serve` creates" in err, err
    assert not typo.exists() and not (tmp_path / "nowhere").exists()


def test_rotate_admin(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    _serve_once(db)
    old = json.loads(_run("org", "add", "Acme", "--db", db, "--json")[1])["admin_token"]
    code, out, _ = _run("rotate-admin", "Acme", "--db", db, "--json")
    new = json.loads(out)["admin_token"]
    assert code == 0 and new.startswith("xca_") and new != old
    engine = open_db(db, 0)
    try:
        with pytest.raises(ExchangeError) as refused:
            authenticate(engine, old, (ADMIN,), 1)
        assert refused.value.status_code == 401
        assert authenticate(engine, new, (ADMIN,), 1).org_id == find_org(engine, "Acme")
    finally:
        engine.dispose()
    assert _run("rotate-admin", "Nope", "--db", db)[0] == 1
