"""The egress guard's decisions, fed audit events directly (no connection is made)."""

from __future__ import annotations

import re
import socket

import pytest

from portico.problems import EgressDenied
from portico.runtime import egress
from portico.runtime.effects import Effects
from portico.settings import EgressMode


def allowance(mode: EgressMode = "enforce") -> egress.Allowance:
    return egress.Allowance(
        "checkout", "functions/checkout/checkout.yaml", mode, [("10.0.0.5", 5432), ("::1", 8081)]
    )


def connect_event(family: socket.AddressFamily, address: object) -> tuple[object, ...]:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        return (sock, address)


@pytest.fixture()
def scope():
    effects = Effects()
    previous = egress.enter(allowance(), effects)
    yield effects
    egress.leave(previous)


def test_an_undeclared_address_is_refused_and_recorded(scope):
    with pytest.raises(EgressDenied) as refused:
        egress._audit("socket.connect", connect_event(socket.AF_INET, ("10.0.0.6", 5432)))
    assert "10.0.0.6:5432" in refused.value.detail  # type: ignore[operator]
    assert "functions/checkout/checkout.yaml" in refused.value.detail  # type: ignore[operator]
    assert scope.denied is refused.value
    assert refused.value.body()["type"] == "https://portico.dev/problems/egress-denied"
    assert not isinstance(refused.value, OSError)


def test_declared_endpoints_pass_in_any_spelling(scope):
    egress._audit("socket.connect", connect_event(socket.AF_INET, ("10.0.0.5", 5432)))
    egress._audit("socket.connect", connect_event(socket.AF_INET6, ("0:0::1", 8081, 0, 0)))
    egress._audit("socket.getaddrinfo", ("10.0.0.5", 5432, 0, 0, 0, 0))
    assert scope.denied is None


def test_a_declared_host_on_another_port_is_refused(scope):
    with pytest.raises(EgressDenied, match=re.escape("10.0.0.5:6379")):
        egress._audit("socket.connect", connect_event(socket.AF_INET, ("10.0.0.5", 6379)))


def test_an_undeclared_name_is_refused_before_lookup(scope):
    with pytest.raises(EgressDenied, match=re.escape("api.example.invalid:443")):
        egress._audit("socket.getaddrinfo", ("API.example.invalid", 443, 0, 0, 0, 0))


def test_unix_sockets_and_other_events_are_not_egress(scope):
    egress._audit("socket.connect", connect_event(socket.AF_UNIX, "/tmp/.s.PGSQL.5432"))
    egress._audit("open", ("/etc/hosts", "r", 0))
    assert scope.denied is None


def test_outside_a_handler_nothing_is_watched():
    egress._audit("socket.getaddrinfo", ("anywhere.invalid", 80, 0, 0, 0, 0))


def test_warn_mode_lets_it_through():
    effects = Effects()
    previous = egress.enter(allowance("warn"), effects)
    try:
        egress._audit("socket.getaddrinfo", ("anywhere.invalid", 80, 0, 0, 0, 0))
    finally:
        egress.leave(previous)
    assert effects.denied is None


def test_endpoints_of_the_urls():
    assert egress.url_endpoint("https://Pay.Example.com/v1") == ("pay.example.com", 443)
    assert egress.url_endpoint("redis://:pw@127.0.0.1:6390/0") == ("127.0.0.1", 6390)
    assert egress.url_endpoint("unix:///tmp/redis.sock") is None
    assert egress.database_endpoints("postgresql://u@db1:5433,db2/app") == [
        ("db1", 5433),
        ("db2", 5432),
    ]
    assert egress.database_endpoints("postgresql://u@/app?host=/tmp") == []
