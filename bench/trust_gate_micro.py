"""The pull gate's own cost per manifest GET with a trust policy and a cached verdict,
measured in process (no HTTP, so the machine's load hardly matters): the real
``TrustPolicies``, ``SignatureCheck`` and ``PullGate`` over an in-memory store, a verdict made
once from a real cosign signature, then ``admit`` called N times. Also the cost with a policy
in another project only (what an unpolicied repository pays) and with no gate at all.

    .venv/bin/python -m bench.trust_gate_micro [--calls 200000]

Compare the microseconds per call with the server's CPU time per manifest GET (about
110-160 us here, ``bench/trust_gate.py``): the gate's share is their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import msgspec

from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.signatures import cosign
from dockyard.persistence.records import ManifestRecord
from dockyard.persistence.sql.trust import TrustPolicyRow
from dockyard.services.trust.evidence import Evidence
from dockyard.services.trust.gate import PullGate
from dockyard.services.trust.policies import SignerSpec, TrustPolicies
from dockyard.services.trust.signature_check import SignatureCheck
from support.signing import (
    cosign_layer_annotations,
    ec_key,
    public_pem,
    simple_signing_payload,
)

DIGEST = "sha256:" + "ab" * 32
KEY = ec_key()


class MemoryStore:
    async def trust_policies(self, project: str | None = None) -> list[TrustPolicyRow]:
        signers = msgspec.json.encode([SignerSpec("key", public_pem(KEY))]).decode()
        return [TrustPolicyRow(1, "gated", "release", "**", "enforce", False, signers, 1, "", 0)]

    async def put_trust_policy(self, row: TrustPolicyRow) -> TrustPolicyRow | None:
        return None

    async def delete_trust_policy(self, project: str, name: str) -> bool:
        return False

    async def parent_indexes(self, repository: str, digest: str) -> list[str]:
        return []


class OneSignature:
    async def find(self, repository: str, digest: str) -> Evidence:
        payload = simple_signing_payload(digest)
        signed = cosign.simple_signing(payload, cosign_layer_annotations(KEY, payload), digest)
        return Evidence([signed])


async def per_call(gate: PullGate | None, repository: str, calls: int) -> float:
    principal, record = Principal("bench"), ManifestRecord(DIGEST, "application/json", b"{}")
    if gate is not None:
        await gate.admit(principal, repository, record)  # the verdict is made and cached
    started = time.perf_counter()
    for _ in range(calls):
        if gate is not None:
            await gate.admit(principal, repository, record)
    return (time.perf_counter() - started) * 1e6 / calls


async def measure(calls: int) -> dict[str, float]:
    store = MemoryStore()
    policies = TrustPolicies(store, AccessPolicy(authentication_required=False), ttl_seconds=2.0)
    check = SignatureCheck(policies, OneSignature(), store, now=lambda: datetime.now(UTC))  # type: ignore[arg-type]
    gate = PullGate([check])
    return {
        "no_gate_us": round(await per_call(None, "open/app", calls), 3),
        "unpolicied_repository_us": round(await per_call(gate, "open/app", calls), 3),
        "cached_verdict_us": round(await per_call(gate, "gated/app", calls), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    print(json.dumps(asyncio.run(measure(parser.parse_args().calls))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
