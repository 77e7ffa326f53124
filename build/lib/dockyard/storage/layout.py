"""The content-addressed path scheme, compatible with a Distribution storage root.

::

    <root>/
      docker/registry/v2/
        blobs/
          <algorithm>/<first two hex>/<hex>/data     published blob bytes (read by registry:2 too)
      dockyard/
        uploads/<upload id>/data                     bytes of an upload in progress (private)
        quarantine/<algorithm>/<hex>/<time>/<name>   bytes set aside by ``dockyard fsck``
        metadata.db                                  the embedded SQLite database (not storage's)

Blobs keep Distribution's paths so ``dockyard import`` can adopt an existing storage root
without moving bytes. Every path is built here from a validated digest or upload id.
"""

from __future__ import annotations

import re

from dockyard.core.digest import Digest

BLOBS_PREFIX = "docker/registry/v2/blobs"
UPLOADS_PREFIX = "dockyard/uploads"
QUARANTINE_PREFIX = "dockyard/quarantine"
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def blob_path(digest: Digest) -> str:
    """Where the bytes of ``digest`` live once published."""
    return f"{BLOBS_PREFIX}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def blob_dir(digest: Digest) -> str:
    """The directory holding a published blob (deleted whole by garbage collection)."""
    return blob_path(digest).rsplit("/", 1)[0]


def is_upload_id(upload_id: str) -> bool:
    return bool(_UPLOAD_ID.fullmatch(upload_id))


def upload_path(upload_id: str) -> str:
    """Where the bytes of an upload in progress live."""
    if not is_upload_id(upload_id):
        raise ValueError(f"invalid upload id {upload_id!r}")
    return f"{UPLOADS_PREFIX}/{upload_id}/data"


def upload_dir(upload_id: str) -> str:
    return upload_path(upload_id).rsplit("/", 1)[0]


def quarantine_path(digest: Digest, stamp: int, name: str = "data") -> str:
    """Where ``dockyard fsck --quarantine`` moves the broken bytes recorded under ``digest``."""
    if name not in ("data", "manifest"):
        raise ValueError(f"invalid quarantine file name {name!r}")
    return f"{QUARANTINE_PREFIX}/{digest.algorithm}/{digest.hex}/{stamp}/{name}"
