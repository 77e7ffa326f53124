"""Endpoints: replication policies and their runs (system administrators; replication.md).

Credentials are accepted in a policy's body and never returned (``has_credentials`` says
whether there are some). A run is queued as a job and answered at once (202); a dry run is
planned at once and answered finished (200) with its plan in ``GET /replication/runs/{id}``.
"""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.services.replication.service import (
    PolicyInput,
    PolicyView,
    ReplicationService,
    RunDetail,
    RunView,
)

TAG = "replication"


class PolicyList(msgspec.Struct):
    items: list[PolicyView]


class RunList(msgspec.Struct):
    items: list[RunView]


class RunRequest(msgspec.Struct, forbid_unknown_fields=True):
    dry_run: bool = False


class Handlers:
    def __init__(self, service: ReplicationService) -> None:
        self.service = service

    async def list_policies(self, call: Call) -> Reply:
        return Reply(200, PolicyList(await self.service.policies(call.principal)))

    async def create_policy(self, call: Call) -> Reply:
        return Reply(201, await self.service.create(call.principal, call.body(PolicyInput)))

    async def get_policy(self, call: Call) -> Reply:
        return Reply(200, await self.service.show(call.principal, call.params["policy"]))

    async def replace_policy(self, call: Call) -> Reply:
        name, body = call.params["policy"], call.body(PolicyInput)
        return Reply(200, await self.service.change(call.principal, name, body))

    async def delete_policy(self, call: Call) -> Reply:
        await self.service.remove(call.principal, call.params["policy"])
        return Reply(204)

    async def start_run(self, call: Call) -> Reply:
        body = call.body(RunRequest) if call.raw_body.strip() else RunRequest()
        run = await self.service.start(call.principal, call.params["policy"],
                                       dry_run=body.dry_run)  # fmt: skip
        return Reply(200 if body.dry_run else 202, run)

    async def policy_runs(self, call: Call) -> Reply:
        limit = call.int_query("limit") or 50
        runs = await self.service.runs(call.principal, call.params["policy"], limit)
        return Reply(200, RunList(runs))

    async def all_runs(self, call: Call) -> Reply:
        limit = call.int_query("limit") or 50
        return Reply(200, RunList(await self.service.runs(call.principal, None, limit)))

    async def get_run(self, call: Call) -> Reply:
        return Reply(200, await self.service.detail(call.principal, call.int_param("run")))

    async def stop_run(self, call: Call) -> Reply:
        return Reply(200, await self.service.stop(call.principal, call.int_param("run")))

    def endpoints(self) -> list[Endpoint]:
        policies, policy = "/replication/policies", "/replication/policies/{policy}"
        limit = (("limit", "integer", "how many runs, newest first (default 50, at most 500)"),)
        return [
            Endpoint("GET", policies, self.list_policies, "Replication policies", TAG,
                     response=PolicyList),
            Endpoint("POST", policies, self.create_policy, "Create a replication policy", TAG,
                     request=PolicyInput, response=PolicyView, status=201),
            Endpoint("GET", policy, self.get_policy, "A replication policy", TAG,
                     response=PolicyView),
            Endpoint("PUT", policy, self.replace_policy,
                     "Replace a policy (credentials kept unless given)", TAG,
                     request=PolicyInput, response=PolicyView),
            Endpoint("DELETE", policy, self.delete_policy, "Delete a policy and its runs", TAG,
                     status=204),
            Endpoint("POST", policy + "/runs", self.start_run,
                     "Start a run (202, queued) or plan one (dry_run: 200, finished)", TAG,
                     request=RunRequest, response=RunView, status=202),
            Endpoint("GET", policy + "/runs", self.policy_runs, "A policy's runs", TAG,
                     response=RunList, query=limit),
            Endpoint("GET", "/replication/runs", self.all_runs, "Every policy's runs", TAG,
                     response=RunList, query=limit),
            Endpoint("GET", "/replication/runs/{run}", self.get_run,
                     "A run with its per-image results", TAG, response=RunDetail),
            Endpoint("POST", "/replication/runs/{run}/stop", self.stop_run,
                     "Stop a run (its copies stop within seconds)", TAG, response=RunView),
        ]  # fmt: skip


def endpoints(service: ReplicationService | None) -> list[Endpoint]:
    return [] if service is None else Handlers(service).endpoints()
