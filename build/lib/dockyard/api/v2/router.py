"""Match ``/v2`` paths to handlers. Names are matched loosely and validated by the services,
so a malformed name gets NAME_INVALID rather than a 404."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.api.context import Context
from dockyard.api.v2 import blobs, listing, manifests, mirror_blobs, uploads

Handler = Callable[[Context, dict[str, str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    pattern: re.Pattern[str]
    methods: dict[str, Handler]


# Most frequent first. "upload_start" and "upload" must stay ahead of "blob"; the others
# cannot match the same path.
ROUTES: tuple[Route, ...] = (
    Route(
        "manifest",
        re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": manifests.get,
            "HEAD": manifests.get,
            "PUT": manifests.put,
            "DELETE": manifests.delete,
        },
    ),
    Route(
        "upload_start", re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$"), {"POST": uploads.start}
    ),
    Route(
        "upload",
        re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]+)$"),
        {
            "GET": uploads.status,
            "PATCH": uploads.patch,
            "PUT": uploads.put,
            "DELETE": uploads.cancel,
        },
    ),
    Route(
        "blob",
        re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$"),
        {"GET": mirror_blobs.get, "HEAD": mirror_blobs.get, "DELETE": blobs.delete},
    ),
    Route(
        "referrers",
        re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$"),
        {"GET": listing.referrers},
    ),
    Route(
        "tags",
        re.compile(r"^/v2/(?P<name>.+)/tags/list$"),
        {"GET": listing.tags},
    ),
    Route("base", re.compile(r"^/v2/?$"), {"GET": listing.base, "HEAD": listing.base}),
    Route("catalog", re.compile(r"^/v2/_catalog$"), {"GET": listing.catalog}),
)


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is not None:
            return route, found.groupdict()
    return None
