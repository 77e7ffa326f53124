"""The rpm database in its sqlite form (``var/lib/rpm/rpmdb.sqlite``, rpm >= 4.16), headers
parsed with our own code from rpm's header format.

Each row of ``Packages`` holds one header blob as rpm exports it (no lead, no magic):
``il`` (index entries) and ``dl`` (data bytes) as big-endian int32, then ``il`` entries of
16 bytes (tag, type, offset, count, each big-endian int32), then the data store. Berkeley DB
(``Packages``) and ndb (``Packages.db``) databases are not read yet.
"""

from __future__ import annotations

import sqlite3
import struct

from dockyard.core.supplychain.model import LayerRefusedError, Package
from dockyard.core.supplychain.purls import package

RPMDB_SQLITE = "var/lib/rpm/rpmdb.sqlite"
RPMDB_SQLITE_USR = "usr/lib/sysimage/rpm/rpmdb.sqlite"

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH = 1000, 1001, 1002, 1003, 1022
TYPE_INT32, TYPE_STRING, TYPE_I18NSTRING = 4, 6, 9
MAX_INDEX_ENTRIES = 100_000


def parse_header(blob: bytes) -> dict[int, str | int]:
    """The NAME, VERSION, RELEASE, EPOCH and ARCH tags of one header blob."""
    if len(blob) < 8:
        raise ValueError("header too short")
    count, data_length = struct.unpack_from(">ii", blob, 0)
    store = 8 + 16 * count
    if not 0 <= count <= MAX_INDEX_ENTRIES or data_length < 0 or store + data_length > len(blob):
        raise ValueError("header sizes out of range")
    wanted = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH}
    values: dict[int, str | int] = {}
    for i in range(count):
        tag, kind, offset, _ = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in wanted or not 0 <= offset < data_length:
            continue
        start = store + offset
        if kind == TYPE_INT32 and offset + 4 <= data_length:
            values[tag] = struct.unpack_from(">i", blob, start)[0]
        elif kind in (TYPE_STRING, TYPE_I18NSTRING):
            end = blob.find(b"\0", start, store + data_length)
            if end >= 0:
                values[tag] = blob[start:end].decode("utf-8", "replace")
    return values


def _evr(values: dict[int, str | int]) -> str:
    version = f"{values.get(TAG_VERSION, '')}-{values.get(TAG_RELEASE, '')}"
    epoch = values.get(TAG_EPOCH)
    return f"{epoch}:{version}" if isinstance(epoch, int) and epoch else version


def rpm_packages(database: bytes, path: str) -> list[Package]:
    """Every package of an ``rpmdb.sqlite`` file's bytes, opened in memory (never on disk)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(database)
        rows = connection.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LayerRefusedError(f"{path}: not an rpm sqlite database ({exc})") from None
    finally:
        connection.close()
    found = []
    for (blob,) in rows:
        try:
            values = parse_header(bytes(blob))
        except (ValueError, struct.error):
            continue
        name = values.get(TAG_NAME)
        if isinstance(name, str) and name and TAG_VERSION in values:
            arch = values.get(TAG_ARCH)
            found.append(
                package(
                    "rpm",
                    name,
                    _evr(values),
                    path,
                    distro="redhat",
                    arch=arch if isinstance(arch, str) else "",
                )
            )
    return found
