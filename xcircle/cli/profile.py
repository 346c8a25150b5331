"""`xcircle init` and `xcircle setting`: your profile and settings in this home."""

from __future__ import annotations

import click

from xcircle.cli.common import UserError, check_zone, emit_json, json_option, out, session
from xcircle.domain import SENIORITIES


@click.command()
@click.option("--name", required=True, help="Your name as your circles see it.")
@click.option("--org", required=True, help="Your organization.")
@click.option("--seniority", type=click.Choice(SENIORITIES), help="Your seniority.")
@click.option("--tz", "zone", default="", help="Your IANA time zone (default: this machine's).")
@json_option
def init(name: str, org: str, seniority: str | None, zone: str, as_json: bool) -> None:
    """Create or update your profile in this home."""
    zone = check_zone(zone)
    with session(need_profile=False) as svc:
        profile = svc.init_profile(name, org, seniority=seniority, zone=zone)
        home = str(svc.store.home)
        secrets = svc.secrets()
    text = f"Profile saved: {profile['name']} ({profile['org']}) in {home}"
    if secrets["notice"]:  # the first run says where secrets are kept: never silently
        text += "\n" + secrets["notice"]
    text += f"\nThis device's fingerprint: {secrets['fingerprint']}"
    out(as_json, {**profile, "home": home, "secrets": secrets}, text)


# Settings a member may change by hand; internal ones (exchange credentials, sync state)
# are not listed and cannot be set here.
SETTINGS = {
    "theme": "the app's theme (e.g. textual-dark, textual-light)",
    "sync_interval": "seconds between automatic syncs in the app; 0 turns them off",
    "keymap": 'JSON object of binding id -> keys, e.g. {"home.new": "ctrl+n"}',
    "export_dir": "where the app writes exports (default: <home>/exports)",
}


def _parse_setting(name: str, text: str) -> object:
    if name == "sync_interval":
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if value < 0:
            raise UserError(f"sync_interval is a number of seconds (0 or more), not {text!r}")
        return int(value) if value.is_integer() else value
    if name == "keymap":
        import orjson

        try:
            keymap = orjson.loads(text)
        except orjson.JSONDecodeError:
            keymap = None
        if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
            raise UserError(
                'keymap is a JSON object of binding id -> keys, e.g. {"app.quit": "ctrl+q"}'
            )
        return keymap
    if not text.strip():
        raise UserError(f"{name} cannot be empty")
    return text.strip()


@click.command()
@click.argument("name", required=False, type=click.Choice(sorted(SETTINGS)))
@click.argument("value", required=False)
@json_option
def setting(name: str | None, value: str | None, as_json: bool) -> None:
    """Show your settings, or show or change one: NAME [VALUE].

    \b
    theme          the app's theme (textual-dark, textual-light, …)
    sync_interval  seconds between automatic syncs in the app; 0 turns them off
    keymap         JSON object of binding id -> keys (ids are in the app's help)
    export_dir     where the app writes exports
    """
    with session(need_profile=False) as svc:
        store = svc.store
        if name is not None and value is not None:
            store.save_setting(name, _parse_setting(name, value))
        names = [name] if name else sorted(SETTINGS)
        values = {n: store.setting(n) for n in names}
    if as_json:
        emit_json(values if name is None else values[name])
        return
    import orjson

    for n, v in values.items():
        shown = "(default)" if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
        click.echo(f"{n:<14} {shown}" if name is None else shown)
