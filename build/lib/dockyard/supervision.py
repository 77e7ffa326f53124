"""Server worker processes never outlive the ``dockyard serve`` process that started them.

``dockyard serve`` puts its own pid in ``DOCKYARD_SERVE_PID``; a worker process (granian
always runs the app in one, uvicorn with ``dockyard.workers`` > 1) watches that its parent is
still that process. When the parent is gone (``kill -9``, OOM killer) the worker stops as on
SIGTERM, draining connections for at most the drain timeout, then stops the app (which
writes what it buffers) and exits: an orphan would otherwise keep serving the port with the
old configuration. The same DRAIN_OVER_SIGNAL ends a normal stop's drain (cli/serve_granian).

Imports nothing from dockyard; the composition root starts the watch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable

SERVE_PID_ENV = "DOCKYARD_SERVE_PID"
DEFAULT_DRAIN_SECONDS = 10.0
POLL_SECONDS = 0.5
FLUSH_SECONDS = 5.0  # for the app's own shutdown once the drain is over
EXIT_AFTER_FORCED_STOP = 70
# sent to a worker whose connections outlived the drain: stop the app (flush what it buffers)
# and exit now. granian only runs the app's shutdown after the last connection closed.
DRAIN_OVER_SIGNAL = signal.SIGUSR2
log = logging.getLogger("dockyard.serve")
_stopping: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def drain_seconds(draintimeout: float | None) -> float:
    """How long a stop waits for open connections: ``http.draintimeout``, else 10 s."""
    return DEFAULT_DRAIN_SECONDS if draintimeout is None else max(draintimeout, 0.0)


def expected_parent() -> int | None:
    """The serve process's pid when this process is one of its workers, else None."""
    raw = os.environ.get(SERVE_PID_ENV, "")
    if not raw.isdigit() or int(raw) == os.getpid():
        return None
    return int(raw)


def watch_parent(parent: int, drain: float) -> threading.Thread:
    """Start a daemon thread that stops this process once ``parent`` is no longer its parent."""
    watcher = threading.Thread(
        target=_watch, args=(parent, drain), name="dockyard-parent-watch", daemon=True
    )
    watcher.start()
    return watcher


def _watch(parent: int, drain: float) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    log.warning(
        "dockyard serve process is gone: worker stopping",
        extra={"fields": {"parent_pid": parent, "pid": os.getpid(), "drain_seconds": drain}},
    )
    os.kill(os.getpid(), signal.SIGTERM)  # the server's own graceful stop
    time.sleep(drain)
    os.kill(os.getpid(), DRAIN_OVER_SIGNAL)
    time.sleep(FLUSH_SECONDS + POLL_SECONDS)
    log.error("worker did not stop within the drain timeout: exiting", extra={"fields": {}})
    os._exit(EXIT_AFTER_FORCED_STOP)


def stop_app_when_drain_is_over(shutdown: Callable[[], Awaitable[None]]) -> None:
    """On DRAIN_OVER_SIGNAL run ``shutdown`` on the running event loop (at most FLUSH_SECONDS)
    and exit; call from the worker's main thread."""

    def drain_over(signum: int, frame: object) -> None:
        loop = asyncio.get_event_loop()
        _stopping.add(loop.create_task(_stop_and_exit(shutdown)))

    signal.signal(DRAIN_OVER_SIGNAL, drain_over)


async def _stop_and_exit(shutdown: Callable[[], Awaitable[None]]) -> None:
    log.warning("drain timeout reached: stopping with connections open", extra={"fields": {}})
    try:
        await asyncio.wait_for(shutdown(), FLUSH_SECONDS)
    except Exception:  # exiting anyway; say why the app did not stop cleanly
        log.exception("app shutdown after the drain timeout failed", extra={"fields": {}})
    logging.shutdown()
    os._exit(0)
