"""Programmes on the exchange: ownership, one programme per circle, reports only from a
circle's conveners and only to the programme's owner, size caps, and the owner keeps
reading after it left the circle (the hand-over)."""

from __future__ import annotations

import base64

from .helpers import Api, uid


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def test_owner_reads_reports_after_leaving_and_others_never(api: Api) -> None:
    _, admin_a = api.org()
    _, admin_b = api.org()
    coordinator = await api.device(admin_a)
    convener = await api.device(admin_b)
    member = await api.device(admin_b)
    stranger = await api.device(admin_b)
    circle = await api.circle(coordinator, "m1")
    await api.join(coordinator, circle, convener, "m2")
    await api.join(coordinator, circle, member, "m3")
    programme = uid()
    r = await api.call("PUT", f"/v1/programmes/{programme}/circles/{circle}", coordinator.token)
    assert r.status_code == 200, r.text
    # Again: idempotent.
    r = await api.call("PUT", f"/v1/programmes/{programme}/circles/{circle}", coordinator.token)
    assert r.status_code == 200, r.text
    reports = f"/v1/programmes/{programme}/reports"
    r = await api.call("GET", reports, coordinator.token)
    assert r.json()["circles"] == [{"circle_id": circle, "report": None, "reported_at": None}]

    # The hand-over: m2 becomes convener, the coordinator leaves the circle.
    r = await api.call(
        "PUT", f"/v1/circles/{circle}/members/m2/role", coordinator.token, json={"role": "convener"}
    )
    assert r.status_code == 200, r.text
    r = await api.call("DELETE", f"/v1/circles/{circle}/members/m1", coordinator.token)
    assert r.status_code == 204, r.text

    sealed = b"\x01sealed-bytes"
    put = f"/v1/circles/{circle}/report"
    r = await api.call("PUT", put, member.token, json={"report": "AA=="})
    assert r.status_code == 403  # a plain member reports nothing
    r = await api.call("PUT", put, stranger.token, json={"report": "AA=="})
    assert r.status_code == 404
    r = await api.call(
        "PUT", f"/v1/circles/{circle}/report", convener.token, json={"report": _b64(sealed)}
    )
    assert r.status_code == 200, r.text
    r = await api.call("GET", reports, coordinator.token)
    (row,) = r.json()["circles"]
    assert base64.b64decode(row["report"]) == sealed and row["reported_at"]
    for dev in (convener, member, stranger):
        assert (await api.call("GET", reports, dev.token)).status_code == 404
    # Nobody else can take the programme over, nor put a circle of theirs in it.
    other = await api.circle(stranger, "s1")
    r = await api.call("PUT", f"/v1/programmes/{programme}/circles/{other}", stranger.token)
    assert r.status_code == 404


async def test_report_needs_a_programme_and_has_a_size_cap(api: Api) -> None:
    _, admin = api.org()
    dev = await api.device(admin)
    circle = await api.circle(dev)
    path = f"/v1/circles/{circle}/report"
    r = await api.call("PUT", path, dev.token, json={"report": "AAAA"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    programme = uid()
    assert (
        await api.call("PUT", f"/v1/programmes/{programme}/circles/{circle}", dev.token)
    ).status_code == 200
    too_big = _b64(b"x" * (8192 + 257))
    r = await api.call("PUT", path, dev.token, json={"report": too_big})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    for bad in ("not base64!", ""):
        r = await api.call("PUT", path, dev.token, json={"report": bad})
        assert r.status_code == 422, bad
    # A circle stays in its programme.
    r = await api.call("PUT", f"/v1/programmes/{uid()}/circles/{circle}", dev.token)
    assert r.status_code == 409 and r.json()["error"] == "in_another_programme"
