"""`xcircle init` and `xcircle setting`: your profile and settings in this home."""

from __future__ import annotations

import click

from xcircle.cli.common import (
    UserError,
    check_zone,
    echo,
    emit_json,
    json_option,
    out,
    session,
)
from xcircle.domain import SENIORITIES
from xcircle.store import Store


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
    "ca_file": "a PEM file of CAs to trust for the exchange, besides the system's",
    "exchange_url": "the URL of the exchange this device joined (when the exchange moves)",
}
EXCHANGE_URL = "exchange_url"  # kept inside the exchange credentials, not on its own


# The app's themes (Textual's built-in ones; `tests/test_cli.py` checks the two lists
# agree), named here so that `setting theme` never imports textual.
THEMES = (
    "ansi-dark", "ansi-light", "atom-one-dark", "atom-one-light", "catppuccin-frappe",
    "catppuccin-latte", "catppuccin-macchiato", "catppuccin-mocha", "dracula", "flexoki",
    "gruvbox", "monokai", "nord", "rose-pine", "rose-pine-dawn", "rose-pine-moon",
    "solarized-dark", "solarized-light", "textual-dark", "textual-light", "tokyo-night",
)  # fmt: skip


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
    if name == "ca_file":
        from pathlib import Path

        path = Path(text.strip()).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"ca_file must be a PEM file of CA certificates; {path} is not a file")
        return str(path)
    if name == "theme" and text.strip() not in THEMES:
        raise UserError(f"no theme {text.strip()!r}; choose one of {', '.join(THEMES)}")
    return text.strip()


def _exchange_url(store: Store) -> str | None:
    raw = store.setting("exchange")  # sync.state.EXCHANGE_SETTING, read without sync
    url = raw.get("url") if isinstance(raw, dict) else None
    return url if isinstance(url, str) else None


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
    exchange_url   the exchange this device joined (set it when the exchange moves)
    """
    with session(need_profile=False, read_only=value is None) as svc:
        store = svc.store
        if name == EXCHANGE_URL and value is not None:
            from sync.commands import set_exchange_url

            set_exchange_url(store, value)
        elif name is not None and value is not None:
            store.save_setting(name, _parse_setting(name, value))
        names = [name] if name else sorted(SETTINGS)
        values = {n: _exchange_url(store) if n == EXCHANGE_URL else store.setting(n) for n in names}
    if as_json:
        emit_json(values if name is None else values[name])
        return
    import orjson

    for n, v in values.items():
        shown = "(default)" if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
        echo(f"{n:<14} {shown}" if name is None else shown)
