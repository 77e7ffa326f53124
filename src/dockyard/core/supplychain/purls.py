"""Package URLs (purl spec) for each ecosystem, built with packageurl-python."""

from __future__ import annotations

from packageurl import PackageURL

from dockyard.core.supplychain.model import Package


def _purl(kind: str, name: str, version: str, **extra: object) -> str:
    namespace = None
    if kind in ("npm", "golang") and "/" in name:
        namespace, name = name.rsplit("/", 1)
    qualifiers = {k: str(v) for k, v in extra.items() if v}
    return str(
        PackageURL(
            type=kind,
            namespace=namespace,
            name=name,
            version=version or None,
            qualifiers=qualifiers or None,
        ).to_string()
    )


def package(
    ecosystem: str,
    name: str,
    version: str,
    path: str,
    *,
    distro: str = "",
    arch: str = "",
    source: str = "",
) -> Package:
    """A package with its purl; ``distro`` is the purl namespace of OS packages (debian...)."""
    if ecosystem in ("deb", "apk", "rpm"):
        purl = str(
            PackageURL(
                type=ecosystem,
                namespace=distro or None,
                name=name,
                version=version or None,
                qualifiers={"arch": arch} if arch else None,
            ).to_string()
        )
    else:
        purl = _purl(ecosystem, name, version)
    source = "" if source == name else source
    return Package(
        ecosystem=ecosystem, name=name, version=version, purl=purl, path=path, source=source
    )
