"""Caps on open upload sessions per repository and per client (``dockyard.uploads``).

Two nodes share one metadata database (SQLite file, or PostgreSQL) and one storage root, as
cluster nodes do: a cap counts the sessions in the database, so it holds whichever node a
client reaches. Clients are told apart by address: loopback is a trusted proxy here, so each
test names its clients in ``X-Forwarded-For`` (anonymous callers count by address).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from support import postgres
from support.oci import assert_oci_error, sha256
from support.server import RunningServer, serving

PER_REPOSITORY = 3
PER_CLIENT = 4
CONFIG = f"""
version: 0.1
dockyard:
  trustedproxies: ["127.0.0.0/8"]
  uploads:
    sessionsperrepository: {PER_REPOSITORY}
    sessionsperclient: {PER_CLIENT}
"""
_addresses = (f"127.0.9.{n}" for n in itertools.count(1))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    env: dict[str, str] = {}
    server = "granian"
    if request.param == "postgres":
        if not postgres.available():
            pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
        env["REGISTRY_DOCKYARD_DATABASE"] = postgres.shared_server().create_database("caps")
        server = "uvicorn"  # as cluster nodes run
    data_dir = tmp_path_factory.mktemp(f"caps-{request.param}") / "data"
    with ExitStack() as stack:
        pair = [
            stack.enter_context(
                serving(
                    tmp_path_factory.mktemp(f"node-{index}"),
                    config=CONFIG,
                    env=env,
                    data_dir=data_dir,
                    server=server,
                )
            )
            for index in range(2)
        ]
        yield pair[0], pair[1]


class Caller:
    """One client (an address), talking to either node."""

    def __init__(self, nodes: tuple[RunningServer, RunningServer]) -> None:
        headers = {"X-Forwarded-For": next(_addresses)}
        self.http = [node.client(headers=headers) for node in nodes]

    def start(self, repo: str, node: int = 0) -> httpx.Response:
        return self.http[node].post(f"/v2/{repo}/blobs/uploads/")

    def started(self, repo: str, node: int = 0) -> str:
        response = self.start(repo, node)
        assert response.status_code == 202, response.text
        return str(response.headers["Location"])

    def close(self) -> None:
        for http in self.http:
            http.close()


@pytest.fixture
def callers(nodes: tuple[RunningServer, RunningServer]) -> Iterator[list[Caller]]:
    made = [Caller(nodes) for _ in range(3)]
    yield made
    for caller in made:
        caller.close()


def _assert_refused(response: httpx.Response) -> None:
    assert_oci_error(response, 429, "TOOMANYREQUESTS")
    assert int(response.headers["Retry-After"]) > 0


def test_repository_cap_holds_across_nodes_and_frees_closed_sessions(
    callers: list[Caller], request: pytest.FixtureRequest
) -> None:
    first, second, third = callers
    repo = f"caps/repo-{request.node.callspec.id}"
    open_sessions = [first.started(repo, 0), first.started(repo, 1), second.started(repo, 1)]
    _assert_refused(second.start(repo, 0))
    _assert_refused(third.start(repo, 1))
    assert first.http[0].delete(open_sessions.pop()).status_code == 204  # cancelled: freed
    open_sessions.append(third.started(repo, 1))
    _assert_refused(third.start(repo, 0))
    data = b"finished blob"
    done = first.http[1].put(open_sessions[0], params={"digest": sha256(data)}, content=data)
    assert done.status_code == 201, done.text  # finished: freed
    third.started(repo, 0)
    _assert_refused(second.start(repo, 1))


def test_client_cap_holds_across_repositories_and_nodes(
    callers: list[Caller], request: pytest.FixtureRequest
) -> None:
    greedy, other, _ = callers
    prefix = f"caps/client-{request.node.callspec.id}"
    mine = [greedy.started(f"{prefix}-{index}", index % 2) for index in range(PER_CLIENT)]
    _assert_refused(greedy.start(f"{prefix}-new", 0))
    _assert_refused(greedy.start(f"{prefix}-new", 1))
    other.started(f"{prefix}-new", 1)  # another client is not held back
    assert greedy.http[1].delete(mine[0]).status_code == 204
    greedy.started(f"{prefix}-new", 0)
    _assert_refused(greedy.start(f"{prefix}-other", 1))
