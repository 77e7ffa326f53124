"""Server worker processes never outlive the ``dockyard serve`` process that started them.

``dockyard serve`` puts its own pid in ``DOCKYARD_SERVE_PID``; a worker process (granian
always runs the app in one, uvicorn with ``dockyard.workers`` > 1) watches that its parent is
still that process. When the parent is gone (``kill -9``, OOM killer) the worker stops as on
SIGTERM, draining connections for at most the drain timeout, and is ended after that: an
orphan would otherwise keep serving the port with the old configuration.

Imports nothing from dockyard; the composition root starts the watch.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

SERVE_PID_ENV = "DOCKYARD_SERVE_PID"
DEFAULT_DRAIN_SECONDS = 10.0
POLL_SECONDS = 0.5
EXIT_AFTER_FORCED_STOP = 70
log = logging.getLogger("dockyard.serve")


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
    time.sleep(drain + 2 * POLL_SECONDS)
    log.error("worker did not stop within the drain timeout: exiting", extra={"fields": {}})
    os._exit(EXIT_AFTER_FORCED_STOP)
