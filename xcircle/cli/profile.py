"""`xcircle init`: create or update your profile in this home."""

from __future__ import annotations

import click

from xcircle.cli.common import check_zone, emit_json, json_option, session
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
    if as_json:
        emit_json({**profile, "home": home})
    else:
        click.echo(f"Profile saved: {profile['name']} ({profile['org']}) in {home}")
