"""A circle's round protocols: the built-ins plus the templates the circle added.

A circle's own template is a synced "protocol" record keyed by its name and holding its
TOML text; it is parsed on reading, so a template that no longer parses (a peer's
older or newer format) is left out rather than breaking the circle.
"""

from __future__ import annotations

import logging

from xcircle import protocols
from xcircle.protocols import Protocol, TemplateError
from xcircle.services.context import Context

log = logging.getLogger(__name__)


class Protocols:
    """Use cases of round protocols."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def custom(self, circle: str) -> list[Protocol]:
        """The circle's own templates, by name."""
        out = []
        for rec in self.ctx.store.records(circle, "protocol"):
            try:
                parsed = protocols.parse_toml(rec["toml"])
            except TemplateError as exc:
                log.warning("protocol %s of circle %s does not parse: %s", rec["id"], circle, exc)
                continue
            if parsed.name == rec["id"]:
                out.append(parsed)
        return sorted(out, key=lambda p: p.name)

    def all(self, circle: str | None = None) -> list[Protocol]:
        """The built-ins, then the circle's own (when a circle is named)."""
        own = self.custom(circle) if circle else []
        return [*protocols.BUILT_INS, *own]

    def get(self, circle: str | None, name: str | None) -> Protocol:
        """The protocol called `name` (the default for None or ""); InvalidInput with
        field "protocol" naming the choices when there is none such."""
        if not name:
            return protocols.default()
        found = protocols.builtin(name.strip().lower())
        if found is not None:
            return found
        return protocols.find(name, self.custom(circle) if circle else [])

    def add(self, circle: str, toml_text: str) -> Protocol:
        """Add (or replace) one of the circle's templates from its TOML text: validated
        first (TemplateError names the line and the field), then one write that syncs."""
        self.ctx.record(circle, "circle", circle, "circle")
        parsed = protocols.parse_toml(toml_text.replace("\r\n", "\n"))
        self.ctx.commit(
            [
                self.ctx.op(
                    circle,
                    "protocol",
                    parsed.name,
                    name=parsed.name,
                    toml=parsed.toml,
                    added=self.ctx.now_iso(),
                )
            ]
        )
        return parsed
