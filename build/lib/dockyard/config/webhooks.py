"""``dockyard.webhooks``: where project webhooks may send, and their test requests.

Webhook URLs are checked by the outbound guard (``services/outbound/guard.py``) when a webhook
is saved and again before every request. Link-local and cloud metadata addresses are always
refused unless ``allowed`` lists them; private ranges are fine (receivers usually sit next to
CI) unless ``denyprivate`` is set; ``denied`` adds the operator's own networks.
"""

from __future__ import annotations

import ipaddress

import msgspec

from dockyard.config.duration import parse_duration
from dockyard.config.errors import ConfigError


class WebhookSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    allowed: list[str] = []  # CIDRs reachable whatever else says (e.g. "169.254.10.0/24")
    denied: list[str] = []  # CIDRs never reached
    denyprivate: bool = False  # also refuse loopback, RFC 1918 and unique-local targets
    testtimeout: str = "10s"  # the "send a test event" request, at most
    rotationoverlap: str = "24h"  # how long a rotated-out secret keeps signing, by default

    @property
    def test_timeout_seconds(self) -> float:
        return parse_duration(self.testtimeout)

    @property
    def rotation_overlap_seconds(self) -> float:
        return parse_duration(self.rotationoverlap)


def _fail(key: str, message: str) -> ConfigError:
    full = f"dockyard.webhooks.{key}"
    return ConfigError(f"{full}: {message}", key=full)


def check_webhooks(webhooks: WebhookSettings) -> None:
    """ConfigError naming the first bad key."""
    for key in ("allowed", "denied"):
        for index, cidr in enumerate(getattr(webhooks, key)):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                raise _fail(f"{key}[{index}]", f'not an address or network: "{cidr}"') from None
    for key, low, high in (("testtimeout", 1.0, 60.0), ("rotationoverlap", 0.0, 90 * 86400.0)):
        text = getattr(webhooks, key)
        try:
            seconds = parse_duration(text)
        except ConfigError:
            raise _fail(key, f'invalid duration "{text}"') from None
        if not low <= seconds <= high:
            raise _fail(key, f"must be between {low:g}s and {high:g}s, got {text!r}")
