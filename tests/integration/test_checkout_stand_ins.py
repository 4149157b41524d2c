"""Which stand-ins `portico dev` plans for the manifests, and the stand-in runner's knobs on a
real process (the checkout app's payment provider)."""

from __future__ import annotations

import sys
import time

import httpx
import pytest

from portico.local.dev import distinct_ports
from portico.local.stand_ins import plan_stand_ins
from portico.manifest import load_all
from tests.conftest import FUNCTIONS_DIR
from tests.support import Process

pytestmark = pytest.mark.integration

SHIPPED = load_all(FUNCTIONS_DIR)


def test_each_distinct_stand_in_is_planned_once_with_its_variable():
    plan = plan_stand_ins(SHIPPED, {}, distinct_ports())
    assert [(s.name, s.serve, s.variables) for s in plan.stand_ins] == [
        ("payments-stand-in", "providers/payments.app", ["PAYMENT_PROVIDER_URL"]),
        ("mailer-stand-in", "providers/mailer.app", ["MAIL_RELAY_URL"]),
    ]
    assert plan.external == []
    assert plan.environment() == {
        "PAYMENT_PROVIDER_URL": plan.stand_ins[0].url,
        "MAIL_RELAY_URL": plan.stand_ins[1].url,
    }


def test_a_variable_set_in_the_environment_means_the_real_system_and_no_stand_in():
    real = {"PAYMENT_PROVIDER_URL": "https://payments.example.com"}
    plan = plan_stand_ins(SHIPPED, real, distinct_ports())
    assert [s.name for s in plan.stand_ins] == ["mailer-stand-in"]
    [external] = plan.external
    assert (external.variable, external.url, external.functions) == (
        "PAYMENT_PROVIDER_URL",
        "https://payments.example.com",
        ("checkout",),
    )
    assert "PAYMENT_PROVIDER_URL" not in plan.environment()


def test_a_stand_ins_knobs_start_from_the_environment_and_change_while_it_runs():
    [payments, _] = plan_stand_ins(SHIPPED, {}, distinct_ports()).stand_ins
    command = payments.command({"PORTICO_STAND_IN_PAYMENTS_LATENCY_MS": "300"})
    assert command[0] == sys.executable and command[-2:] == ["--latency-ms", "300"]
    with Process(command, ready=f"{payments.url}/_settings", grace=0) as process:
        process.wait_ready()
        with httpx.Client(base_url=payments.url, timeout=10) as client:
            assert client.get("/_settings").json()["latencyMs"] == 300
            started = time.monotonic()
            slow = client.post("/authorizations", json={"paymentToken": "tok_visa"})
            assert slow.status_code == 201 and time.monotonic() - started >= 0.3

            changed = client.put("/_settings", json={"latencyMs": 0, "failureRate": 1})
            assert changed.json() == {"latencyMs": 0, "failureRate": 1, "failureStatus": 500}
            assert client.post("/authorizations", json={}).status_code == 500
            assert client.put("/_settings", json={"failureRate": 2}).status_code == 400
            client.put("/_settings", json={"failureRate": 0})
            declined = client.post("/authorizations", json={"paymentToken": "tok_declined"})
            assert declined.status_code == 402
            assert client.get("/authorizations").json()["count"] == 2  # failures never reached it
