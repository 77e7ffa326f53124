"""Pages in replies: ``{"items": [...], "next": cursor}`` plus a ``Link`` header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from dockyard.api.mgmt.router import PAGING, PREFIX, Call, Reply
from dockyard.api.mgmt.schemas import Items
from dockyard.services.identity.common import Page

R = TypeVar("R")


def paged(call: Call, page: Page[R], convert: Callable[[R], Any]) -> Reply:
    items = [convert(item) for item in page.items]
    headers: tuple[tuple[str, str], ...] = ()
    if page.next is not None:
        query = {k: v[0] for k, v in call.request.query.items() if v and k != "cursor"}
        query["cursor"] = page.next
        headers = (("Link", f'<{PREFIX}{_path(call)}?{urlencode(query)}>; rel="next"'),)
    return Reply(200, Items(items, page.next), headers)


def _path(call: Call) -> str:
    return call.request.path[len(PREFIX) :]


PAGING_QUERY = PAGING
