"""TLS options from registry:2's config: client certificates (clientcas) and minimumtls."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import TlsFiles, require_tool, run, tls_env
from support.server import serving

pytestmark = pytest.mark.clients


def _client_cert(tls: TlsFiles, directory: Path) -> tuple[Path, Path]:
    """A client certificate signed by the test CA (extendedKeyUsage clientAuth)."""
    openssl = require_tool("openssl")
    key, csr, cert = directory / "client.key", directory / "client.csr", directory / "client.crt"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run([openssl, "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=client"])
    extensions = directory / "client.ext"
    extensions.write_text("extendedKeyUsage = clientAuth\nbasicConstraints = critical, CA:FALSE\n")
    run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(tls.ca),
         "-CAkey", str(tls.ca.with_name("ca.key")), "-CAcreateserial", "-out", str(cert),
         "-days", "2", "-extfile", str(extensions)])  # fmt: skip
    return cert, key


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_client_certificates_required_with_clientcas(
    tmp_path: Path, tls: TlsFiles, server: str
) -> None:
    cert, key = _client_cert(tls, tmp_path)
    with_cert = tls.ssl_context()
    with_cert.load_cert_chain(str(cert), str(key))
    env = {**tls_env(tls), "REGISTRY_HTTP_TLS_CLIENTCAS": f"[{tls.ca}]"}
    with serving(tmp_path, env=env, scheme="https", verify=with_cert, server=server) as running:
        with httpx.Client(base_url=running.url, verify=with_cert) as client:
            assert client.get("/v2/").status_code == 200
        with (
            pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
            httpx.Client(base_url=running.url, verify=tls.ssl_context()) as anonymous,
        ):
            anonymous.get("/v2/")


def test_minimum_tls_version_is_enforced(tmp_path: Path, tls: TlsFiles) -> None:
    env = {**tls_env(tls), "REGISTRY_HTTP_TLS_MINIMUMTLS": "tls1.3"}
    with serving(tmp_path, env=env, scheme="https", verify=tls.ssl_context()) as running:
        modern = tls.ssl_context()
        with httpx.Client(base_url=running.url, verify=modern) as client:
            assert client.get("/v2/").status_code == 200
        old = tls.ssl_context()
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            pytest.raises(httpx.ConnectError),
            httpx.Client(base_url=running.url, verify=old) as client,
        ):
            client.get("/v2/")
