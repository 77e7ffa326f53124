"""Consumer mode (registry:2's ``auth.token``): tokens from an external issuer.

The test plays the external token server: it makes its own CA, intermediate and signing
certificates, writes the ``rootcertbundle`` (and a JWKS file), mints tokens itself, and checks
that the server accepts the good ones and refuses the forged ones. Rights come from the token's
``access`` claim alone.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.auth.token_jwk import libtrust_key_id, public_jwk
from support.oci import assert_oci_error, make_image, push_image
from support.server import DOCKYARD, RunningServer, serving
from support.tokens import (
    CertKey,
    claims,
    ec_key,
    forge_hs256,
    forge_none,
    make_cert,
    mint,
    public_pem,
    repo_access,
)

ISSUER, SERVICE = "auth.example.test", "registry.example.test"
REALM = "https://auth.example.test/token"


@pytest.fixture(scope="module")
def pki() -> dict[str, CertKey]:
    root = make_cert("consumer test root", ca=True)
    intermediate = make_cert("consumer test intermediate", issuer=root, ca=True)
    other_root = make_cert("untrusted root", ca=True)
    return {
        "root": root,
        "intermediate": intermediate,
        "signer": make_cert("token signer", issuer=intermediate),
        "legacy": make_cert("self-signed token signer"),
        "stranger": make_cert("untrusted signer", issuer=other_root),
    }


def consumer_env(bundle: Path, **extra: str) -> dict[str, str]:
    return {
        "REGISTRY_AUTH": "token",
        "REGISTRY_AUTH_TOKEN_REALM": REALM,
        "REGISTRY_AUTH_TOKEN_SERVICE": SERVICE,
        "REGISTRY_AUTH_TOKEN_ISSUER": ISSUER,
        "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": str(bundle),
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        **extra,
    }


@pytest.fixture(scope="module")
def consumer(
    tmp_path_factory: pytest.TempPathFactory, pki: dict[str, CertKey]
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("consumer")
    bundle = workdir / "rootcertbundle.pem"
    bundle.write_bytes(pki["root"].pem + pki["legacy"].pem)
    with serving(workdir, env=consumer_env(bundle)) as server:
        yield server


def _claims(access: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    return claims(issuer=ISSUER, audience=SERVICE, access=access, **kwargs)


def chain_token(pki: dict[str, CertKey], access: list[dict[str, Any]], **kwargs: Any) -> str:
    chain = [pki["signer"].der_b64, pki["intermediate"].der_b64]
    return mint(_claims(access, **kwargs), pki["signer"].key, headers={"x5c": chain})


def kid_token(pki: dict[str, CertKey], access: list[dict[str, Any]], **kwargs: Any) -> str:
    key = pki["legacy"].key
    return mint(_claims(access, **kwargs), key, kid=libtrust_key_id(key.public_key()))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expected_challenge(scope: str = "", error: str = "") -> str:
    value = f'Bearer realm="{REALM}",service="{SERVICE}"'
    value += f',scope="{scope}"' if scope else ""
    return value + (f',error="{error}"' if error else "")


def test_challenge_points_at_the_external_realm(consumer: RunningServer) -> None:
    with consumer.client() as client:
        response = client.get("/v2/ext/app/manifests/v1")
        assert_oci_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"] == expected_challenge("repository:ext/app:pull")
        assert client.get("/token").status_code == 404  # no issuer here


def test_chain_and_kid_tokens_push_and_pull(
    consumer: RunningServer, pki: dict[str, CertKey]
) -> None:
    image = make_image()
    push = chain_token(pki, repo_access("ext/app", "pull", "push"))
    with consumer.client(headers=bearer(push)) as client:
        assert client.get("/v2/").status_code == 200
        push_image(client, "ext/app", image, tag="v1")
    pull = kid_token(pki, repo_access("ext/app", "pull"), subject="")
    with consumer.client(headers=bearer(pull)) as client:
        assert client.get("/v2/ext/app/manifests/v1").content == image.manifest
        denied = client.delete("/v2/ext/app/manifests/v1")
        assert_oci_error(denied, 401, "UNAUTHORIZED")
        scope = expected_challenge("repository:ext/app:delete", "insufficient_scope")
        assert denied.headers["www-authenticate"] == scope
        catalog = client.get("/v2/_catalog")
        assert catalog.headers["www-authenticate"] == expected_challenge(
            "registry:catalog:*", "insufficient_scope"
        )
    lister = kid_token(pki, [{"type": "registry", "name": "catalog", "actions": ["*"]}])
    with consumer.client(headers=bearer(lister)) as client:
        assert "ext/app" in client.get("/v2/_catalog").json()["repositories"]
    deleter = chain_token(pki, repo_access("ext/app", "delete"))
    with consumer.client(headers=bearer(deleter)) as client:
        assert client.delete(f"/v2/ext/app/manifests/{image.digest}").status_code == 202


def _forgery(kind: str, pki: dict[str, CertKey]) -> str:
    access = repo_access("ext/forged", "pull")
    legacy = pki["legacy"].key
    legacy_kid = libtrust_key_id(legacy.public_key())
    stranger, attacker = pki["stranger"], ec_key()
    chain = [pki["signer"].der_b64, pki["intermediate"].der_b64]
    forgeries: dict[str, Callable[[], str]] = {
        "untrusted-chain": lambda: mint(
            _claims(access), stranger.key, headers={"x5c": [stranger.der_b64]}
        ),
        "chain-signed-by-other-key": lambda: mint(
            _claims(access), attacker, headers={"x5c": chain}
        ),
        "unknown-kid": lambda: mint(_claims(access), attacker, kid="AAAA:BBBB"),
        "trusted-kid-other-key": lambda: mint(_claims(access), attacker, kid=legacy_kid),
        "alg-none": lambda: forge_none(_claims(access), legacy_kid),
        "hs256-with-certificate-key": lambda: forge_hs256(
            _claims(access), public_pem(legacy), legacy_kid
        ),
        "embedded-jwk": lambda: mint(
            _claims(access),
            attacker,
            kid=legacy_kid,
            headers={"jwk": public_jwk(attacker.public_key())},
        ),
        "wrong-issuer": lambda: mint(
            claims(issuer="evil", audience=SERVICE, access=access), legacy, kid=legacy_kid
        ),
        "wrong-audience": lambda: mint(
            claims(issuer=ISSUER, audience="other", access=access), legacy, kid=legacy_kid
        ),
        "expired": lambda: kid_token(pki, access, now=1_600_000_000),
    }
    return forgeries[kind]()


FORGERIES = [
    "untrusted-chain",
    "chain-signed-by-other-key",
    "unknown-kid",
    "trusted-kid-other-key",
    "alg-none",
    "hs256-with-certificate-key",
    "embedded-jwk",
    "wrong-issuer",
    "wrong-audience",
    "expired",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_tokens_are_refused(
    consumer: RunningServer, pki: dict[str, CertKey], kind: str
) -> None:
    with consumer.client(headers=bearer(_forgery(kind, pki))) as client:
        response = client.get("/v2/ext/forged/tags/list")
    assert_oci_error(response, 401, "UNAUTHORIZED")
    scope = expected_challenge("repository:ext/forged:pull", "invalid_token")
    assert response.headers["www-authenticate"] == scope


def test_jwks_file_and_autoredirect(tmp_path: Path) -> None:
    key = ec_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**public_jwk(key.public_key()), "kid": "ext-1"}]}))
    env = {
        "REGISTRY_AUTH": "token",
        "REGISTRY_AUTH_TOKEN_REALM": REALM,
        "REGISTRY_AUTH_TOKEN_SERVICE": SERVICE,
        "REGISTRY_AUTH_TOKEN_ISSUER": ISSUER,
        "REGISTRY_AUTH_TOKEN_JWKS": str(jwks),
        "REGISTRY_AUTH_TOKEN_AUTOREDIRECT": "true",
        "REGISTRY_AUTH_TOKEN_AUTOREDIRECTPATH": "/auth/token",
    }
    with serving(tmp_path, env=env) as server, server.client() as client:
        refused = client.get("/v2/", headers={"X-Forwarded-Proto": "https"})
        host = f"127.0.0.1:{server.port}"
        realm = f'Bearer realm="https://{host}/auth/token",service="{SERVICE}"'
        assert refused.headers["www-authenticate"] == realm
        token = mint(_claims(repo_access("j/app", "pull")), key, kid="ext-1")
        ok = client.get("/v2/j/app/tags/list", headers=bearer(token))
        assert_oci_error(ok, 404, "NAME_UNKNOWN")


def test_bad_trust_material_stops_the_server(tmp_path: Path) -> None:
    env = consumer_env(tmp_path / "missing.pem")
    config = tmp_path / "config.yml"
    config.write_text("version: 0.1\n")
    result = subprocess.run(
        [DOCKYARD, "serve", "--config", str(config), "--addr", "127.0.0.1:0"],
        env={
            **env,
            "PATH": "/usr/bin:/bin",
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "auth.token.rootcertbundle" in result.stderr, result.stderr


def test_silly_auth_is_still_refused(tmp_path: Path) -> None:
    env = {
        "REGISTRY_AUTH": "silly",
        "REGISTRY_AUTH_SILLY_REALM": "r",
        "REGISTRY_AUTH_SILLY_SERVICE": "s",
    }
    result = subprocess.run(
        [DOCKYARD, "serve", "--data-dir", str(tmp_path), "--addr", "127.0.0.1:0"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "auth.silly" in result.stderr


def test_issuer_and_consumer_modes_do_not_mix(tmp_path: Path, pki: dict[str, CertKey]) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki["root"].pem)
    env = consumer_env(bundle, REGISTRY_DOCKYARD_TOKEN_ENABLED="true")
    result = subprocess.run(
        [DOCKYARD, "serve", "--data-dir", str(tmp_path), "--addr", "127.0.0.1:0"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "dockyard.token.enabled" in result.stderr, result.stderr


def test_token_is_not_logged(consumer: RunningServer, pki: dict[str, CertKey]) -> None:
    token = chain_token(pki, repo_access("ext/quiet", "pull"))
    with consumer.client(headers=bearer(token)) as client:
        client.get("/v2/ext/quiet/tags/list")
    forged = forge_none(_claims(repo_access("ext/quiet", "pull")))
    with consumer.client(headers=bearer(forged)) as client:
        client.get("/v2/ext/quiet/tags/list")
    log = consumer.log()
    assert token not in log and forged not in log
    assert token.split(".")[2] not in log
