"""``dockyard backup DEST`` and ``dockyard restore SRC`` (docs/operations.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dockyard.bootstrap_backup import Built, backup_store, build_backup, build_restore
from dockyard.cli import datadir
from dockyard.cli.common import add_config_arguments, fail, load
from dockyard.cli.progress import progress_for
from dockyard.services.backup.backup import BackupService
from dockyard.services.backup.copying import BlobMismatchError
from dockyard.services.backup.manifest import BackupManifest
from dockyard.services.backup.restore import RestoreRefusedError, RestoreReport, RestoreService
from dockyard.storage.driver import StorageError

T = TypeVar("T")
S = TypeVar("S")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = subparsers.add_parser(
        "backup", help="back up metadata and blobs while the registry serves (incremental)"
    )
    backup.add_argument("destination", metavar="DEST", help="a directory or s3://bucket/prefix")
    backup.add_argument("--quiet", action="store_true", help="no progress output")
    add_config_arguments(backup)
    backup.set_defaults(handler=run_backup)
    restore = subparsers.add_parser(
        "restore", help="restore a backup into an empty data directory or database/bucket"
    )
    restore.add_argument("source", metavar="SRC", help="a backup directory or s3://bucket/prefix")
    restore.add_argument("--backup", metavar="ID", help="which backup (default: the newest)")
    restore.add_argument("--quiet", action="store_true", help="no progress output")
    add_config_arguments(restore)
    datadir.mark_creating(restore)
    restore.set_defaults(handler=run_restore)


def _run(built: Built[S], work: Callable[[S], Awaitable[T]]) -> T:
    async def main() -> T:
        await built.startup()
        try:
            return await work(built.service)
        finally:
            await built.shutdown()

    return asyncio.run(main())


def run_backup(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    try:
        destination = backup_store(args.destination, writable=True)
    except OSError as exc:
        return fail(f"backup: cannot use {args.destination}: {exc}")
    progress = progress_for("backup", quiet=args.quiet)

    async def work(service: BackupService) -> BackupManifest:
        return await service.run(destination, progress)

    try:
        manifest = _run(build_backup(settings), work)
    except (BlobMismatchError, StorageError, OSError) as exc:
        return fail(f"backup: failed: {exc}")
    print(
        f"backup {manifest.id}: {manifest.blob_count} blobs ({manifest.blob_bytes} bytes), "
        f"copied {manifest.copied_blobs} new blobs ({manifest.copied_bytes} bytes), "
        f"metadata {manifest.database}"
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    source = backup_store(args.source, writable=False)
    progress = progress_for("restore", quiet=args.quiet)

    async def work(service: RestoreService) -> RestoreReport:
        return await service.run(source, args.backup, progress)

    try:
        report = _run(build_restore(settings), work)
    except RestoreRefusedError as exc:
        return fail(f"restore: refused: {exc}")
    except (BlobMismatchError, StorageError, OSError) as exc:
        return fail(f"restore: failed: {exc}")
    print(report.summary())
    print("run `dockyard fsck` to check the restored registry", file=sys.stderr)
    return 0
