"""``dockyard.token`` (issuer) settings and their checks; ``auth.token`` (consumer) wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.api.token_auth import TokenApi
from dockyard.auth.policy import AccessPolicy
from dockyard.bootstrap import build_token_api
from dockyard.config import ConfigError, load_settings
from support.tokens import make_cert

ISSUER = {"REGISTRY_DOCKYARD_TOKEN_ENABLED": "true"}


def test_defaults() -> None:
    token = load_settings(None, {}).dockyard.token
    assert (token.enabled, token.issuer, token.service) == (False, "dockyard", "dockyard")
    assert (token.expiry, token.refreshexpiry, token.algorithm) == ("5m", "720h", "ES256")
    assert not token.anonymouspull


def test_key_dir_defaults_to_the_storage_root() -> None:
    env = {**ISSUER, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/registry"}
    assert load_settings(None, env).token_key_dir() == "/srv/registry/dockyard/token-keys"
    env["REGISTRY_DOCKYARD_TOKEN_KEYDIR"] = "/etc/dockyard/keys"
    assert load_settings(None, env).token_key_dir() == "/etc/dockyard/keys"
    memory = load_settings(None, {**ISSUER, "REGISTRY_STORAGE": "inmemory"})
    assert memory.token_key_dir() is None


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"REGISTRY_DOCKYARD_TOKEN_EXPIRY": "30s"}, "dockyard.token.expiry"),
        ({"REGISTRY_DOCKYARD_TOKEN_EXPIRY": "soon"}, "dockyard.token.expiry"),
        ({"REGISTRY_DOCKYARD_TOKEN_REFRESHEXPIRY": "0s"}, "dockyard.token.refreshexpiry"),
        ({"REGISTRY_DOCKYARD_TOKEN_ALGORITHM": "HS256"}, "dockyard.token.algorithm"),
        ({"REGISTRY_DOCKYARD_TOKEN_ISSUER": ""}, "dockyard.token.issuer"),
        (
            {
                "REGISTRY_AUTH": "token",
                "REGISTRY_AUTH_TOKEN_REALM": "r",
                "REGISTRY_AUTH_TOKEN_SERVICE": "s",
                "REGISTRY_AUTH_TOKEN_ISSUER": "i",
                "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": "/x.pem",
            },
            "dockyard.token.enabled",
        ),
        (
            {
                "REGISTRY_STORAGE": "s3",
                "REGISTRY_STORAGE_S3_BUCKET": "b",
                "REGISTRY_DOCKYARD_DATABASE": "postgresql://db/x",
            },
            "dockyard.token.keydir",
        ),
    ],
)
def test_invalid_issuer_settings(extra: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**ISSUER, **extra})
    assert caught.value.key == key


def test_disabled_issuer_is_not_checked() -> None:
    load_settings(None, {"REGISTRY_DOCKYARD_TOKEN_EXPIRY": "1s"})


def test_build_token_api_per_mode(tmp_path: Path) -> None:
    policy = AccessPolicy(authentication_required=False)
    plain = load_settings(None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path)})
    assert build_token_api(plain, policy, None) is None
    issuer = load_settings(
        None, {**ISSUER, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path)}
    )
    api = build_token_api(issuer, policy, None)
    assert isinstance(api, TokenApi) and api.serves("/token") and api.serves("/token/jwks.json")
    assert len(list((tmp_path / "dockyard" / "token-keys").glob("*.pem"))) == 1
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert("issuer").pem)
    consumer_env = {
        "REGISTRY_AUTH": "token",
        "REGISTRY_AUTH_TOKEN_REALM": "https://auth/token",
        "REGISTRY_AUTH_TOKEN_SERVICE": "registry",
        "REGISTRY_AUTH_TOKEN_ISSUER": "auth",
        "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": str(bundle),
    }
    consumer = build_token_api(load_settings(None, consumer_env), policy, None)
    assert consumer is not None and not consumer.serves("/token")
    bundle.write_text("")
    with pytest.raises(SystemExit, match="rootcertbundle"):
        build_token_api(load_settings(None, consumer_env), policy, None)
