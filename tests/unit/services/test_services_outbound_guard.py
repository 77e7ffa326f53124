"""The outbound guard: which addresses a user-given URL may reach."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from dockyard.services.outbound.guard import (
    OutboundPolicy,
    OutboundRefusedError,
    check_url,
    refusal,
    url_host,
)

OPEN = OutboundPolicy()
STRICT = OutboundPolicy(deny_private=True)


@pytest.mark.parametrize(
    "text",
    [
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "fd00:ec2::254",
        "100.100.100.200",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "::ffff:169.254.169.254",
    ],
)
def test_always_denied_addresses_are_refused_even_when_private_ones_are_fine(text: str) -> None:
    assert refusal(ipaddress.ip_address(text), OPEN) is not None


@pytest.mark.parametrize(
    "text", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1", "fd12::1", "100.64.0.1"]
)
def test_private_addresses_depend_on_the_policy(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert refusal(address, OPEN) is None
    assert refusal(address, STRICT) == "a private or reserved address"


def test_public_addresses_pass_both_policies() -> None:
    address = ipaddress.ip_address("8.8.8.8")
    assert refusal(address, OPEN) is None
    assert refusal(address, STRICT) is None


def test_the_operators_lists_win() -> None:
    policy = OutboundPolicy.from_strings(
        deny_private=True, allowed=["127.0.0.0/8", "169.254.169.254/32"], denied=["8.8.8.0/24"]
    )
    assert refusal(ipaddress.ip_address("127.0.0.5"), policy) is None
    assert refusal(ipaddress.ip_address("169.254.169.254"), policy) is None
    assert refusal(ipaddress.ip_address("8.8.8.8"), policy) == "denied by the operator"
    with pytest.raises(ValueError, match="not-a-network"):
        OutboundPolicy.from_strings(deny_private=False, allowed=["not-a-network"])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.test/x", "only http and https"),
        ("http:///path", "no host"),
        ("http://user:pw@host.test/", "credentials"),
        ("http://host.test:99999/", "not a valid URL"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(OutboundRefusedError, match=message):
        url_host(url)


def test_default_ports() -> None:
    assert url_host("https://hooks.test/a") == ("hooks.test", 443)
    assert url_host("http://[::1]:8080/a") == ("::1", 8080)


def test_a_name_is_checked_by_what_it_resolves_to() -> None:
    # localhost comes from /etc/hosts: no resolver is asked
    assert asyncio.run(check_url("http://localhost:9/hook", OPEN))
    with pytest.raises(OutboundRefusedError, match=r"localhost resolves to .*private"):
        asyncio.run(check_url("http://localhost:9/hook", STRICT))
    with pytest.raises(OutboundRefusedError, match="metadata"):
        asyncio.run(check_url("http://169.254.169.254/latest/meta-data", OPEN))
