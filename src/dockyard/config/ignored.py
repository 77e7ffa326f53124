"""registry:2 keys dockyard accepts, so that existing files load, but does not act on yet.

:func:`ignored_keys` names every such key that a configuration sets (to anything but its
default), so ``dockyard serve`` and ``dockyard config check`` can warn: a registry:2 file
with ``notifications`` would otherwise start a registry that silently sends no webhooks. Keep this
table in step with ``model.py`` and the "Which registry:2 keys dockyard uses" section of
docs/configuration.md.
"""

from __future__ import annotations

from typing import Any

from dockyard.config.model import Settings

# Keys (or whole sections) with no effect at all.
IGNORED = (
    "log.hooks",
    "log.reportcaller",
    "http.net",
    "http.tls.ciphersuites",
    "http.tls.letsencrypt",
    "storage.filesystem.maxthreads",
    "storage.s3.objectacl",
    "storage.s3.usedualstack",
    "storage.s3.accelerate",
    "storage.s3.loglevel",
    "storage.s3.v4auth",
    "storage.s3.checksumdisabled",
    "storage.s3.checksumalgorithm",
    "storage.tag",
    "middleware",
    "reporting",
    "validation.enabled",
    "validation.disabled",
    "compatibility",
    "catalog",
    "policy",
    "redis.pool.maxidle",
    "redis.pool.idletimeout",
    *(f"redis.{key}" for key in (
        "clientname", "protocol", "maxretries", "minretrybackoff", "maxretrybackoff",
        "pooltimeout", "poolfifo", "minidleconns", "maxidleconns", "maxactiveconns",
        "connmaxidletime", "connmaxlifetime", "mastername", "sentinelusername",
        "sentinelpassword", "maxredirects", "readonly", "routebylatency", "routerandomly",
        "contexttimeoutenabled", "disableindentity", "disableidentity", "identitysuffix",
        "unstableresp3", "isclustermode",
    )),
)  # fmt: skip

# Free-form sections of which dockyard reads only some keys.
READ_IN_PART: dict[str, frozenset[str]] = {
    "health": frozenset({"storagedriver"}),
    "storage.cache": frozenset({"blobdescriptor"}),
    "validation.manifests": frozenset({"indexes"}),
}

# What a user of the key should know beyond "ignored".
CONSEQUENCES = {
    "middleware": "no storage or registry middleware (e.g. CloudFront redirects) runs",
    "http.net": "dockyard listens on TCP as http.addr says (unix is refused at start)",
    "validation.manifests.urls": "manifest URL rules are not enforced",
}

_MISSING: Any = object()


def ignored_keys(settings: Settings) -> list[str]:
    """Every accepted-but-ignored key ``settings`` sets to something other than its default."""
    found = [key for key in IGNORED if _differs(settings, key)]
    for section, read in READ_IN_PART.items():
        value = _lookup(settings, section)
        if isinstance(value, dict):
            found += [f"{section}.{key}" for key in sorted(value) if key not in read]
    return found


def ignored_warnings(settings: Settings) -> list[str]:
    """One sentence per ignored key, for a log line or ``config check``."""
    lines = []
    for key in ignored_keys(settings):
        why = CONSEQUENCES.get(key)
        text = f"{key} is accepted for registry:2 compatibility but ignored (not implemented)"
        lines.append(f"{text}: {why}" if why else text)
    return lines


def _differs(settings: Settings, key: str) -> bool:
    *parents, name = key.split(".")
    owner = _lookup(settings, ".".join(parents)) if parents else settings
    if owner is None or owner is _MISSING:
        return False
    default = getattr(type(owner)(), name)
    return bool(getattr(owner, name) != default)


def _lookup(settings: Settings, dotted: str) -> Any:
    node: Any = settings
    for part in dotted.split("."):
        node = getattr(node, part, _MISSING)
        if node is None or node is _MISSING:
            return node
    return node
