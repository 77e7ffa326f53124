"""Layer fixtures in the published formats: tar layers holding dpkg status files, apk
installed databases, an rpmdb.sqlite written with sqlite3 in rpm's header format, Python
dist-info, npm lock files and manifests, and Go build info blobs."""

from __future__ import annotations

import gzip
import io
import sqlite3
import struct
import tarfile
from collections.abc import Iterable

GO_MAGIC = b"\xff Go buildinf:"
GO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
GO_END = bytes.fromhex("f932433186182072008242104116d8f2")


def tar_layer(
    files: dict[str, bytes], *, compress: bool = True, executable: Iterable[str] = ()
) -> bytes:
    """A layer tar (gzip by default); a path ending in ``/`` is a directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            entry = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(entry)
                continue
            entry.size, entry.mode = len(data), 0o755 if name in executable else 0o644
            archive.addfile(entry, io.BytesIO(data))
    raw = out.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def dpkg_status(packages: Iterable[tuple[str, str]], status: str = "install ok installed") -> bytes:
    stanzas = [
        f"Package: {name}\nStatus: {status}\nPriority: optional\nArchitecture: amd64\n"
        f"Version: {version}\nDescription: {name}\n a longer description\n .\n more\n"
        for name, version in packages
    ]
    return "\n".join(stanzas).encode()


def apk_installed(packages: Iterable[tuple[str, str]]) -> bytes:
    blocks = [
        f"C:Q1abc=\nP:{name}\nV:{version}\nA:x86_64\nS:1000\nI:2000\nT:{name}\no:{name}\n"
        for name, version in packages
    ]
    return "\n".join(blocks).encode() + b"\n"


def rpm_header(name: str, version: str, release: str, epoch: int | None, arch: str) -> bytes:
    """One header blob as rpm stores it in rpmdb.sqlite: il, dl, index entries, data."""
    entries, data = [], b""
    # the immutable region tag comes first in real headers; readers skip it
    entries.append((63, 7, 0, 16))
    data += b"\0" * 16
    for tag, text in ((1000, name), (1001, version), (1002, release), (1022, arch)):
        entries.append((tag, 6, len(data), 1))
        data += text.encode() + b"\0"
    if epoch is not None:
        data += b"\0" * (-len(data) % 4)
        entries.append((1003, 4, len(data), 1))
        data += struct.pack(">i", epoch)
    index = b"".join(struct.pack(">iiii", *entry) for entry in entries)
    return struct.pack(">ii", len(entries), len(data)) + index + data


def rpmdb_sqlite(packages: Iterable[tuple[str, str, str, int | None, str]]) -> bytes:
    """An rpmdb.sqlite with rpm's ``Packages`` table, made with the sqlite3 module."""
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
    )
    connection.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL)")
    for package in packages:
        connection.execute("INSERT INTO Packages(blob) VALUES (?)", (rpm_header(*package),))
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data


def dist_info(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nbody\n".encode()


def npm_lock_v3(packages: dict[str, str]) -> bytes:
    entries = {"": {"name": "app", "version": "1.0.0"}}
    entries |= {f"node_modules/{name}": {"version": v} for name, v in packages.items()}
    import json

    return json.dumps({"name": "app", "lockfileVersion": 3, "packages": entries}).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def go_binary(go_version: str, modinfo: str, *, pad: int = 5000) -> bytes:
    """An ELF-headed file holding a Go >= 1.18 build info blob (inline strings)."""
    mod = GO_START + modinfo.encode() + GO_END
    header = GO_MAGIC + bytes([8, 0x2]) + b"\0" * (32 - len(GO_MAGIC) - 2)
    blob = header + _varint(len(go_version)) + go_version.encode() + _varint(len(mod)) + mod
    return b"\x7fELF\x02\x01\x01" + b"\0" * pad + blob + b"\0" * 64


def go_modinfo(main: str, deps: Iterable[tuple[str, str]]) -> str:
    lines = [f"path\t{main}/cmd/app", f"mod\t{main}\t(devel)\t"]
    lines += [f"dep\t{path}\t{version}\th1:abc=" for path, version in deps]
    lines.append("build\tGOOS=linux")
    return "\n".join(lines) + "\n"
