"""The optional backends and the extras that install them (pyproject.toml).

``pip install dockyard`` runs the embedded default (SQLite and files); PostgreSQL, S3, Redis
and LDAP need their extra. A configuration that names a backend whose packages are missing is
refused before anything starts, in one line that says which extra to install, rather than
with an ImportError from deep inside (the backends are imported lazily, when configured).
"""

from __future__ import annotations

import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg", "psycopg_pool"),
    "s3": ("obstore", "botocore"),
    "redis": ("redis",),
    "ldap": ("ldap3",),
}


def missing_modules(extra: str) -> list[str]:
    return [module for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]


def require_extra(extra: str, needed_by: str) -> None:
    """SystemExit naming ``extra`` when a module of it is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise SystemExit(
            f"config: {needed_by} needs dockyard's {extra!r} extra ({', '.join(missing)} "
            f"not installed): pip install 'dockyard[{extra}]'"
        )
