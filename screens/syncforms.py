"""The sync questions: join an exchange, share a circle, show an invite, accept one.

Forms like the others (`FormScreen`): `save` only checks the answer, and the
`SyncController` acts on it in its worker. Loaded when a question is first asked, so
the app's start-up imports no form code.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static, TextArea

from screens.forms import FormScreen, field, form_error
from screens.widgets import literal


class SyncModal(FormScreen[Any]):
    """A sync question: a form whose `save` only checks the answer, which the controller
    then acts on in its worker (nothing here touches the network)."""

    CSS_PATH = ["forms.tcss", "syncforms.tcss"]  # type: ignore[assignment]
    BINDINGS = [Binding("ctrl+s", "save", "OK", tooltip="Answer and close", id="form.save")]
    SAVE_LABEL = "OK"

    def save(self) -> Any:
        return True


class JoinModal(SyncModal):
    """Ask for the exchange URL and an enrollment token; answers `(url, token)`."""

    TITLE_TEXT = "Join an exchange"
    SAVE_LABEL = "Join"
    ERROR_FIELDS = (("URL", "url"), ("token", "token"))

    def fields(self) -> ComposeResult:
        url = Input(placeholder="https://exchange.example.org", id="url", compact=True)
        token = Input(placeholder="xce_…", id="token", password=True, compact=True)
        yield field("Exchange URL", url)
        yield field("Enrollment token (from your organization)", token)
        yield form_error()

    def save(self) -> tuple[str, str]:
        from sync.protocol import ENROLL_PREFIX, InvalidRequest, normalize_url

        url = normalize_url(self.text("url"))
        token = self.text("token").strip()
        if not token.startswith(ENROLL_PREFIX):
            raise InvalidRequest("an enrollment token starts with xce_")
        return url, token


class ShareModal(SyncModal):
    """Confirm sharing a circle through the exchange; answers True."""

    TITLE_TEXT = "Share this circle"
    SAVE_LABEL = "Share"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.circle_name = name

    def fields(self) -> ComposeResult:
        yield Static(
            literal(
                f"Share {self.circle_name!r} through the exchange? Everything in it is "
                "uploaded, and members you invite will see it. Reflections stay here."
            ),
            id="sync-text",
        )
        yield form_error()


class InviteModal(SyncModal):
    """Show an invite code whole, selectable; Copy puts it on the clipboard through the
    terminal (OSC 52, which also works over ssh and in tmux) and says so."""

    TITLE_TEXT = "Invite code (single use)"
    SAVE_LABEL = "Copy"
    CANCEL_LABEL = "Close"
    AUTO_FOCUS = "#code"
    BINDINGS = [
        Binding("ctrl+s", "save", "Copy", tooltip="Copy the code to the clipboard", id="form.save")
    ]

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def fields(self) -> ComposeResult:
        yield Static("Send this code to the person you invite:", id="sync-text")
        # Read-only and wrapped: the whole code stays visible and can be selected.
        area = TextArea(self.code, id="code", read_only=True, soft_wrap=True, compact=True)
        area.show_cursor = False
        yield area
        yield Static("", id="copied", markup=False)
        yield form_error()

    def save(self) -> str:
        return self.code

    def action_save(self) -> None:
        """Copy, and stay open: the code is still there to select if the terminal
        does not pass OSC 52 on to the clipboard."""
        self.app.copy_to_clipboard(self.code)
        said = (
            "Copied through the terminal (OSC 52). If pasting gives nothing, your terminal "
            "does not allow it: select the code above instead."
        )
        self.query_one("#copied", Static).update(said)
        self.notify("Invite code copied to the clipboard (OSC 52)", timeout=4, markup=False)


class AcceptModal(SyncModal):
    """Ask for an invite code; answers the code."""

    TITLE_TEXT = "Accept an invite"
    SAVE_LABEL = "Join circle"
    ERROR_FIELDS = (("invite code", "code"),)

    def fields(self) -> ComposeResult:
        yield field("Invite code", Input(placeholder="xci_…", id="code", compact=True))
        yield form_error()

    def save(self) -> str:
        from sync.protocol import parse_invite_code

        text = self.text("code").strip()
        parse_invite_code(text)
        return text
