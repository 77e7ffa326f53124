"""The browsing pages: projects, repositories, tags, one artifact, and deleting with a
confirmation. Lists are keyset pages: a "more" link (an htmx button that appends the next
rows in place; a plain link without JavaScript) carries the last name shown as ``cursor``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from dockyard.auth.policy import Action
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry.manifests import is_digest_reference
from dockyard.ui import account
from dockyard.ui.render import Page, redirect
from dockyard.ui.visit import Visit

if TYPE_CHECKING:
    from dockyard.services.identity.records import ProjectRecord
    from dockyard.ui.app import UiContext

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class ProjectRow:
    name: str
    public: bool
    description: str
    members: int | None  # None: the caller may not see them
    stored: int | None
    limit: int | None


def _link(path: str, **query: str) -> str:
    return f"{path}?{urlencode({k: v for k, v in query.items() if v})}"


def _render(ctx: UiContext, visit: Visit, full: str, rows: str, **context: Any) -> Page:
    """The whole page, or only its rows for an htmx request."""
    return ctx.templates.page(rows if visit.partial else full, visit=visit, csrf=visit.csrf,
                              **context)  # fmt: skip


async def home(ctx: UiContext, visit: Visit) -> Page:
    """Projects (identity management) or repositories; for an anonymous visitor who may see
    neither, the sign-in page, answered 200: ``GET /`` stays a 200 as in registry:2, which
    load balancers and probes rely on."""
    if ctx.signin.identity:
        return await projects(ctx, visit)
    try:
        return await repositories(ctx, visit)
    except RegistryError as error:
        if error.code is not ErrorCode.DENIED or visit.principal.authenticated:
            raise
        return await account.signin_form(ctx, visit)


async def repositories(ctx: UiContext, visit: Visit) -> Page:
    query, cursor = visit.query("q"), visit.query("cursor")
    found = await ctx.browse.repositories(visit.principal, query=query, cursor=cursor,
                                          limit=PAGE_SIZE)  # fmt: skip
    more = _link("/ui/repositories", q=query, cursor=found.next or "") if found.next else ""
    return _render(ctx, visit, "repositories.html", "_repository_rows.html",
                   names=found.items, query=query, more=more)  # fmt: skip


async def projects(ctx: UiContext, visit: Visit) -> Page:
    identity = ctx.registry.identity
    if identity is None or not identity.enabled:
        return redirect("/ui/repositories")
    query, cursor = visit.query("q"), visit.query("cursor")
    found = await identity.projects.list_projects(visit.principal, cursor=cursor,
                                                  limit=PAGE_SIZE, query=query)  # fmt: skip
    rows = [await _project_row(ctx, visit, record) for record in found.items]
    more = _link("/ui/projects", q=query, cursor=found.next or "") if found.next else ""
    return _render(ctx, visit, "projects.html", "_project_rows.html",
                   projects=rows, query=query, more=more)  # fmt: skip


async def _project_row(ctx: UiContext, visit: Visit, record: ProjectRecord) -> ProjectRow:
    identity = ctx.registry.identity
    members: int | None = None
    if identity is not None:
        try:
            members = len(await identity.members.list_members(visit.principal, record.name))
        except RegistryError:
            members = None
    quotas = ctx.registry.lifecycle.quotas
    stored = await quotas.stored_bytes(record.name)
    limit = await quotas.limit(record.name)
    return ProjectRow(record.name, record.public, record.description, members, stored, limit)


async def project(ctx: UiContext, visit: Visit) -> Page:
    identity = ctx.registry.identity
    if identity is None or not identity.enabled:
        return redirect("/ui/repositories")
    name, cursor = visit.query("name"), visit.query("cursor")
    record = await identity.projects.get(visit.principal, name)
    found = await identity.projects.repositories(visit.principal, name, cursor=cursor,
                                                 limit=PAGE_SIZE)  # fmt: skip
    more = _link("/ui/project", name=name, cursor=found.next or "") if found.next else ""
    return _render(ctx, visit, "project.html", "_repository_rows.html",
                   project=await _project_row(ctx, visit, record), names=found.items,
                   more=more, query="")  # fmt: skip


async def repository(ctx: UiContext, visit: Visit) -> Page:
    name, cursor = visit.query("name"), visit.query("cursor")
    sort = visit.query("sort") or "name"
    found = await ctx.browse.tags(visit.principal, name, cursor=cursor, limit=PAGE_SIZE,
                                  sort=sort)  # fmt: skip
    chosen = "" if sort == "name" else sort
    more = _link("/ui/repository", name=name, sort=chosen, cursor=found.next or "")
    return _render(ctx, visit, "repository.html", "_tag_rows.html", repository=name,
                   tags=found.items, more=more if found.next else "", sort=sort,
                   deleted=visit.query("deleted"))  # fmt: skip


async def artifact(ctx: UiContext, visit: Visit) -> Page:
    name, reference = visit.query("repository"), visit.query("reference")
    detail = await ctx.browse.artifact(visit.principal, name, reference)
    by_tag = "" if is_digest_reference(reference) else reference
    return _render(ctx, visit, "artifact.html", "artifact.html", artifact=detail,
                   reference=reference, by_tag=by_tag,
                   can_untag=_may(ctx, visit, Action.DELETE_TAG, name),
                   can_delete=_may(ctx, visit, Action.DELETE, name))  # fmt: skip


def _may(ctx: UiContext, visit: Visit, action: Action, repository: str) -> bool:
    """Whether to offer a delete button (the delete itself is decided by the service)."""
    registry = ctx.registry
    return registry.options.delete_enabled and registry.policy.allows(
        visit.principal, action, repository
    )


async def confirm_delete(ctx: UiContext, visit: Visit) -> Page:
    name, reference = visit.query("repository"), visit.query("reference")
    if not visit.principal.authenticated and ctx.signin.available:
        raise RegistryError(ErrorCode.DENIED)
    detail = await ctx.browse.artifact(visit.principal, name, reference)
    return _render(ctx, visit, "confirm_delete.html", "confirm_delete.html", artifact=detail,
                   reference=reference, is_tag=not is_digest_reference(reference))  # fmt: skip


async def delete(ctx: UiContext, visit: Visit) -> Page:
    name, reference = visit.form.get("repository", ""), visit.form.get("reference", "")
    if not name or not reference:
        raise RegistryError(ErrorCode.BAD_REQUEST, "repository and reference are required")
    await ctx.registry.manifests.delete(visit.principal, name, reference)
    return redirect(_link("/ui/repository", name=name, deleted=reference))
