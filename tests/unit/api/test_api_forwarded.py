"""The client address behind trusted proxies: parsing, the rightmost-untrusted rule, config."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.api.forwarded import TrustedProxies, parse_address, parse_networks
from dockyard.config import ConfigError, load_settings

PROXIES = TrustedProxies.from_cidrs(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"])


def scope(peer: str, *headers: tuple[str, str]) -> dict[str, Any]:
    raw = [(name.encode(), value.encode()) for name, value in headers]
    return {"type": "http", "client": (peer, 40000), "headers": raw}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("203.0.113.9:5555", "203.0.113.9"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("unknown", None),
        ("example.com", None),
        ("", None),
        ("1.2.3.4.5", None),
        ("_hidden", None),
    ],
)
def test_parse_address(text: str, parsed: str | None) -> None:
    address = parse_address(text)
    assert (str(address) if address is not None else None) == parsed


@pytest.mark.parametrize(
    ("peer", "forwarded", "real_ip", "client"),
    [
        # the peer is not a trusted proxy: whatever it says is ignored
        ("198.51.100.7", ["203.0.113.9"], None, "198.51.100.7"),
        ("198.51.100.7", [], "203.0.113.9", "198.51.100.7"),
        # one trusted proxy: the entry it added is the client; what the client sent is not
        ("127.0.0.1", ["203.0.113.9"], None, "203.0.113.9"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.9"], None, "203.0.113.9"),
        # a chain of trusted proxies is walked through, several headers in order
        ("10.0.0.2", ["6.6.6.6, 203.0.113.9, 10.0.0.5"], None, "203.0.113.9"),
        ("10.0.0.2", ["6.6.6.6", "203.0.113.9", "10.0.0.5"], None, "203.0.113.9"),
        ("127.0.0.1", ["2001:db8::7, fd00::1"], None, "2001:db8::7"),
        # every hop trusted: the leftmost is the client
        ("127.0.0.1", ["10.1.1.1, 10.0.0.5"], None, "10.1.1.1"),
        # junk where a trusted hop should have written an address: stop at that hop
        ("127.0.0.1", ["203.0.113.9, garbage"], None, "127.0.0.1"),
        ("10.0.0.2", ["203.0.113.9, unknown, 10.0.0.5"], None, "10.0.0.5"),
        # X-Real-IP only without X-Forwarded-For, and only when it is an address
        ("127.0.0.1", [], "203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", [], "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", ["192.0.2.1"], "203.0.113.9", "192.0.2.1"),
        # an IPv4-mapped peer is the IPv4 address it maps
        ("::ffff:127.0.0.1", ["203.0.113.9"], None, "203.0.113.9"),
    ],
)
def test_rightmost_untrusted_rule(
    peer: str, forwarded: list[str], real_ip: str | None, client: str
) -> None:
    assert PROXIES.client(peer, forwarded, real_ip) == client


def test_scope_is_rewritten_only_for_trusted_peers() -> None:
    headers = (("X-Forwarded-For", "6.6.6.6, 203.0.113.9"), ("x-real-ip", "192.0.2.50"))
    rewritten = PROXIES.rewrite(scope("127.0.0.1", *headers))
    assert rewritten["client"] == ("203.0.113.9", 0)
    untouched = scope("198.51.100.7", *headers)
    assert PROXIES.rewrite(untouched) is untouched
    plain = scope("127.0.0.1")
    assert PROXIES.rewrite(plain) is plain
    nobody_trusted = TrustedProxies.from_cidrs([])
    assert not nobody_trusted
    assert nobody_trusted.rewrite(scope("127.0.0.1", *headers))["client"][0] == "127.0.0.1"


def test_url_headers_are_believed_only_from_trusted_peers() -> None:
    """X-Forwarded-Host/-Proto build Location headers and the token realm: a direct client's
    copies are dropped once trusted proxies are configured; a proxy's are kept."""
    headers = (("X-Forwarded-Host", "evil.example"), ("x-forwarded-proto", "https"), ("a", "b"))

    def names(result: dict[str, Any]) -> list[bytes]:
        return [name.lower() for name, _ in result["headers"]]

    direct = PROXIES.rewrite(scope("198.51.100.7", *headers))
    assert names(direct) == [b"a"]
    via_proxy = PROXIES.rewrite(scope("127.0.0.1", *headers))
    assert names(via_proxy) == [b"x-forwarded-host", b"x-forwarded-proto", b"a"]
    nobody_trusted = TrustedProxies.from_cidrs([])  # registry:2 behaviour: honoured from anyone
    assert len(nobody_trusted.rewrite(scope("198.51.100.7", *headers))["headers"]) == 3


def test_networks_are_parsed_and_bad_ones_refused() -> None:
    assert [str(n) for n in parse_networks(["10.0.0.0/8", "127.0.0.1", " ::1/128 "])] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "::1/128",
    ]
    with pytest.raises(ValueError, match="not an address or network"):
        parse_networks(["10.0.0.0/33"])


def test_config_accepts_cidrs_and_names_a_bad_one() -> None:
    good = {"REGISTRY_DOCKYARD_TRUSTEDPROXIES": "[127.0.0.1/32, 10.0.0.0/8, '::1']"}
    proxies = load_settings(None, good).dockyard.trustedproxies
    assert proxies == ["127.0.0.1/32", "10.0.0.0/8", "::1"]
    assert load_settings(None, {}).dockyard.trustedproxies == []
    with pytest.raises(ConfigError) as error:
        load_settings(None, {"REGISTRY_DOCKYARD_TRUSTEDPROXIES": "[10.0.0.0/8, nonsense]"})
    assert "dockyard.trustedproxies[1]" in str(error.value)
