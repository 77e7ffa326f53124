"""Pages in replies: ``{"items": [...], "next": cursor}`` plus a ``Link`` header.

Small lists a service returns whole (a project's members, the roles, a user's tokens) are
paged and filtered here with :func:`paged_list`, so every list takes ``limit``, ``cursor``
and ``q`` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from dockyard.api.mgmt.router import PAGING, PREFIX, Call, Reply
from dockyard.api.mgmt.schemas import Items
from dockyard.services.identity.common import Page, clamp, page_of

R = TypeVar("R")


def paged(call: Call, page: Page[R], convert: Callable[[R], Any]) -> Reply:
    items = [convert(item) for item in page.items]
    headers: tuple[tuple[str, str], ...] = ()
    if page.next is not None:
        query = {k: v[0] for k, v in call.request.query.items() if v and k != "cursor"}
        query["cursor"] = page.next
        headers = (("Link", f'<{PREFIX}{_path(call)}?{urlencode(query)}>; rel="next"'),)
    return Reply(200, Items(items, page.next), headers)


def paged_list(
    call: Call,
    items: Sequence[R],
    convert: Callable[[R], Any],
    *,
    name: Callable[[R], str],
    order: Callable[[R], str],
) -> Reply:
    """One page of ``items``: those whose name contains ``q``, sorted by ``order`` (unique per
    item; its value is the opaque cursor), after ``cursor``, at most ``limit``."""
    size, text, after = clamp(call.int_query("limit")), call.query("q"), call.query("cursor")
    chosen = sorted((item for item in items if text in name(item)), key=order)
    rest = [item for item in chosen if order(item) > after]
    return paged(call, page_of(rest[: size + 1], size, order), convert)


def by_id(record: Any) -> str:
    """An integer id as a cursor that sorts as text."""
    return f"{record.id:012d}"


def _path(call: Call) -> str:
    return call.request.path[len(PREFIX) :]


PAGING_QUERY = PAGING
SEARCH_QUERY = (*PAGING, ("q", "string", "only names containing this text"))
