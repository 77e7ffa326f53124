"""Which HTTP versions ``dockyard serve`` offers under granian (cli/serve.py)."""

from __future__ import annotations

from pathlib import Path

from granian.constants import HTTPModes

from dockyard.cli.serve import _http_mode
from dockyard.config import Settings
from dockyard.config.loader import load_settings


def _settings(tmp_path: Path, http: str) -> Settings:
    config = tmp_path / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path}\nhttp:\n{http}"
    )
    return load_settings(str(config), {})


def test_plain_text_is_http1_only(tmp_path: Path) -> None:
    """No registry client speaks h2c, and detecting it costs every request CPU."""
    assert _http_mode(_settings(tmp_path, "  addr: 127.0.0.1:5000\n")) == HTTPModes.http1


def test_tls_offers_http2_through_alpn_unless_disabled(tmp_path: Path) -> None:
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("checked when the server starts, not here")
    tls = f"  tls:\n    certificate: {tmp_path}/c.pem\n    key: {tmp_path}/k.pem\n"
    assert _http_mode(_settings(tmp_path, tls)) == HTTPModes.auto
    disabled = tls + "  http2:\n    disabled: true\n"
    assert _http_mode(_settings(tmp_path, disabled)) == HTTPModes.http1
