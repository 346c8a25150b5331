"""Errors a user can cause, each turned into one clear line at the edge (CLI, notify)."""

from __future__ import annotations


class XCircleError(Exception):
    """Base of every error that is the user's to fix; the message is one line for them."""


class NotFound(XCircleError):
    """A circle, member, goal, meeting or commitment that the user named does not exist."""


class Ambiguous(XCircleError):
    """A name prefix matched more than one thing."""


class InvalidInput(XCircleError):
    """A value the user gave is out of range or malformed (a date, a progress of 140…).

    `field` names the input it belongs to (`"due"`, `"support"`…), so a form shows the
    message under that field and the CLI can name the option; "" when it is no one field.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class MeetingClosed(InvalidInput):
    """A change to a closed meeting: it is read-only until a facilitator reopens it."""


class NotYours(InvalidInput):
    """A change to feedback or a commitment that belongs to someone else."""


class RemovedFromCircle(XCircleError):
    """A change to a shared circle this device was removed from: nobody would get it."""


class StoreLocked(XCircleError):
    """Another xcircle process holds this home."""


class StoreError(XCircleError):
    """The store could not read or write its files (disk full, permissions…)."""


class NotInitialized(XCircleError):
    """The home has no profile yet: `xcircle init` first."""


class InvalidOp(XCircleError):
    """An op fails validation: it is quarantined, never merged."""
