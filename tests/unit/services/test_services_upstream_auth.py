"""Registry auth challenges and the per-scope bearer token cache."""

from __future__ import annotations

from dockyard.services.upstream.auth import TokenCache, parse_challenge, pull_scope


def test_bearer_challenge_with_quoted_and_bare_parameters() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:library/alpine:pull",error=invalid_token'
    )
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example/token"
    assert challenge.params["service"] == "registry.example"
    assert challenge.params["scope"] == "repository:library/alpine:pull"
    assert challenge.params["error"] == "invalid_token"


def test_basic_challenge_and_garbage() -> None:
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic" and basic.realm == "Registry Realm"
    assert parse_challenge("") is None
    assert parse_challenge("=== nonsense") is None


def test_tokens_live_for_ninety_percent_of_their_lifetime() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    scope = pull_scope("library/alpine")
    cache.put(scope, "t1", 300)
    assert cache.get(scope) == "t1"
    assert cache.get(pull_scope("library/debian")) is None  # per scope
    now[0] += 269
    assert cache.get(scope) == "t1"
    now[0] += 2
    assert cache.get(scope) is None


def test_a_token_without_expiry_gets_the_spec_default_of_60_seconds() -> None:
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put("s", "t", None)
    now[0] = 53
    assert cache.get("s") == "t"
    now[0] = 55
    assert cache.get("s") is None
