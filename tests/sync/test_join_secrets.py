"""SEC-09: every request a client sends while inviting, joining, confirming and
rekeying, captured on the wire (an httpx MockTransport in front of the real exchange),
holds no invite secret, join key, epoch secret or private key, in any encoding."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

import httpx

from sync.commands import remove_member_remote
from xcircle import crypto
from xcircle.keystore import keystore_of

from .conftest import MakeDevice
from .helpers import Device, Exchange


def encodings(raw: bytes) -> set[bytes]:
    """`raw` as it could appear in a request: raw, base64 (standard and url-safe, with
    and without padding), hex (both cases)."""
    std, url = base64.b64encode(raw), base64.urlsafe_b64encode(raw)
    hexed = binascii.hexlify(raw)
    return {raw, std, std.rstrip(b"="), url, url.rstrip(b"="), hexed, hexed.upper()}


_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


def unwrapped(body: bytes, depth: int = 2) -> list[bytes]:
    """`body` and what its base64 runs decode to, `depth` levels down (a join bundle is
    base64 of JSON that holds base64), so a secret nested inside is found too."""
    out = [body]
    if depth == 0:
        return out
    for run in _B64_RUN.findall(body):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(run + b"=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue
            out += unwrapped(raw, depth - 1)
    return out


def capture(dev: Device, exchange: Exchange, sent: list[bytes]) -> None:
    """Put a recording MockTransport between the device and the exchange."""

    def handler(request: httpx.Request) -> httpx.Response:
        head = f"{request.method} {request.url}\n".encode()
        head += b"".join(f"{k}: {v}\n".encode() for k, v in request.headers.items())
        sent.extend(unwrapped(head + request.read()))
        return exchange.bridge.handle_request(request)

    dev.faults.inner = httpx.MockTransport(handler)


def secrets_of(devices: Iterable[Device], cid: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for dev in devices:
        ks = keystore_of(dev.store)
        keys = ks.device_keys()
        out[f"{dev.name} x25519 private"] = keys.x25519_private
        out[f"{dev.name} ed25519 private"] = keys.ed25519_private
        for epoch in ks.epochs(cid):
            secret = ks.epoch_secret(cid, epoch)
            assert secret is not None
            out[f"{dev.name} epoch {epoch}"] = secret
    return out


def test_no_secret_leaves_in_any_request(make_device: MakeDevice, exchange: Exchange) -> None:
    sent: list[bytes] = []
    ada, bea, cai = (
        make_device(n, o) for n, o in (("ada", "Acme"), ("bea", "Beta"), ("cai", "Beta"))
    )
    for dev in (ada, bea, cai):
        capture(dev, exchange, sent)
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)  # encrypted from the start: epoch 1
    codes = [ada.invite(cid), ada.invite(cid)]
    bea.accept(codes[0])
    cai.accept(codes[1])
    bea.sync()
    ada.sync()  # confirms both: a rekey wrapped for three devices, and the hand-over
    bea.sync()
    cai.sync()
    ada.services.goals.add(cid, "after the joins")
    ada.sync()
    bea.sync()
    cai_member = cai.store.meta(cid)["me"]
    ada.services.members.remove(cid, cai_member)
    with ada.client() as c:  # a removal: another rekey
        assert remove_member_remote(ada.store, cid, cai_member, client=c)
    ada.services.goals.add(cid, "after the removal")
    ada.sync()
    bea.sync()
    assert keystore_of(bea.store).epochs(cid) == [2, 3]

    secrets = secrets_of((ada, bea, cai), cid)
    for n, code in enumerate(codes):
        invite = crypto.Invite.parse(code.partition("@")[0])
        secrets[f"invite {n} secret"] = invite.secret
        secrets[f"invite {n} join key"] = invite.join_key
    assert len(sent) > 30 and len(secrets) == 6 + 3 + 2 + 1 + 4
    found = [
        name
        for name, raw in secrets.items()
        for form in encodings(raw)
        if any(form in body for body in sent)
    ]
    assert found == []
    # The capture is live: what the exchange must see is there (the joiner's public key
    # inside its bundle, the invite token), what it must not (her name) is not.
    bea_public = keystore_of(bea.store).device_keys().public
    assert any(base64.b64encode(bea_public.ed25519) in body for body in sent)
    assert not any(b'"bea"' in body or b"Beta" in body for body in sent)
    token = crypto.Invite.parse(codes[0].partition("@")[0]).token.encode()
    assert any(token in body for body in sent)
