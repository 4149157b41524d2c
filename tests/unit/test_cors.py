from __future__ import annotations

import pytest

from portico.manifest import Cors
from portico.policies.cors import is_preflight, normalize, origin_headers, preflight_headers

TWO = Cors(("https://app.example.com", "https://admin.example.com:8443"), 600)


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("https://admin.example.com:8443", "https://admin.example.com:8443"),
    ],
)
def test_origins_compare_without_default_ports(origin, expected):
    assert normalize(origin) == expected


def test_a_listed_origin_is_echoed_and_others_get_none():
    assert origin_headers(TWO, "https://app.example.com:443") == {
        "Vary": "Origin",
        "Access-Control-Allow-Origin": "https://app.example.com",
    }
    assert origin_headers(TWO, "https://evil.example.com") == {"Vary": "Origin"}
    assert origin_headers(TWO, None) == {"Vary": "Origin"}


def test_a_star_or_a_single_origin_is_sent_whatever_the_request_says():
    assert origin_headers(Cors(("*",), 0), "https://x.example") == {
        "Access-Control-Allow-Origin": "*"
    }
    single = origin_headers(Cors(("https://app.example.com",), 0), "https://other.example")
    assert single["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_a_preflight_reflects_requested_headers_and_lists_kongs_methods():
    request = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "apikey,content-type",
    }
    assert is_preflight("OPTIONS", request)
    assert not is_preflight("GET", request)
    assert not is_preflight("OPTIONS", {"Origin": "https://app.example.com"})
    headers = preflight_headers(TWO, request)
    assert headers["Access-Control-Allow-Headers"] == "apikey,content-type"
    assert headers["Access-Control-Allow-Methods"].startswith("GET,HEAD,PUT,PATCH,POST")
    assert headers["Access-Control-Max-Age"] == "600"
