"""SEC-28 and the trust store: plain http only to this machine, TLS through the OS
trust store plus a `ca_file` setting, and a clear "certificate not trusted".

The TLS tests run a real HTTPS server on 127.0.0.1 whose certificate comes from a CA
made in the test (trustme): no system trusts it, so only `ca_file` can.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner

from screens.sync import describe
from sync.client import ExchangeClient
from sync.engine import connect, save_credentials
from sync.protocol import CertificateUntrusted, InvalidRequest
from sync.state import Credentials
from xcircle.cli import cli
from xcircle.store import Store


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tls_exchange(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 (URL) and the PEM file of the CA that signed it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path / "company-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_file
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "url", ["http://exchange.example.org", "http://10.0.0.5:8000", "http://[2001:db8::1]"]
)
def test_plain_http_elsewhere_is_refused_with_the_reason(url: str) -> None:
    with pytest.raises(InvalidRequest, match=r"refusing plain http://.*travel unencrypted"):
        ExchangeClient(url, "xcd_token")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_plain_http_to_this_machine_is_allowed(url: str) -> None:
    ExchangeClient(url, "xcd_token").close()


def test_insecure_http_is_an_explicit_choice_kept_with_the_credentials(tmp_path: Path) -> None:
    ExchangeClient("http://exchange.example.org", "xcd_t", insecure_http=True).close()
    with Store(tmp_path / "home") as store:
        save_credentials(store, Credentials("http://exchange.example.org", "xcd_t", "d", "Acme"))
        with pytest.raises(InvalidRequest, match="refusing plain http"):
            connect(store)
        creds = Credentials("http://exchange.example.org", "xcd_t", "d", "Acme", True)
        save_credentials(store, creds)
        connect(store).close()


def test_join_refuses_plain_http_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path / "h"), "join", "http://exchange.example.org", "xce_x"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("xcircle: error: refusing plain http:// to exchange.example")
    assert result.stderr.count("\n") == 1


def test_an_unknown_ca_is_certificate_not_trusted(tls_exchange: tuple[str, Path]) -> None:
    url, _ = tls_exchange
    with (
        ExchangeClient(url, retries=2, sleep=lambda s: None) as client,
        pytest.raises(CertificateUntrusted, match=r"^certificate not trusted: https://127"),
    ):
        client.health()
    assert client.requests == 1  # not retried: it would fail the same way


def test_the_ca_file_setting_trusts_a_company_ca(
    tls_exchange: tuple[str, Path], tmp_path: Path
) -> None:
    url, ca_file = tls_exchange
    with ExchangeClient(url, ca_file=str(ca_file)) as client:
        assert client.health() == {"status": "ok"}
    with Store(tmp_path / "home") as store:
        save_credentials(store, Credentials(url, "xcd_t", "d", "Acme"))
        store.save_setting("ca_file", str(ca_file))
        with connect(store) as client:
            assert client.health() == {"status": "ok"}


def test_a_bad_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot use ca_file"):
        ExchangeClient("https://exchange.example.org", ca_file=str(tmp_path / "missing.pem"))


def test_the_top_bar_says_certificate_not_trusted_not_offline() -> None:
    status = {"joined": True, "pending": 2, "last_error": "certificate not trusted: https://x"}
    assert describe(status) == ("error", "certificate not trusted")
    offline = {**status, "last_error": "cannot reach https://x: connection refused"}
    assert describe(offline) == ("offline", "offline · 2 pending")


def test_the_ca_file_setting_must_name_a_file(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path / "h")]
    missing = CliRunner().invoke(cli, [*home, "setting", "ca_file", str(tmp_path / "no.pem")])
    assert missing.exit_code == 1 and "is not a file" in missing.stderr
    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    ok = CliRunner().invoke(cli, [*home, "setting", "ca_file", str(pem)])
    assert ok.exit_code == 0 and ok.stdout.strip() == str(pem)
