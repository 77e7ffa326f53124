"""Endpoints: a project's trust policies (signatures required to pull). Authorization is
decided in the service: ``project:read`` lists them, ``project:configure`` (project admins)
creates, replaces and deletes them."""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Body, iso
from dockyard.services.trust.policies import SignerSpec, TrustPolicies, TrustPolicy


class SignerView(msgspec.Struct):
    kind: str  # key | ca
    pem: str
    identities: list[str]
    name: str


class TrustPolicyView(msgspec.Struct):
    name: str
    repositories: str
    mode: str
    onPush: bool  # noqa: N815 - the wire name
    signers: list[SignerView]
    revision: int
    updatedBy: str  # noqa: N815 - the wire name
    updatedAt: str | None  # noqa: N815 - the wire name

    @classmethod
    def of(cls, policy: TrustPolicy) -> TrustPolicyView:
        signers = [SignerView(s.kind, s.pem, s.identities, s.name) for s in policy.signer_specs()]
        return cls(
            policy.name,
            policy.repositories,
            policy.mode,
            policy.on_push,
            signers,
            policy.revision,
            policy.updated_by,
            iso(policy.updated_at),
        )


class TrustPolicies_(msgspec.Struct):  # noqa: N801 - named apart from the service class
    items: list[TrustPolicyView]


class TrustPolicyRequest(Body):
    signers: list[SignerSpec]
    repositories: str = "**"
    mode: str = "enforce"
    onPush: bool = False  # noqa: N815 - the wire name


class Handlers:
    def __init__(self, service: TrustPolicies) -> None:
        self.service = service

    async def list_policies(self, call: Call) -> Reply:
        found = await self.service.list(call.principal, call.params["project"])
        return Reply(200, TrustPolicies_([TrustPolicyView.of(p) for p in found]))

    async def put(self, call: Call) -> Reply:
        wanted = call.body(TrustPolicyRequest)
        stored = await self.service.put(
            call.principal,
            call.params["project"],
            call.params["name"],
            repositories=wanted.repositories,
            mode=wanted.mode,
            on_push=wanted.onPush,
            signers=wanted.signers,
        )
        return Reply(200, TrustPolicyView.of(stored))

    async def delete(self, call: Call) -> Reply:
        await self.service.delete(call.principal, call.params["project"], call.params["name"])
        return Reply(204)

    def endpoints(self) -> list[Endpoint]:
        tag = "trust"
        listing, one = (
            "/projects/{project}/trust-policies",
            "/projects/{project}/trust-policies/{name}",
        )
        return [
            Endpoint(
                "GET",
                listing,
                self.list_policies,
                "A project's trust policies (project:read)",
                tag,
                response=TrustPolicies_,
            ),
            Endpoint(
                "PUT",
                one,
                self.put,
                "Create or replace a trust policy (project:configure)",
                tag,
                request=TrustPolicyRequest,
                response=TrustPolicyView,
            ),
            Endpoint(
                "DELETE",
                one,
                self.delete,
                "Delete a trust policy (project:configure)",
                tag,
                status=204,
            ),
        ]


def endpoints(service: TrustPolicies | None) -> list[Endpoint]:
    return Handlers(service).endpoints() if service is not None else []
