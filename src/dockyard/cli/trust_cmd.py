"""``dockyard trust list|set|remove``: a project's trust policies (signatures required to
pull), as the operator; the same service and checks as ``/api/v1/projects/P/trust-policies``.
Every node applies a change within a few seconds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dockyard.cli.common import add_config_arguments, fail, load, operator, with_registry
from dockyard.services.registry import Registry
from dockyard.services.trust.policies import MODES, SignerSpec, TrustPolicy


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("trust", help="trust policies: signatures required to pull")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="a project's policies, one JSON line each")
    listing.add_argument("project")
    put = actions.add_parser("set", help="create or replace a policy")
    put.add_argument("project")
    put.add_argument("name")
    for flag, metavar, what in (
        ("--key", "PEM_FILE", "a trusted public key (cosign); repeatable"),
        ("--ca", "PEM_FILE", "a trusted certificate authority (cosign, Notation); repeatable"),
        ("--identity", "RULE", "for --ca: subject:<DN>, email:, uri:, dns: (default: any)"),
    ):
        put.add_argument(flag, action="append", default=[], metavar=metavar, help=what)
    put.add_argument("--repositories", default="**", metavar="PATTERN", help="default: **")
    put.add_argument("--mode", choices=MODES, default="enforce")
    put.add_argument("--on-push", action="store_true", help="also check tag pushes")
    remove = actions.add_parser("remove", help="delete a policy")
    remove.add_argument("project")
    remove.add_argument("name")
    for sub in (listing, put, remove):
        add_config_arguments(sub)
        sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    try:
        signers = _signers(args) if args.action == "set" else []
    except OSError as exc:
        return fail(f"trust: {exc}")
    return with_registry(settings, lambda registry: _act(registry, args, signers))


def _signers(args: argparse.Namespace) -> list[SignerSpec]:
    keys = [SignerSpec("key", Path(p).read_text(), [], Path(p).name) for p in args.key]
    rules = list(args.identity)
    cas = [SignerSpec("ca", Path(p).read_text(), rules, Path(p).name) for p in args.ca]
    return keys + cas


async def _act(registry: Registry, args: argparse.Namespace, signers: list[SignerSpec]) -> int:
    service = registry.trust
    if service is None:
        return fail("trust: policies need identity management (dockyard.identity.enabled)")
    if args.action == "list":
        for policy in await service.list(operator(), args.project):
            print(json.dumps(_view(policy)))
        return 0
    if args.action == "remove":
        await service.delete(operator(), args.project, args.name)
        print(f"removed trust policy {args.name} of project {args.project}")
        return 0
    stored = await service.put(
        operator(),
        args.project,
        args.name,
        repositories=args.repositories,
        mode=args.mode,
        on_push=args.on_push,
        signers=signers,
    )
    print(json.dumps(_view(stored)))
    return 0


def _view(policy: TrustPolicy) -> dict[str, object]:
    return {
        "project": policy.project,
        "name": policy.name,
        "repositories": policy.repositories,
        "mode": policy.mode,
        "onPush": policy.on_push,
        "signers": [{"kind": s.kind, "name": s.name, "identities": s.identities}
                    for s in policy.signer_specs()],
        "revision": policy.revision,
    }  # fmt: skip
