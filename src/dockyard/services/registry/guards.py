"""Checks shared by the services: pull-through cache, read-only mode and deletion switches.

A repository under a cache prefix (``dockyard.mirror.upstreams``, ``/api/v1/mirrors``) is
read-only whatever else is configured: its content is the upstream's.

``ensure_writable`` / ``ensure_delete_enabled`` also honour the read-only mode switched at run
time (``RegistryOptions.runtime``); every write path awaits them.
"""

from __future__ import annotations

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import RegistryOptions


def require_writable(options: RegistryOptions) -> None:
    if options.pull_through:  # registry:2 answers the same (405 UNSUPPORTED)
        raise RegistryError(
            ErrorCode.UNSUPPORTED,
            "this registry is a pull-through cache: pushes and deletes are not supported",
            status=405,
        )
    if options.read_only:
        raise RegistryError(ErrorCode.UNSUPPORTED, "the registry is in read-only mode", status=405)


def require_delete_enabled(options: RegistryOptions) -> None:
    require_writable(options)
    if not options.delete_enabled:
        raise RegistryError(
            ErrorCode.UNSUPPORTED,
            "deletion is disabled (storage.delete.enabled)",
            status=405,
        )


async def ensure_writable(options: RegistryOptions, repository: str = "") -> None:
    """Writes are possible (and, given ``repository``, it is not under a cache prefix)."""
    require_writable(options)
    if repository and options.caches is not None:
        spec = await options.caches.covering(repository)
        if spec is not None:
            raise RegistryError(
                ErrorCode.UNSUPPORTED,
                f'{spec.prefix}/ is a pull-through cache of "{spec.name}": pushes and deletes'
                " are not supported there",
                status=405,
            )
    if options.runtime is not None:
        await options.runtime.require_writable()


async def ensure_delete_enabled(options: RegistryOptions, repository: str = "") -> None:
    await ensure_writable(options, repository)
    require_delete_enabled(options)
