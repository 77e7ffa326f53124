"""Go binaries' embedded build info (the ``\\xff Go buildinf:`` blob), read from the format:

a 32-byte header: the 14-byte magic, pointer size (1 byte), flags (1 byte). Go >= 1.18 sets
flag 0x2 and stores two varint-length-prefixed strings right after the header: the Go version
and the module info, whose text sits between two 16-byte sentinels. Older binaries (flag 0x2
unset) hold pointers into the data segment instead; following them needs the executable's
segment table, which this reader does not do yet: such binaries are reported without modules.

The module info is lines of tab-separated fields: ``path``, ``mod`` (main module), ``dep``
(dependency), ``=>`` (replacement of the line before), ``build`` (settings).
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.core.supplychain.model import Package
from dockyard.core.supplychain.purls import package

MAGIC = b"\xff Go buildinf:"
HEADER = 32
FLAG_INLINE_STRINGS = 0x2
MAX_STRING = 4 * 1024 * 1024
EXECUTABLE_MAGICS = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe")


def is_executable(head: bytes) -> bool:
    return head.startswith(EXECUTABLE_MAGICS)


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while offset < len(data) and shift < 64:
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        if not byte & 0x80:
            return value, offset
        shift += 7
    raise ValueError("truncated varint")


def _string(data: bytes, offset: int) -> tuple[bytes, int]:
    length, offset = _varint(data, offset)
    if length > MAX_STRING or offset + length > len(data):
        raise ValueError("truncated string")
    return data[offset : offset + length], offset + length


def read_blob(after_magic: bytes) -> tuple[str, str] | None:
    """(Go version, module info) from the bytes starting at the magic; None for the old
    pointer layout or a damaged blob."""
    if len(after_magic) < HEADER or not after_magic.startswith(MAGIC):
        return None
    if not after_magic[15] & FLAG_INLINE_STRINGS:
        return None
    try:
        version, offset = _string(after_magic, HEADER)
        modinfo, _ = _string(after_magic, offset)
    except ValueError:
        return None
    if len(modinfo) >= 33 and modinfo[-17:-16] == b"\n":
        modinfo = modinfo[16:-16]
    return version.decode("utf-8", "replace"), modinfo.decode("utf-8", "replace")


def go_packages(version: str, modinfo: str, path: str) -> list[Package]:
    """The main module and its dependencies (a replacement's path and version win); the
    toolchain itself as ``stdlib`` at the Go version."""
    found: list[Package] = []
    for fields in _lines(modinfo.splitlines()):
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            found.append(package("golang", fields[1], fields[2], path))
        elif fields[0] == "=>" and len(fields) >= 3 and found:
            found[-1] = package("golang", fields[1], fields[2], path)
    if version.startswith("go"):
        found.append(package("golang", "stdlib", "v" + version[2:].split(maxsplit=1)[0], path))
    return [p for p in found if p.version not in ("", "(devel)")]


def _lines(lines: Iterable[str]) -> Iterable[list[str]]:
    for line in lines:
        fields = line.split("\t")
        if fields and fields[0]:
            yield fields
