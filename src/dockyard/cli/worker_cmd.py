"""``dockyard worker``: the background side alone, with the same configuration as serve.

It takes queued and scheduled jobs (gc, retention, upload purging, audit retention, and any
kind registered in bootstrap) with no registry listener, so big installations can keep that
work off the request nodes (``dockyard.jobs.runinserve: false`` there). With
``http.debug.addr`` set it serves ``/metrics`` and ``/debug/health`` there. SIGTERM or SIGINT
stops it cleanly: running jobs get ``dockyard.jobs.stoptimeout`` to finish, then their
leases are given back, and another worker (or this one, restarted) runs them again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import msgspec

from dockyard.api.debug import DebugServer, debug_shell
from dockyard.api.observability import Metrics
from dockyard.bootstrap import build_registry
from dockyard.cli import datadir
from dockyard.cli.common import add_config_arguments, load
from dockyard.cli.logsetup import configure_logging
from dockyard.config import Settings
from dockyard.services.registry import Registry

log = logging.getLogger("dockyard.worker")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="run background jobs only (no registry listener)")
    add_config_arguments(parser)
    datadir.mark_creating(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1
    configure_logging(settings.log.level, settings.log.formatter, dict(settings.log.fields))
    return asyncio.run(work(settings))


async def work(settings: Settings) -> int:
    metrics = Metrics() if settings.http.debug.addr else None
    registry = build_registry(settings, metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await registry.startup()
    debug = await _debug_listener(settings, registry, metrics)
    try:
        assert registry.background is not None  # built with the registry
        await registry.background.start(queue_work=True)
        log.info("dockyard worker started", extra={"fields": {"owner": _owner(registry)}})
        await stop.wait()
        log.info("dockyard worker stopping", extra={"fields": {}})
    finally:
        if registry.background is not None:
            await registry.background.stop()
        if debug is not None:
            await debug.stop()
        await registry.shutdown()
    log.info("dockyard worker stopped", extra={"fields": {}})
    return 0


def _owner(registry: Registry) -> str:
    return registry.jobs.owner if registry.jobs is not None else ""


async def _debug_listener(
    settings: Settings, registry: Registry, metrics: Metrics | None
) -> DebugServer | None:
    address = settings.debug_host_port()
    if address is None or metrics is None:
        return None

    def health() -> tuple[int, bytes]:
        return 200, msgspec.json.encode({"status": "ok"})

    path = settings.http.debug.prometheus.path
    debug = DebugServer(*address, debug_shell(registry, metrics.render, health, metrics_path=path))
    await debug.start()
    return debug
