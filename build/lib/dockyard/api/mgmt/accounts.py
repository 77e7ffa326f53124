"""Endpoints: the caller (``/me``), users, groups and personal access tokens."""

from __future__ import annotations

from typing import Any

from dockyard.api.mgmt.paging import SEARCH_QUERY, paged, paged_list
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import (
    Group,
    GroupMember,
    Items,
    Me,
    NewGroup,
    NewToken,
    NewUser,
    Token,
    TokenSecret,
    User,
    UserChange,
)
from dockyard.services.identity.records import AccessTokenRecord
from dockyard.services.identity.wiring import IdentityServices

SEARCH = SEARCH_QUERY


class Handlers:
    def __init__(self, services: IdentityServices) -> None:
        self.users, self.tokens = services.users, services.tokens

    async def me(self, call: Call) -> Reply:
        identity = call.principal.identity
        grants = identity.grants if identity is not None else None
        projects = grants.projects() if grants is not None else frozenset()
        kind = identity.kind if identity is not None else "anonymous"
        admin = identity is not None and identity.admin
        listed = None if projects is None else sorted(projects)
        return Reply(200, Me(call.principal.name, kind, admin, listed))

    async def list_users(self, call: Call) -> Reply:
        page = await self.users.list_users(
            call.principal,
            cursor=call.query("cursor"),
            limit=call.int_query("limit"),
            query=call.query("q"),
        )
        return paged(call, page, User.of)

    async def create_user(self, call: Call) -> Reply:
        body = call.body(NewUser)
        user = await self.users.create(
            call.principal, body.name, body.password, email=body.email, admin=body.admin
        )
        return Reply(201, User.of(user))

    async def get_user(self, call: Call) -> Reply:
        return Reply(200, User.of(await self.users.get(call.principal, call.params["user"])))

    async def update_user(self, call: Call) -> Reply:
        body = call.body(UserChange)
        user = await self.users.update(
            call.principal,
            call.params["user"],
            password=body.password,
            current_password=body.current_password,
            email=body.email,
            admin=body.admin,
            disabled=body.disabled,
        )
        return Reply(200, User.of(user))

    async def delete_user(self, call: Call) -> Reply:
        await self.users.delete(call.principal, call.params["user"])
        return Reply(204)

    async def list_groups(self, call: Call) -> Reply:
        page = await self.users.list_groups(
            call.principal,
            cursor=call.query("cursor"),
            limit=call.int_query("limit"),
            query=call.query("q"),
        )
        return paged(call, page, Group.of)

    async def create_group(self, call: Call) -> Reply:
        body = call.body(NewGroup)
        group = await self.users.create_group(call.principal, body.name, body.description)
        return Reply(201, Group.of(group, []))

    async def get_group(self, call: Call) -> Reply:
        group, members = await self.users.get_group(call.principal, call.params["group"])
        return Reply(200, Group.of(group, members))

    async def delete_group(self, call: Call) -> Reply:
        await self.users.delete_group(call.principal, call.params["group"])
        return Reply(204)

    async def add_group_member(self, call: Call) -> Reply:
        body = call.body(GroupMember)
        await self.users.set_group_member(
            call.principal, call.params["group"], body.user, member=True
        )
        return Reply(204)

    async def remove_group_member(self, call: Call) -> Reply:
        group, user = call.params["group"], call.params["user"]
        await self.users.set_group_member(call.principal, group, user, member=False)
        return Reply(204)

    async def list_tokens(self, call: Call) -> Reply:
        found = await self.tokens.list_tokens(call.principal, call.query("user") or None)
        return paged_list(call, found, Token.of, name=_name, order=_token_order)

    async def create_token(self, call: Call) -> Reply:
        body = call.body(NewToken)
        record, secret = await self.tokens.create(
            call.principal, body.name, expires_in=body.expires_in, permissions=body.permissions
        )
        return Reply(201, TokenSecret(Token.of(record), secret))

    async def revoke_token(self, call: Call) -> Reply:
        await self.tokens.revoke(call.principal, call.params["token"])
        return Reply(204)

    def endpoints(self) -> list[Endpoint]:
        u, g, t = "users", "groups", "tokens"
        return [
            Endpoint("GET", "/me", self.me, "Who the caller is", u, response=Me, public=True),
            Endpoint(
                "GET",
                "/users",
                self.list_users,
                "List users (administrators)",
                u,
                response=Items[User],
                query=SEARCH,
            ),
            Endpoint(
                "POST",
                "/users",
                self.create_user,
                "Create a local user (administrators)",
                u,
                request=NewUser,
                response=User,
                status=201,
            ),
            Endpoint(
                "GET",
                "/users/{user}",
                self.get_user,
                "A user (administrators, or oneself)",
                u,
                response=User,
            ),
            Endpoint(
                "PATCH",
                "/users/{user}",
                self.update_user,
                "Change a user: password (oneself: with current_password), email, admin, disabled",
                u,
                request=UserChange,
                response=User,
            ),
            Endpoint(
                "DELETE",
                "/users/{user}",
                self.delete_user,
                "Delete a user (administrators)",
                u,
                status=204,
            ),
            Endpoint(
                "GET",
                "/groups",
                self.list_groups,
                "List groups (administrators)",
                g,
                response=Items[Group],
                query=SEARCH,
            ),
            Endpoint(
                "POST",
                "/groups",
                self.create_group,
                "Create a local group (administrators)",
                g,
                request=NewGroup,
                response=Group,
                status=201,
            ),
            Endpoint(
                "GET",
                "/groups/{group}",
                self.get_group,
                "A group and its members",
                g,
                response=Group,
            ),
            Endpoint(
                "DELETE", "/groups/{group}", self.delete_group, "Delete a group", g, status=204
            ),
            Endpoint(
                "POST",
                "/groups/{group}/members",
                self.add_group_member,
                "Add a user to a group",
                g,
                request=GroupMember,
                status=204,
            ),
            Endpoint(
                "DELETE",
                "/groups/{group}/members/{user}",
                self.remove_group_member,
                "Remove a user from a group",
                g,
                status=204,
            ),
            Endpoint(
                "GET",
                "/tokens",
                self.list_tokens,
                "The caller's personal access tokens (administrators: ?user=)",
                t,
                response=Items[Token],
                query=(("user", "string", "another user's"), *SEARCH),
            ),
            Endpoint(
                "POST",
                "/tokens",
                self.create_token,
                "Create a personal access token; its secret is shown once",
                t,
                request=NewToken,
                response=TokenSecret,
                status=201,
            ),
            Endpoint(
                "DELETE",
                "/tokens/{token}",
                self.revoke_token,
                "Revoke a token at once",
                t,
                status=204,
            ),
        ]


def _name(record: Any) -> str:
    return str(record.name)


def _token_order(token: AccessTokenRecord) -> str:
    return f"{token.created_at:017.6f}:{token.id}"


def endpoints(services: IdentityServices) -> list[Endpoint]:
    return Handlers(services).endpoints()
