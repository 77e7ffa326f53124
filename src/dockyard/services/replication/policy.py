"""A replication policy: what it copies, where to, when, and how (docs/replication.md).

The definition is stored as JSON; the peer's credentials are given when the policy is
created or changed and stored apart, never returned by any reader.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import msgspec

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import validate_name
from dockyard.services.replication.filters import FilterError, check_patterns

NAME_MAX = 100
MIN_INTERVAL = 60
MAX_PARALLEL = 32
MIN_CHUNK, MAX_CHUNK = 64 * 1024, 1024 * 1024 * 1024
Direction = Literal["push", "pull"]


class Policy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A policy's definition. ``url``: the peer registry's base URL. ``direction``: ``push``
    copies from here to the peer, ``pull`` from the peer to here. ``strip`` and ``prefix``
    map names: ``strip`` is removed from the front of a source name, ``prefix`` added."""

    name: str
    url: str
    direction: Direction = "push"
    repositories: list[str] = msgspec.field(default_factory=lambda: ["**"])
    tags: list[str] = msgspec.field(default_factory=list)
    platforms: list[str] = msgspec.field(default_factory=list)
    strip: str = ""
    prefix: str = ""
    on_push: bool = False  # push direction: copy what is pushed here, as it is pushed
    interval_seconds: int = 0  # a scheduled run (a reconcile) every interval; 0: none
    overwrite: bool = True  # move a tag the target has at another digest
    mirror_deletions: bool = False  # delete target tags the source no longer has
    bandwidth: int = 0  # bytes per second for the run's blob copies; 0: no limit
    parallel: int = 4  # images, and blobs, copied at once
    chunk_bytes: int = 8 * 1024 * 1024  # per PATCH to a peer: what a crash can cost a blob
    enabled: bool = True


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    username: str = ""
    password: str = ""


def invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.BAD_REQUEST, message)


def check(policy: Policy) -> Policy:
    """The policy when it can be used, else BAD_REQUEST naming what is wrong."""
    if (
        not policy.name
        or len(policy.name) > NAME_MAX
        or not policy.name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise invalid(f"name: 1 to {NAME_MAX} letters, digits, '-', '_' or '.'")
    _check_url(policy.url)
    try:
        check_patterns(policy.repositories, versions=False)
        check_patterns(policy.tags, versions=True)
    except FilterError as exc:
        raise invalid(str(exc)) from None
    for platform in policy.platforms:
        if not 2 <= len(platform.split("/")) <= 3 or not all(platform.split("/")):
            raise invalid(f"platform {platform!r}: os/architecture[/variant]")
    if policy.prefix:
        validate_name(policy.prefix.rstrip("/") or "-")
    if policy.on_push and policy.direction != "push":
        raise invalid("on_push needs direction push (pull policies run manually or scheduled)")
    if policy.interval_seconds and policy.interval_seconds < MIN_INTERVAL:
        raise invalid(f"interval_seconds: 0 (no schedule) or at least {MIN_INTERVAL}")
    if policy.bandwidth < 0 or not 1 <= policy.parallel <= MAX_PARALLEL:
        raise invalid(f"bandwidth >= 0 and parallel from 1 to {MAX_PARALLEL}")
    if not MIN_CHUNK <= policy.chunk_bytes <= MAX_CHUNK:
        raise invalid(f"chunk_bytes from {MIN_CHUNK} to {MAX_CHUNK}")
    return policy


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    plain = not parts.path.strip("/") and not parts.query and not parts.fragment
    if parts.scheme not in ("http", "https") or not parts.hostname or not plain:
        raise invalid("url: an http(s) URL with a host and nothing else")
    if parts.username or parts.password:
        raise invalid("url: credentials go in username and password, not in the URL")


def destination(policy: Policy, source: str) -> str:
    """The repository name ``source`` is copied to."""
    name = source.removeprefix(policy.strip) if policy.strip else source
    name = name.lstrip("/")
    if policy.prefix:
        name = policy.prefix.rstrip("/") + "/" + name
    return validate_name(name)


def encode(policy: Policy) -> str:
    return msgspec.json.encode(policy).decode()


def decode(text: str) -> Policy:
    return msgspec.json.decode(text, type=Policy)
