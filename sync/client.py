"""`ExchangeClient`: the only module that speaks HTTP (httpx) to the exchange.

One keep-alive `httpx.Client` (HTTP/1.1), JSON by orjson, bounded retries with
exponential backoff and full jitter. What is retried depends on whether the request may
already have been processed: every exchange call is idempotent (push by op id, create
circle, redeem, pull) except enrolment, which consumes its token, so `enroll` is only
retried when the request provably never left (connect errors, 429). Errors become our
own one-line `SyncError`s. Tokens and payloads are never logged.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from sync.protocol import (
    API,
    CERT_UNTRUSTED,
    STATUS_ERRORS,
    AuthFailed,
    CertificateUntrusted,
    ExchangeUnreachable,
    InvalidRequest,
    LiveUnavailable,
    NotMember,
    ProtocolError,
    RateLimited,
    ServerError,
    SyncError,
    check_transport,
    normalize_url,
)
from xcircle import safetext
from xcircle.hlc import wall_ms

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_RETRY_AFTER_S = 30.0  # never sleep longer than this on one Retry-After
WAIT_S = 50.0  # a live wait's hold: under the read timeouts of common proxies (60 s)
WAIT_GRACE_S = 10.0  # the read timeout of a wait beyond its hold


class ExchangeClient:
    """A device's connection to one exchange; `token` is the device (or enrolment) token.

    `requests` counts HTTP attempts (tests and the bench check "one request"), and
    `server_time`/`skew_ms` hold the exchange's clock as of the last response.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff_s: float = 0.25,
        max_backoff_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        now_ms: Callable[[], int] = wall_ms,
        insecure_http: bool = False,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = normalize_url(base_url)
        check_transport(self.base_url, insecure_http=insecure_http)
        self._options: dict[str, Any] = {
            "transport": transport,
            "timeout": timeout,
            "retries": retries,
            "backoff_s": backoff_s,
            "max_backoff_s": max_backoff_s,
            "sleep": sleep,
            "now_ms": now_ms,
            "insecure_http": insecure_http,
            "ca_file": ca_file,
        }
        self.token = token
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._now_ms = now_ms
        self.requests = 0
        self.server_time: int | None = None
        self.skew_ms: int | None = None  # exchange clock minus local clock (+ = we are behind)
        self._http = httpx.Client(
            base_url=self.base_url + API,
            transport=transport,
            verify=tls_context(ca_file),
            timeout=timeout,
            headers={"User-Agent": "xcircle-sync/1", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def twin(self) -> ExchangeClient:
        """A new client like this one (same exchange, token, transport and settings) with
        connections of its own: the live loop holds its waits on one while it syncs on
        this one."""
        return ExchangeClient(self.base_url, self.token, **self._options)

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`GET /v1/health` (no auth): cheap, and it tells the exchange's time."""
        return self._call("GET", "/health", auth=False)

    def enroll(self, name: str, keys: dict[str, str] | None = None) -> dict[str, Any]:
        """Enrol this device with an enrolment token (and its public keys); returns its
        device token (shown once)."""
        body: dict[str, Any] = {"name": name}
        if keys is not None:
            body["keys"] = keys
        return self._call("POST", "/devices", body, idempotent=False)

    def put_keys(self, keys: dict[str, str]) -> dict[str, Any]:
        """Register this device's public keys (once; the same keys again is fine)."""
        return self._call("PUT", "/devices/me/keys", keys)

    def epoch(self, circle: str) -> dict[str, Any]:
        """The circle's current epoch and this device's own wraps (never anyone else's)."""
        return self._call("GET", f"/circles/{circle}/epoch")

    def rekey(
        self, circle: str, expected: int, wraps: dict[str, str], *, epoch: int | None = None
    ) -> dict[str, Any]:
        """Start epoch `expected + 1` (compare-and-swap: 409 `epoch_conflict` if another
        device was first); `epoch` jumps to a given number (a circle rebuilt on an empty
        exchange continues its old numbering)."""
        body: dict[str, Any] = {"expected": expected, "wraps": wraps}
        if epoch is not None:
            body["epoch"] = epoch
        return self._call("POST", f"/circles/{circle}/epochs", body)

    def reseed(self, circle: str, envelopes: list[dict[str, Any]]) -> dict[str, Any]:
        """Re-push history (a convener's device): ops of past epochs onto a rebuilt
        exchange, or sealed ops in place of their plaintext; idempotent by op id."""
        return self._call("POST", f"/circles/{circle}/reseed", {"ops": envelopes})

    def purge_plaintext(self, circle: str) -> int:
        """Empty what is left in plaintext of an upgraded circle; returns how many."""
        purged = self._call("DELETE", f"/circles/{circle}/plaintext").get("purged")
        return purged if isinstance(purged, int) else 0

    def set_role(self, circle: str, member_id: str, role: str) -> dict[str, Any]:
        return self._call("PUT", f"/circles/{circle}/members/{member_id}/role", {"role": role})

    def add_programme_circle(self, programme: str, circle: str) -> dict[str, Any]:
        return self._call("PUT", f"/programmes/{programme}/circles/{circle}")

    def put_report(self, circle: str, sealed: str) -> dict[str, Any]:
        return self._call("PUT", f"/circles/{circle}/report", {"report": sealed})

    def programme_reports(self, programme: str) -> dict[str, Any]:
        return self._call("GET", f"/programmes/{programme}/reports")

    def me(self) -> dict[str, Any]:
        return self._call("GET", "/me")

    def create_circle(self, circle: str, member_id: str) -> dict[str, Any]:
        return self._call("POST", "/circles", {"circle_id": circle, "member_id": member_id})

    def circle(self, circle: str) -> dict[str, Any]:
        return self._call("GET", f"/circles/{circle}")

    def invite(
        self,
        circle: str,
        ttl_seconds: int,
        *,
        token: str | None = None,
        member_id: str | None = None,
    ) -> dict[str, Any]:
        """A single-use invite; `token` (derived from the invite's secret, which stays
        here) and `member_id` (what the joiner gets) when the client makes its own."""
        body: dict[str, Any] = {"ttl_seconds": ttl_seconds}
        if token is not None:
            body["token"] = token
        if member_id is not None:
            body["member_id"] = member_id
        return self._call("POST", f"/circles/{circle}/invites", body)

    def redeem(
        self, code: str, member_id: str | None = None, bundle: str | None = None
    ) -> dict[str, Any]:
        """Redeem an invite; `bundle` (base64) is the joiner's sealed join bundle."""
        body: dict[str, Any] = {"code": code}
        if member_id is not None:
            body["member_id"] = member_id
        if bundle is not None:
            body["bundle"] = bundle
        return self._call("POST", "/invites/redeem", body)

    def remove_member(self, circle: str, member_id: str) -> None:
        self._call("DELETE", f"/circles/{circle}/members/{member_id}")

    def push(self, circle: str, envelopes: list[dict[str, Any]]) -> dict[str, Any]:
        """Append envelopes to a circle's log; safe to repeat (idempotent by op id)."""
        return self._call("POST", f"/circles/{circle}/ops", {"ops": envelopes})

    def rotate_token(self) -> str:
        """Replace this device's token: the exchange revokes the old one as it answers.
        Never retried once sent (a second rotation with the old token would fail)."""
        answer = self._call("POST", "/me/token", idempotent=False)
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"{self.base_url} answered the rotation without a token")
        self.token = token
        return token

    def pull(self, cursors: dict[str, int], limit: int) -> dict[str, Any]:
        """Ops after each cursor, `limit` in total, in one request."""
        return self._call("POST", "/pull", {"cursors": cursors, "limit": limit})

    def wait(self, cursors: dict[str, int], timeout: float = WAIT_S) -> dict[str, Any]:
        """Live sync: return as soon as one of the circles has ops after its cursor (or a
        removal, rekey or join), else after `timeout` seconds: `{"changed": {circle:
        last_seq}, "denied": [circle…], "time": ms}`, both empty on a timeout. One
        attempt, never retried (the live loop decides what next). An exchange without
        the endpoint, or where this device belongs to none of the circles, raises
        `LiveUnavailable`; anything else raises as every call does."""
        seconds = max(0, int(timeout))
        limit = httpx.Timeout(seconds + WAIT_GRACE_S, connect=5.0)
        # The exchange stamps its time when a request arrives: after a held wait that
        # stamp is up to `timeout` old, so it must not set the skew.
        clock = self.server_time, self.skew_ms
        try:
            answer = self._call(
                "POST",
                "/wait",
                {"cursors": cursors, "timeout": seconds},
                timeout=limit,
                retry=False,
            )
        except NotMember as exc:
            raise LiveUnavailable(f"no live sync at {self.base_url}: {exc}") from None
        except InvalidRequest as exc:
            if exc.status == 405:
                raise LiveUnavailable(f"no live sync at {self.base_url}") from None
            raise
        finally:
            self.server_time, self.skew_ms = clock
        changed = answer.get("changed")
        denied = answer.get("denied")
        if not isinstance(changed, dict) or not isinstance(denied, list):
            raise ProtocolError(f"{self.base_url} answered a wait with unexpected JSON")
        return answer

    # -- plumbing ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        idempotent: bool = True,
        timeout: httpx.Timeout | None = None,
        retry: bool = True,
    ) -> dict[str, Any]:
        headers = {}
        if auth:
            if not self.token:
                raise AuthFailed("no exchange token: run `xcircle join URL TOKEN` first")
            headers["Authorization"] = f"Bearer {self.token}"
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = self._http.request(
                    method,
                    path,
                    content=content,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                if untrusted := _certificate_problem(exc):
                    # Not transient: retrying would fail the same way.
                    raise CertificateUntrusted(
                        f"{CERT_UNTRUSTED}: {self.base_url} ({untrusted}); add its CA to the "
                        "system's trust store or `xcircle setting ca_file PATH`"
                    ) from None
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                error = ExchangeUnreachable(f"cannot reach {self.base_url}: {_reason(exc)}")
                if retry and attempt < self.retries and (idempotent or not sent):
                    attempt += 1
                    log.info("%s %s failed (%s); retry %d", method, path, error, attempt)
                    self._sleep(self._backoff(attempt))
                    continue
                raise error from None
            self._clock(response)
            status = response.status_code
            again = retry and (status == 429 or (status >= 500 and idempotent))
            if again and attempt < self.retries:
                attempt += 1
                wait = self._backoff(attempt)
                if status == 429:
                    wait = max(wait, _retry_after(response))
                log.info("%s %s: %d; retry %d in %.1fs", method, path, status, attempt, wait)
                self._sleep(wait)
                continue
            log.debug("%s %s -> %d", method, path, status)
            if status == 204:
                return {}
            if status >= 400:
                raise _error(response, self.base_url)
            try:
                data = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise ProtocolError(f"{self.base_url} answered {status} with no JSON") from None
            if not isinstance(data, dict):
                raise ProtocolError(f"{self.base_url} answered {status} with unexpected JSON")
            return data

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads clients that failed together.
        cap = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        return random.uniform(0, cap)

    def _clock(self, response: httpx.Response) -> None:
        stamp = response.headers.get("x-exchange-time")
        if stamp is None:
            return
        try:
            self.server_time = int(stamp)
        except ValueError:
            return
        # Local time at receipt: round trips are milliseconds, skews that matter are minutes.
        self.skew_ms = self.server_time - self._now_ms()


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", "1")), MAX_RETRY_AFTER_S)
    except ValueError:
        return 1.0


def _error(response: httpx.Response, url: str) -> SyncError:
    """One line from an error answer: our type for the status, the exchange's message."""
    status = response.status_code
    message, code = "", None
    try:
        body = orjson.loads(response.content)
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error") or "")
            code = body.get("error") if isinstance(body.get("error"), str) else None
    except orjson.JSONDecodeError:
        pass
    # The exchange's words reach a terminal: first line only, no control characters.
    message = safetext.line((message.splitlines() or [""])[0][:200])
    message = message or safetext.line(response.reason_phrase.lower())
    kind = STATUS_ERRORS.get(status)
    if kind is None:
        kind = ServerError if status >= 500 else InvalidRequest
    if kind is AuthFailed:
        message = f"the exchange refused this device's token ({message})"
    elif kind is RateLimited:
        message = f"{message} (retry after {_retry_after(response):.0f}s)"
    elif kind is ServerError:
        message = f"{url} failed: {message} ({status})"
    error = kind(message)
    error.status = status
    error.code = code  # the exchange's stable error code (`epoch_retired`…), or None
    return error


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """TLS that trusts what the operating system trusts (`truststore`: a company CA
    installed on the machine works) plus `ca_file` when given, with hostname checks."""
    import truststore

    ctx: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidRequest(f"cannot use ca_file {ca_file}: {exc}") from None
    return ctx


def _certificate_problem(exc: BaseException) -> str | None:
    """Why the exchange's certificate was refused, if that is what `exc` is."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or "verification failed")
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "verification failed"
    return None


def _reason(exc: httpx.TransportError) -> str:
    """A short human reason for a transport error ("connection refused", "timed out")."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        strerror = getattr(cause, "strerror", None)
        if isinstance(strerror, str) and strerror:
            return strerror[0].lower() + strerror[1:]
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed before an answer"
    text = str(exc).strip().splitlines()
    return text[0][:120] if text and text[0] else type(exc).__name__
