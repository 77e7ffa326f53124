"""dpkg status files (``var/lib/dpkg/status``, distroless ``status.d/*``) and the apk
database (``lib/apk/db/installed``)."""

from __future__ import annotations

from collections.abc import Iterator

from dockyard.core.supplychain.model import Package
from dockyard.core.supplychain.purls import package


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    """RFC 822 style stanzas separated by blank lines; continuation lines are skipped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif line[0] in " \t":
            continue
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
    if fields:
        yield fields


def dpkg_packages(text: str, path: str) -> list[Package]:
    """Installed packages of a dpkg status file: a stanza without ``Status`` (distroless
    writes none) counts as installed; one whose status is not ``installed`` does not."""
    found = []
    for fields in _paragraphs(text):
        name, version = fields.get("package", ""), fields.get("version", "")
        status = fields.get("status", "install ok installed").split()
        if not name or not version or status[-1:] != ["installed"]:
            continue
        arch = fields.get("architecture", "")
        source = fields.get("source", "").split(" ", 1)[0]  # "openssl (3.0.11-1)": the name
        found.append(package("deb", name, version, path, distro="debian", arch=arch, source=source))
    return found


def apk_packages(text: str, path: str) -> list[Package]:
    """Packages of an apk ``installed`` database: one-letter keys, ``P`` name, ``V`` version."""
    found = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":":
                fields.setdefault(line[0], line[2:].strip())
        if fields.get("P") and fields.get("V"):
            found.append(
                package(
                    "apk", fields["P"], fields["V"], path, distro="alpine",
                    arch=fields.get("A", ""), source=fields.get("o", ""),
                )
            )  # fmt: skip
    return found
