"""Manifest formats: parse a pushed body into what the registry must check and record.

One module per format family: :mod:`.image` (OCI image manifest, Docker schema 2) and
:mod:`.index` (OCI image index, Docker manifest list). :func:`parse_manifest` picks one by the
pushed ``Content-Type`` and the body's own ``mediaType``.
"""

from __future__ import annotations

from dockyard.core.manifest.model import ParsedManifest
from dockyard.core.manifest.parse import parse_manifest

__all__ = ["ParsedManifest", "parse_manifest"]
