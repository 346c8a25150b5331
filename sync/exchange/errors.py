"""Errors the exchange answers with: each carries its HTTP status and a stable code."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException


def error_body(code: str, message: str) -> bytes:
    """The JSON body of every error answer: `{"error": code, "message": message}`."""
    return orjson.dumps({"error": code, "message": message})


class ExchangeError(HTTPException):
    """An error a client can cause; rendered as `{"error": code, "message": message}`.

    It subclasses Starlette's HTTPException so it also passes through FastAPI's body
    reading unchanged (the body-size limit raises it from inside `receive`).
    """

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code
        self.message = message


def unauthorized() -> ExchangeError:
    """Missing, malformed, unknown, revoked, used or expired token: all look the same."""
    return ExchangeError(401, "unauthorized", "missing or invalid token")


def forbidden() -> ExchangeError:
    """A valid token of the wrong role for this route."""
    return ExchangeError(403, "forbidden", "this token may not do that")


def not_found(what: str = "not found") -> ExchangeError:
    """Absent or not visible to the caller; never says which."""
    return ExchangeError(404, "not_found", what)


class AdminError(Exception):
    """An admin operation failed for a reason the operator can fix (one line, no trace)."""
