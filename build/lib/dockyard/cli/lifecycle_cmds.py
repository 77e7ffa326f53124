"""The lifecycle administration commands, registered on ``dockyard`` together."""

from __future__ import annotations

import argparse

from dockyard.cli import (
    delete_cmd,
    fsck_cmd,
    immutable_cmd,
    jobs_cmd,
    maintenance_cmd,
    quota_cmd,
    retention_cmd,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs_cmd.register(subparsers)
    immutable_cmd.register(subparsers)
    quota_cmd.register(subparsers)
    retention_cmd.register(subparsers)
    maintenance_cmd.register(subparsers)
    fsck_cmd.register(subparsers)
    delete_cmd.register(subparsers)
