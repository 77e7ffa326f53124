"""Helpers for driving real container clients (skopeo, podman, buildah) against dockyard.

Everything runs offline and on loopback: source images are OCI layout directories written by
hand, TLS material comes from ``openssl``, htpasswd files from ``htpasswd -B``. Each test session
gets a private HOME, containers storage (vfs), auth file, registries.conf, storage.conf,
containers.conf and policy.json, so the machine's container configuration is neither read nor
changed. One exception: skopeo running as root keeps its blob-location cache in
/var/lib/containers/cache (skopeo 1.9 has no option to move it); it is only a hint cache.
"""

from __future__ import annotations

import atexit
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import ssl
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from support.server import RunningServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"
USER, PASSWORD = "alice", "wonderland-e2e"

TOOL_PACKAGES = {
    "skopeo": "skopeo",
    "podman": "podman",
    "buildah": "buildah",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
}


def require_tool(name: str) -> str:
    """The tool's path; a missing tool FAILS the test (the test command installs them)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH: install the Debian package {TOOL_PACKAGES.get(name, name)!r} "
            "(scripts/bootstrap --test does it)",
            pytrace=False,
        )
    return path


def auth_refused(result: subprocess.CompletedProcess[str]) -> bool:
    """A client exited non-zero because the registry answered 401."""
    text = result.stderr.lower()
    return result.returncode != 0 and ("unauthorized" in text or "authentication required" in text)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
    timeout: float = 180,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on an unexpected exit code fail with the command line and its output."""
    result = subprocess.run(
        args,
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"command failed ({result.returncode}): {' '.join(args)}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


# --------------------------------------------------------------------------- isolated clients


def _short_runroot() -> Path:
    """A runroot directory under /tmp (pytest's own paths grow past podman's 50-character
    limit, e.g. under pytest-xdist's per-worker directories); removed when the tests end."""
    path = Path(tempfile.mkdtemp(prefix="dy-run-", dir="/tmp"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@dataclass
class Clients:
    """skopeo, podman and buildah with private configuration and storage under ``base``."""

    base: Path
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        base = self.base
        home, config, runtime = base / "home", base / "home/.config", base / "run"
        self.root, self.tmp = base / "storage", base / "tmp"
        self.runroot = _short_runroot()  # podman refuses a runroot longer than 50 characters
        for path in (home, config / "containers", runtime, self.root, self.runroot, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        self.authfile = base / "auth.json"
        # podman refuses a REGISTRY_AUTH_FILE that does not exist
        self.authfile.write_text('{"auths": {}}')
        self.policy = config / "containers/policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.registries_conf = base / "registries.conf"
        self.registries_conf.write_text(
            'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
        )
        self.storage_conf = base / "storage.conf"
        self.storage_conf.write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{self.root}"\nrunroot = "{self.runroot}"\n'
        )
        self.containers_conf = base / "containers.conf"
        self.containers_conf.write_text(
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'events_logfile_path = "{base / "events.log"}"\n'
        )
        keep = ("PATH", "LANG", "LC_ALL", "TZ")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(config),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_RUNTIME_DIR=str(runtime),
            TMPDIR=str(self.tmp),
            REGISTRY_AUTH_FILE=str(self.authfile),
            CONTAINERS_REGISTRIES_CONF=str(self.registries_conf),
            CONTAINERS_STORAGE_CONF=str(self.storage_conf),
            CONTAINERS_CONF=str(self.containers_conf),
            BUILDAH_ISOLATION="chroot",
        )

    def _storage_flags(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def skopeo(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        skopeo = require_tool("skopeo")
        return run([skopeo, "--policy", str(self.policy), *args], env=self.env, **kwargs)

    def podman(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        flags = [*self._storage_flags(), "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        return run([require_tool("podman"), *flags, *args], env=self.env, **kwargs)

    def buildah(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run([require_tool("buildah"), *self._storage_flags(), *args], env=self.env, **kwargs)


# --------------------------------------------------------------------------- OCI layouts


def make_layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A reproducible gzip tar layer: (compressed, uncompressed)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0), raw


@dataclass
class LayoutImage:
    manifest: bytes
    config: bytes
    layers: list[bytes]
    platform: dict[str, str]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> list[bytes]:
        return [self.config, *self.layers]

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": len(self.manifest)}


def make_image(
    layer_files: list[dict[str, bytes]], *, arch: str = "amd64", os_name: str = "linux"
) -> LayoutImage:
    """An OCI image whose config's diff_ids match its layers, so podman can store it."""
    pairs = [make_layer(files) for files in layer_files]
    config = json.dumps(
        {
            "architecture": arch,
            "os": os_name,
            "config": {"Env": ["PATH=/usr/bin"], "Labels": {"built-by": "dockyard-e2e"}},
            "rootfs": {"type": "layers", "diff_ids": [sha256(raw) for _, raw in pairs]},
            "history": [{"created_by": "dockyard e2e layer"} for _ in pairs],
        },
        indent=1,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": sha256(gz), "size": len(gz)}
                for gz, _ in pairs
            ],
        },
        indent=1,
    ).encode()
    platform = {"architecture": arch, "os": os_name}
    return LayoutImage(manifest, config, [gz for gz, _ in pairs], platform)


def make_index(images: list[LayoutImage]) -> bytes:
    entries = [{**image.descriptor(), "platform": image.platform} for image in images]
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return json.dumps(body, indent=1).encode()


class OciLayout:
    """Write an OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        (path / "blobs/sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        (self.path / "blobs/sha256" / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    def add_image(self, image: LayoutImage, tag: str) -> None:
        for data in [*image.blobs, image.manifest]:
            self.blob(data)
        self._ref(image.descriptor(), tag)

    def add_index(self, images: list[LayoutImage], tag: str) -> bytes:
        for image in images:
            for data in [*image.blobs, image.manifest]:
                self.blob(data)
        index = make_index(images)
        self.blob(index)
        self._ref({"mediaType": OCI_INDEX, "digest": sha256(index), "size": len(index)}, tag)
        return index

    def _ref(self, descriptor: dict[str, Any], tag: str) -> None:
        self.entries.append({**descriptor, "annotations": {REF_NAME: tag}})
        index = {"schemaVersion": 2, "manifests": self.entries}
        (self.path / "index.json").write_text(json.dumps(index))


def read_layout(path: Path, tag: str) -> tuple[bytes, dict[str, bytes]]:
    """(top-level manifest bytes for ``tag``, every blob in the layout by digest)."""
    index = json.loads((path / "index.json").read_text())
    found = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    assert len(found) == 1, index
    blobs = {
        "sha256:" + p.name: p.read_bytes() for p in (path / "blobs/sha256").iterdir() if p.is_file()
    }
    return blobs[found[0]["digest"]], blobs


def layer_files(layer: bytes) -> dict[str, bytes]:
    """Regular files in a (possibly gzip-compressed) tar layer."""
    raw = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name.removeprefix("./").lstrip("/")] = extracted.read()
    return files


# --------------------------------------------------------------------------- auth and TLS


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = []
    for user, password in users.items():
        result = run([require_tool("htpasswd"), "-Bbn", user, password])
        lines.append(result.stdout.strip())
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate
    cert: Path  # server certificate for IP:127.0.0.1
    key: Path  # server key
    cert_dir: Path  # a directory holding only ca.crt (containers-certs.d layout)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    openssl = require_tool("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run([openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
         "-subj", "/CN=dockyard e2e test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])  # fmt: skip
    run([openssl, "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"])
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName = IP:127.0.0.1\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(cert), "-days", "2",
         "-extfile", str(extensions)])  # fmt: skip
    cert_dir = directory / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    shutil.copy(ca, cert_dir / "ca.crt")
    return TlsFiles(ca, cert, key, cert_dir)


def auth_env(htpasswd: Path) -> dict[str, str]:
    return {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "dockyard-e2e",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd),
    }


def write_authfile(path: Path, host: str, user: str, password: str) -> Path:
    """A containers-auth.json (the format ``podman login`` writes) holding one credential."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


def tls_env(tls: TlsFiles) -> dict[str, str]:
    return {"REGISTRY_HTTP_TLS_CERTIFICATE": str(tls.cert), "REGISTRY_HTTP_TLS_KEY": str(tls.key)}


def access_log(server: RunningServer) -> list[dict[str, Any]]:
    """dockyard's JSON access-log records (one per request) from the server's log file."""
    records = []
    for line in server.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("logger") == "dockyard.access":
            records.append(record)
    return records


def host_of(server: RunningServer) -> str:
    return f"127.0.0.1:{server.port}"
