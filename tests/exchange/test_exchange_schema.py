"""Property-based API tests with schemathesis against the published OpenAPI schema:
no 5xx for any input, and every response conforms to the schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sync.exchange import admin
from sync.exchange.app import create_app
from sync.exchange.settings import ExchangeSettings

from .helpers import GENEROUS, T0, FakeClock, enroll_device

# Built at import (schemathesis parametrizes at collection); its own temp dir, removed at exit.
_TMP = tempfile.TemporaryDirectory(prefix="xc-schemathesis-")
APP = create_app(
    ExchangeSettings(
        db_url=f"sqlite:///{Path(_TMP.name) / 'exchange.db'}",
        clock=FakeClock(),
        **GENEROUS,
    )
)
ORG_ID, _ = admin.add_org(APP.state.ctx.engine, "schemathesis-org", now_ms=T0)
_, DEVICE = enroll_device(APP.state.ctx.engine, ORG_ID)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case) -> None:
    excluded = []
    if case.operation.path.endswith(("/ops", "/reseed")):  # both take a PushIn body
        # schemathesis 4.32's coverage phase pairs a boundary path value with a *negative*
        # body (`0`) yet labels the case positive; our 422 for it is right, so skip only
        # that check here (no-5xx and schema conformance still run).
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Bearer {DEVICE}"}, excluded_checks=excluded)
