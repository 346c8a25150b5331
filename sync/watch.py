"""`xcircle sync --watch [--json]`: the live loop (`sync.live.LiveSync`) from the command
line, one line per applied batch (a JSON object per line with `--json`), a line when
the loop goes live, falls back to the interval or loses the exchange. Ctrl-C (or
SIGTERM) ends it after the sync under way: exit 0, nothing lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
import orjson

from sync.live import INTERVAL, LIVE, LiveState, LiveSync
from sync.state import SyncReport
from xcircle import safetext
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient


def _json_line(value: dict[str, Any]) -> str:
    return safetext.json_safe(orjson.dumps(value).decode())


def _now() -> str:
    return datetime.now().astimezone().strftime("%H:%M:%S")


class Printer:
    """Turns the loop's reports and states into lines on stdout (states on stderr as
    text, so stdout holds only batches; with --json every line is a JSON object)."""

    def __init__(
        self, store: Store, url: str, as_json: bool, emit: Callable[..., None] = click.echo
    ) -> None:
        self.store, self.url, self.as_json, self.emit = store, url, as_json, emit

    def report(self, report: SyncReport) -> None:
        for line in report.warnings:
            self._text(f"warning: {line}", err=True)
        for cid, rep in report.circles.items():
            if not (rep.pushed or rep.merged or rep.denied or rep.quarantined or rep.error):
                continue
            if self.as_json:
                self.emit(
                    _json_line(
                        {
                            "event": "batch",
                            "circle": cid,
                            "pushed": rep.pushed,
                            "pulled": rep.pulled,
                            "merged": rep.merged,
                            "pending": rep.pending,
                            "quarantined": len(rep.quarantined),
                            "denied": rep.denied,
                            "error": rep.error,
                            "time": report.finished,
                        }
                    )
                )
                continue
            what = f"pushed {rep.pushed}, merged {rep.merged} of {rep.pulled} pulled"
            if rep.pending:
                what += f", {rep.pending} pending"
            if rep.quarantined:
                what += f", {len(rep.quarantined)} quarantined"
            if rep.denied:
                what = "this device is no longer a member (removed?)"
            if rep.error:
                what += f"; {rep.error}"
            self._text(f"{_now()} circle {self._name(cid)}: {what}")

    def state(self, state: LiveState) -> None:
        if self.as_json:
            self.emit(
                _json_line(
                    {
                        "event": "state",
                        "mode": state.mode,
                        "error": state.error,
                        "retry_in_s": state.retry_in_s,
                    }
                )
            )
            return
        if state.mode == LIVE:
            line = f"live: following {self.url} (Ctrl-C to stop)"
        elif state.mode == INTERVAL and state.error is None:
            line = f"no shared circle yet: syncing every {state.retry_in_s:.0f}s"
        elif state.mode == INTERVAL:
            line = f"no live sync ({state.error}): syncing every {state.retry_in_s:.0f}s"
        else:
            line = f"{state.error}; retrying in {state.retry_in_s or 0:.0f}s"
        self._text(f"{_now()} {line}", err=True)

    def _name(self, cid: str) -> str:
        record = self.store.get(cid, "circle", cid) if self.store.has_circle(cid) else None
        name = str(record.get("name") or "") if isinstance(record, dict) else ""
        return f"{cid[:8]} ({name})" if name else cid[:8]

    def _text(self, line: str, *, err: bool = False) -> None:
        self.emit(safetext.line(line), err=err)


def watch(
    store: Store,
    client: ExchangeClient,
    *,
    as_json: bool,
    interval_s: float,
    wait_s: float = 25.0,
) -> None:
    """Follow the exchange until Ctrl-C or SIGTERM (then return normally)."""
    printer = Printer(store, client.base_url, as_json)
    live = LiveSync(
        store,
        client,
        on_report=printer.report,
        on_state=printer.state,
        interval_s=interval_s,
        wait_s=wait_s,
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        live.stop()
        # A second Ctrl-C while a sync finishes: let it interrupt (caught by the command).
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        live.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not as_json:
        printer._text(f"{_now()} stopped after {time.monotonic() - started:.0f}s", err=True)
