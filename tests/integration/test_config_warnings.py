"""Configuration that used to be silently wrong, through the real ``dockyard`` command: a
missing htpasswd file, ``REGISTRY_*`` variables that name no key, and registry:2 keys that are
accepted but ignored."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import httpx

from support.server import DOCKYARD, serving

MIRROR = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
proxy:
  remoteurl: https://registry-1.docker.io
  ttl: 72h
notifications:
  endpoints:
    - name: hook
      url: http://127.0.0.1:9/hook
http:
  tls:
    ciphersuites: [TLS_AES_128_GCM_SHA256]
redis:
  addr: 127.0.0.1:6379
  dialtimeout: 10ms
  pool:
    maxidle: 16
"""


def dockyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")} | (env or {})
    return subprocess.run(
        [DOCKYARD, *args], capture_output=True, text=True, env=full, timeout=60, check=False
    )


def htpasswd_config(tmp_path: Path, path: Path) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"auth:\n  htpasswd:\n    realm: test\n    path: {path}\n"
    )
    return config


def test_a_missing_htpasswd_file_is_created_with_a_logged_password(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "htpasswd"
    config = htpasswd_config(tmp_path, path)
    checked = dockyard("config", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert f"warning: auth.htpasswd.path {path} does not exist: serve will create it" in (
        checked.stderr
    )
    assert not path.exists()  # config check only tells
    with serving(tmp_path, config=config.read_text(), data_dir_flag=False) as server:
        found = re.search(r"created it with user docker and password ([\w-]+)", server.log())
        assert found is not None, server.log()
        password = found[1]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text().startswith("docker:$2")
        assert httpx.get(server.url + "/v2/").status_code == 401
        assert httpx.get(server.url + "/v2/", auth=("docker", password)).status_code == 200
        assert httpx.get(server.url + "/v2/", auth=("docker", "guess")).status_code == 401
    before = path.read_text()
    with serving(tmp_path, config=config.read_text(), data_dir_flag=False) as server:
        assert "created it with user" not in server.log()
    assert path.read_text() == before  # an existing file is never rewritten


def test_an_htpasswd_file_that_cannot_be_created_refuses_to_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    path = blocker / "htpasswd"
    config = htpasswd_config(tmp_path, path)
    checked = dockyard("config", "check", "--config", str(config))
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [
        f"config: auth.htpasswd.path: {path} does not exist and cannot be created "
        f"({blocker} is not writable): serve will refuse to start"
    ]
    served = dockyard("serve", "--config", str(config), "--addr", "127.0.0.1:0")
    assert served.returncode == 1
    assert (
        served.stderr.strip()
        .splitlines()[-1]
        .startswith(f"config: auth.htpasswd.path: cannot create {path}")
    )
    assert "Traceback" not in served.stderr


def test_variables_naming_no_key_are_ignored_by_every_command(tmp_path: Path) -> None:
    env = {"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    checked = dockyard("config", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "ignoring unrecognized environment variable REGISTRY_AUTH_FILE" in checked.stderr
    migrated = dockyard("migrate", "--data-dir", str(tmp_path / "data"), env=env)
    assert migrated.returncode == 0, migrated.stderr
    bad = dockyard("config", "check", env={**env, "REGISTRY_STORAGE_DELETE_ENABLED": "maybe"})
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[-1].startswith(
        "config: REGISTRY_STORAGE_DELETE_ENABLED: storage.delete.enabled: expected bool"
    )


def test_accepted_but_ignored_keys_are_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "mirror.yml"
    config.write_text(MIRROR.format(root=tmp_path / "data"))
    checked = dockyard("config", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    warned = [line for line in checked.stderr.splitlines() if line.startswith("warning: ")]
    keys = [line.split()[1] for line in warned]
    # notifications and proxy.ttl work; redis.dialtimeout is applied
    assert keys == ["http.tls.ciphersuites", "redis.pool.maxidle"]
    clean = dockyard("config", "check")
    assert "warning" not in clean.stderr
    with serving(tmp_path, config=config.read_text(), data_dir_flag=False) as server:
        log = server.log()
    for key in keys:
        assert f"{key} is accepted for registry:2 compatibility but ignored" in log


def test_config_check_validates_the_proxy_section(tmp_path: Path) -> None:
    bad = dockyard("config", "check", env={"REGISTRY_PROXY_REMOTEURL": "registry-1.docker.io"})
    assert bad.returncode == 1
    assert "proxy.remoteurl: expected http(s)://HOST[:PORT]" in bad.stderr.splitlines()[-1]
    good = dockyard(
        "config",
        "check",
        env={
            "REGISTRY_PROXY_REMOTEURL": "https://registry-1.docker.io",
            "REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[10.0.0.0/8]",
        },
    )
    assert good.returncode == 0, good.stderr
    assert "proxy" not in good.stderr  # no longer "accepted but ignored"
