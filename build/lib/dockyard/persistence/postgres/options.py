"""``dockyard.database`` for PostgreSQL: a libpq URL plus dockyard's own pool parameters.

``postgresql://user:password@host:5432/dbname?pool_max_size=20&pool_timeout=5&sslmode=require``

The ``pool_*`` parameters size the connection pool of each worker process and are removed
before the URL reaches libpq; every other parameter is libpq's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POOL_PARAMETERS = ("pool_min_size", "pool_max_size", "pool_timeout")
SCHEMES = ("postgresql://", "postgres://")
N = TypeVar("N", int, float)


@dataclass(frozen=True, slots=True)
class PoolOptions:
    conninfo: str
    min_size: int = 1
    max_size: int = 10
    timeout: float = 5.0
    # Passed to libpq unless the URL sets them itself.
    connect_kwargs: dict[str, Any] = field(default_factory=dict)


def parse_url(url: str) -> PoolOptions:
    """Split dockyard's pool parameters off ``url``; ValueError when one is malformed."""
    if not url.startswith(SCHEMES):
        raise ValueError("dockyard.database: expected postgresql://...")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in POOL_PARAMETERS}
    rest = [(k, v) for k, v in query if k not in POOL_PARAMETERS]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    given = {k for k, _ in rest}
    defaults = {"connect_timeout": 5, "application_name": "dockyard"}
    options = PoolOptions(
        conninfo=conninfo,
        min_size=_number(ours, "pool_min_size", 1, int),
        max_size=_number(ours, "pool_max_size", 10, int),
        timeout=_number(ours, "pool_timeout", 5.0, float),
        connect_kwargs={k: v for k, v in defaults.items() if k not in given},
    )
    if not 0 <= options.min_size <= options.max_size or options.max_size < 1:
        raise ValueError("dockyard.database: need 0 <= pool_min_size <= pool_max_size, max >= 1")
    if options.timeout <= 0:
        raise ValueError("dockyard.database: pool_timeout must be positive (seconds)")
    return options


def _number(values: dict[str, str], key: str, default: N, kind: type[N]) -> N:
    if key not in values:
        return default
    try:
        return kind(values[key])
    except ValueError:
        raise ValueError(f"dockyard.database: {key}={values[key]!r} is not a number") from None
