"""The typed ``redis`` section: registry:2's keys (2.x and 3.x) load, map onto the Redis
client's options, are refused by ``dockyard config check`` when wrong, and the keys dockyard
does not act on are reported as ignored. One test talks to a real redis-server with the
options a config file gives (a user with a password, a database, a pool limit, timeouts), and
one to a redis-server that speaks only TLS and asks for a client certificate."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from dockyard.bootstrap import redis_options
from dockyard.config import ConfigError, load_settings
from dockyard.config.ignored import ignored_warnings
from support.ldap import LdapTls, make_ldap_tls
from support.redis_server import RedisServer, start_redis
from support.server import free_port
from unit.config.test_config_cli import run


def test_defaults_keep_the_old_behaviour() -> None:
    settings = load_settings(None, {})
    assert settings.redis.configured is False
    options = redis_options(settings)
    assert (options.addr, options.password, options.db) == ("127.0.0.1:6379", "", 0)
    assert (options.timeout_seconds, options.connect_timeout_seconds) == (0.5, 0.5)
    assert options.max_connections is None and options.tls is False


def test_registry2_keys_map_onto_the_client(example_config: str) -> None:
    """The registry:2 example file (2.x keys): 10 ms timeouts, a pool of 64."""
    settings = load_settings(example_config, {})
    options = redis_options(settings)
    assert (options.addr, options.password, options.db) == ("localhost:6379", "asecret", 0)
    assert options.connect_timeout_seconds == pytest.approx(0.01)
    assert options.timeout_seconds == pytest.approx(0.01)
    assert options.max_connections == 64
    warnings = "\n".join(ignored_warnings(settings))
    assert "redis.pool.maxidle" in warnings and "redis.pool.idletimeout" in warnings
    assert "redis.addr" not in warnings and "redis.dialtimeout" not in warnings


def test_registry3_keys_and_the_environment() -> None:
    env = {
        "REGISTRY_REDIS_ADDRS": "[redis-a:6380, redis-b:6380]",
        "REGISTRY_REDIS_USERNAME": "dockyard",
        "REGISTRY_REDIS_DB": "3",
        "REGISTRY_REDIS_READTIMEOUT": "2s",
        "REGISTRY_REDIS_WRITETIMEOUT": "3s",
        "REGISTRY_REDIS_POOLSIZE": "20",
        "REGISTRY_REDIS_CLIENTNAME": "reg",
    }
    settings = load_settings(None, env)
    options = redis_options(settings)
    assert (options.addr, options.username, options.db) == ("redis-a:6380", "dockyard", 3)
    assert (options.timeout_seconds, options.max_connections) == (3.0, 20)
    assert any("redis.clientname" in line for line in ignored_warnings(settings))


def test_tls_files_are_passed_on(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    env = {
        "REGISTRY_REDIS_ADDR": "redis:6379",
        "REGISTRY_REDIS_TLS_CERTIFICATE": str(cert),
        "REGISTRY_REDIS_TLS_KEY": str(key),
        "REGISTRY_REDIS_TLS_CLIENTCAS": f"[{ca}]",
    }
    options = redis_options(load_settings(None, env))
    assert options.tls and options.tls_ca_files == (str(ca),)
    assert (options.tls_certificate, options.tls_key) == (str(cert), str(key))
    enabled = redis_options(load_settings(None, {"REGISTRY_REDIS_TLS_ENABLED": "true"}))
    assert enabled.tls and enabled.tls_ca_files == ()


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("ADDR", "no-port", "redis.addr"),
        ("ADDR", "host:99999", "redis.addr"),
        ("ADDRS", "['ok:1', 'bad']", "redis.addrs"),
        ("DB", "-1", "redis.db"),
        ("DB", "zero", "redis.db"),
        ("DIALTIMEOUT", "soon", "redis.dialtimeout"),
        ("READTIMEOUT", "-1s", "redis.readtimeout"),
        ("POOL_MAXACTIVE", "-5", "redis.pool.maxactive"),
        ("POOL_IDLETIMEOUT", "1 minute", "redis.pool.idletimeout"),
        ("TLS_CERTIFICATE", "/nonexistent/cert.pem", "redis.tls"),
        ("TLS_CLIENTCAS", "[/nonexistent/ca.pem]", "redis.tls.clientcas[0]"),
    ],
)
def test_bad_values_are_refused_naming_the_key(name: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {f"REGISTRY_REDIS_{name}": value})
    assert key in str(info.value)


def test_config_check_refuses_a_bad_redis_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yml"
    path.write_text("redis:\n  addr: localhost:6379\n  dialtimeout: tenms\n")
    assert run(["config", "check", "--config", str(path)]) == 1
    assert "redis.dialtimeout" in capsys.readouterr().err
    path.write_text("redis:\n  addr: localhost:6379\n  adress: typo:6379\n")
    assert run(["config", "check", "--config", str(path)]) == 1
    assert "unknown key redis.adress" in capsys.readouterr().err
    path.write_text("redis:\n  addrs: [localhost:6379]\n  poolsize: 8\n  unstableresp3: true\n")
    assert run(["config", "check", "--config", str(path)]) == 0


@pytest.fixture
def redis_with_a_user(tmp_path: Path) -> RedisServer:
    server = start_redis(tmp_path)
    acl = ["ACL", "SETUSER", "dockyard", "on", ">s3cret", "~*", "+@all"]
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(server.port), *acl],
        check=True, capture_output=True, timeout=10,
    )  # fmt: skip
    return server


def test_a_real_server_with_user_password_db_and_pool(redis_with_a_user: RedisServer) -> None:
    from dockyard.cache.redis import connect

    server = redis_with_a_user
    env = {
        "REGISTRY_REDIS_ADDR": server.addr,
        "REGISTRY_REDIS_USERNAME": "dockyard",
        "REGISTRY_REDIS_PASSWORD": "s3cret",
        "REGISTRY_REDIS_DB": "2",
        "REGISTRY_REDIS_DIALTIMEOUT": "2s",
        "REGISTRY_REDIS_READTIMEOUT": "2s",
        "REGISTRY_REDIS_POOL_MAXACTIVE": "4",
    }

    async def main(password: str) -> tuple[object, object]:
        options = redis_options(load_settings(None, {**env, "REGISTRY_REDIS_PASSWORD": password}))
        client = connect(options)
        try:
            await client.set("k", b"v")
            return await client.get("k"), await client.execute_command("CLIENT", "INFO")
        finally:
            await client.aclose()

    try:
        value, info = asyncio.run(main("s3cret"))
        assert value == b"v"
        text = info.decode() if isinstance(info, bytes) else str(info)
        assert " db=2 " in text and " user=dockyard " in text
        with pytest.raises(RedisError, match=r"(?i)auth|password|WRONGPASS"):
            asyncio.run(main("wrong"))
    finally:
        server.stop()
    assert os.path.isdir(server.directory)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, LdapTls]]:
    """redis-server speaking only TLS (certificates from the LDAP suite's helper), asking
    clients for a certificate signed by its CA."""
    tls = make_ldap_tls(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key),
         "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "yes", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline and process.poll() is None, "no TLS redis"
            time.sleep(0.05)
        yield port, tls
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_tls_with_the_servers_ca_and_a_client_certificate(
    tls_redis: tuple[int, LdapTls],
) -> None:
    from dockyard.cache.redis import connect

    port, tls = tls_redis

    async def ping(**extra: str) -> object:
        env = {"REGISTRY_REDIS_ADDR": f"127.0.0.1:{port}", "REGISTRY_REDIS_DIALTIMEOUT": "2s",
               "REGISTRY_REDIS_READTIMEOUT": "2s", **extra}  # fmt: skip
        client = connect(redis_options(load_settings(None, env)))
        try:
            return await client.ping()
        finally:
            await client.aclose()

    certificate = {"REGISTRY_REDIS_TLS_CERTIFICATE": str(tls.cert),
                   "REGISTRY_REDIS_TLS_KEY": str(tls.key)}  # fmt: skip
    assert asyncio.run(ping(REGISTRY_REDIS_TLS_CLIENTCAS=f"[{tls.ca}]", **certificate)) is True
    with pytest.raises(RedisError, match=r"(?i)certificate verify failed"):
        asyncio.run(ping(REGISTRY_REDIS_TLS_CLIENTCAS=f"[{tls.other_ca}]", **certificate))
    with pytest.raises(RedisError):  # the server drops a client without a certificate
        asyncio.run(ping(REGISTRY_REDIS_TLS_CLIENTCAS=f"[{tls.ca}]"))
    with pytest.raises(RedisError):  # plain text to a TLS port
        asyncio.run(ping())
