"""Standard Webhooks signatures, verified by the independent ``standardwebhooks`` package:
one secret, two during a rotation's overlap, only the new one after it."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from dockyard.core.events import Event, EventKind, EventTarget
from dockyard.persistence.webhook_records import WebhookRecord, WebhookSecrets, WebhookSpec
from dockyard.services.webhooks.signing import new_secret, secret_key, signature_headers
from dockyard.services.webhooks.subscriptions import WebhookSubscription, secrets_in_force

BODY = b'{"hello":"world"}'


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first[6:])) == 32 == len(secret_key(first))
    for bad in ("abc", "whsec_", "whsec_***"):
        with pytest.raises(ValueError):
            secret_key(bad)


def test_a_signature_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    now = time.time()
    headers = dict(signature_headers([secret], "evt-1", now, BODY))
    assert headers["webhook-id"] == "evt-1"
    assert headers["webhook-timestamp"] == str(int(now))
    assert Webhook(secret).verify(BODY, headers) == {"hello": "world"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)  # another secret
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)  # another body
    tampered = {**headers, "webhook-id": "evt-2"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, tampered)  # the id is signed too


def _record(secrets: WebhookSecrets) -> WebhookRecord:
    spec = WebhookSpec("hook", "http://127.0.0.1:1/x", ("manifest.pushed",), "cloudevents",
                       headers=(("X-Team", "a"),))  # fmt: skip
    return WebhookRecord(1, "team", False, spec, secrets, "admin", 0.0, 0.0)


def test_during_rotation_both_secrets_sign_and_after_only_the_new_one() -> None:
    old, new = new_secret(), new_secret()
    now = time.time()
    secrets = WebhookSecrets(new, old, now + 60)
    assert secrets_in_force(secrets, now) == [new, old]
    assert secrets_in_force(secrets, now + 61) == [new]
    subscription = WebhookSubscription(_record(secrets), lambda event: BODY)
    event = Event("e" * 32, EventKind.MANIFEST_PUSHED, now, "team/app", EventTarget("sha256:x"))
    during = dict(subscription.request(event, attempt=1, now=now).headers)
    assert len(during["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, during)  # a receiver not switched yet
    Webhook(new).verify(BODY, during)  # a receiver already switched
    later = subscription.request(event, attempt=2, now=now + 61)
    after = dict(later.headers)
    assert len(after["webhook-signature"].split(" ")) == 1
    assert after["webhook-id"] == during["webhook-id"] == event.id  # same id on every attempt
    Webhook(new).verify(BODY, after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, after)  # the overlap is over
    assert after["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert after["X-Team"] == "a"


def test_requests_go_to_the_address_the_guard_approved() -> None:
    import ipaddress

    from dockyard.services.webhooks.sender import pinned

    plain = pinned("http://hooks.example:8080/in?x=1", ipaddress.ip_address("127.0.0.7"))
    assert plain.url == "http://127.0.0.7:8080/in?x=1"
    assert plain.host_header == "hooks.example:8080" and plain.extensions == {}
    tls = pinned("https://hooks.example/in", ipaddress.ip_address("::1"))
    assert tls.url == "https://[::1]/in" and tls.host_header == "hooks.example"
    assert tls.extensions == {"sni_hostname": "hooks.example"}  # SNI and certificate name
