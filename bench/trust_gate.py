"""A/B of the pull gate's cost: manifest GET by tag of the same image in a project without
trust policy and in one with a policy whose verdict is cached (the image is signed), on one
dockyard, alternating rounds with wrk. Reports requests per second of each, the server's CPU
time per request (user + system of its process tree: steadier than throughput on a shared
machine) and the ratios (target: the gated project at >= 90% of the open one's throughput).

    .venv/bin/python -m bench.trust_gate [--seconds 5] [--rounds 3] [--connections 8]

Both projects are public, so the GETs are anonymous: no password check in either column.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench import loadgen
from bench.servers import cpu_ticks, process_tree
from support.identity import ADMIN, Api, identity_server
from support.oci import OCI_INDEX, OCI_MANIFEST, make_image, push_image
from support.signing import ec_key, public_pem
from support.trusted import push_cosign_signature

ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def prepare(server: object, admin: Api, *, control: bool) -> None:
    image, key = make_image(), ec_key()
    for project in ("open", "gated"):
        admin.project(project, public=True)
    with server.client(auth=ADMIN) as registry:  # type: ignore[attr-defined]
        for project in ("open", "gated"):
            push_image(registry, f"{project}/app", image, tag="v1")
        push_cosign_signature(registry, "gated/app", image.digest, key)
    if control:  # an A/A run: how far apart the two columns are without any policy
        return
    body = {"signers": [{"kind": "key", "pem": public_pem(key)}]}
    admin.ok("PUT", "/projects/gated/trust-policies/release", json=body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--control", action="store_true", help="no policy: an A/A run")
    args = parser.parse_args()
    rps: dict[str, list[float]] = {"open": [], "gated": []}
    cpu_us: dict[str, list[float]] = {"open": [], "gated": []}
    with tempfile.TemporaryDirectory() as workdir, identity_server(Path(workdir)) as server:
        with Api(server) as admin:
            prepare(server, admin, control=args.control)
        for n in range(args.rounds):
            order = ("open", "gated") if n % 2 == 0 else ("gated", "open")
            for project in order:
                url = f"{server.url}/v2/{project}/app/manifests/v1"
                pids = process_tree(server.process.pid)
                before = cpu_ticks(pids)
                result = loadgen.wrk(
                    url, seconds=args.seconds, connections=args.connections, headers=ACCEPT
                )
                per_request = (cpu_ticks(pids) - before) * 10_000 / max(result.requests, 1)
                rps[project].append(result.rps)
                cpu_us[project].append(per_request)
                line = {"round": n, "project": project, "rps": round(result.rps)}
                print(json.dumps({**line, "cpu_us_per_request": round(per_request, 1)}))
    summary = {
        "open_rps": round(statistics.median(rps["open"])),
        "gated_rps": round(statistics.median(rps["gated"])),
        "throughput_ratio": round(
            statistics.median(rps["gated"]) / statistics.median(rps["open"]), 3
        ),
        "open_cpu_us": round(statistics.median(cpu_us["open"]), 1),
        "gated_cpu_us": round(statistics.median(cpu_us["gated"]), 1),
    }
    summary["cpu_ratio"] = round(summary["gated_cpu_us"] / summary["open_cpu_us"], 3)  # gated/open
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
