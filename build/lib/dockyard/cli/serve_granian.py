"""Run the app under granian on a socket ``dockyard serve`` bound itself.

granian binds each worker's own socket with ``SO_REUSEPORT``, which lets a second server
join a taken port. Here the workers share the one listening socket opened (exclusively) by
``dockyard serve`` instead: granian's own path for platforms without ``SO_REUSEPORT``.
Stopping drains connections for at most the drain timeout; then each worker still draining
is told to stop its app (which flushes what it buffers) and exit, and is killed if it has not
within a few seconds. The stop is logged (signal, drained or not) in dockyard's log format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from multiprocessing.connection import wait as wait_for_any
from typing import Any

from granian._granian import SocketHolder
from granian.server import MPServer

from dockyard.supervision import DRAIN_OVER_SIGNAL, FLUSH_SECONDS

log = logging.getLogger("dockyard.serve")
_GranianServer: Any = MPServer  # its private hooks are overridden here; they are untyped


class PreboundGranian(_GranianServer):  # type: ignore[misc]
    """granian's process server, serving ``listener`` and stopping within ``drain`` seconds."""

    def __init__(self, target: str, listener: socket.socket, drain: float, **options: Any) -> None:
        super().__init__(target, **options)
        self._listener = listener
        self._drain = drain
        self._stop_reason = "a worker exited"

    def _init_shared_socket(self) -> None:
        fd = self._listener.fileno()
        self._listener.set_inheritable(True)
        self._ssp = None
        self._shd = SocketHolder(fd, False, self.backlog)  # type: ignore[call-arg]  # the stub omits it
        self._sfd = fd
        self._sso = self._listener  # closed by granian's _drop_shared_socket at shutdown

    def signal_handler_interrupt(self, signum: int | None = None, *args: Any) -> None:
        if signum is not None:
            self._stop_reason = f"{signal.Signals(signum).name} received"
        super().signal_handler_interrupt(signum, *args)

    def shutdown(self, exit_code: int = 0) -> None:
        log.info(
            "dockyard stopping",
            extra={"fields": {"reason": self._stop_reason, "drain_seconds": self._drain}},
        )
        super().shutdown(exit_code)

    def _stop_workers(self) -> None:
        """SIGTERM; after the drain timeout DRAIN_OVER_SIGNAL (the app stops, flushing what it
        buffers); FLUSH_SECONDS later SIGKILL. Replaces granian's own, which only kills."""
        workers = list(self.wrks)
        for worker in workers:
            worker.terminate()
        late = _still_running(workers, self._drain)
        for worker in late:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.inner.pid, DRAIN_OVER_SIGNAL)
        for worker in _still_running(late, FLUSH_SECONDS):
            worker.kill()
        _still_running(workers, FLUSH_SECONDS)
        self.wrks.clear()
        self._log_drain([_exit_code(worker.inner) for worker in workers], len(late))

    def _log_drain(self, codes: list[int | None], late: int) -> None:
        if late:
            log.warning(
                "drain timeout reached: workers stopped with connections still open",
                extra={"fields": {"workers": late, "exit_codes": codes, "drain": self._drain}},
            )
        else:
            log.info("connections drained", extra={"fields": {"exit_codes": codes}})


def _still_running(workers: list[Any], seconds: float) -> list[Any]:
    """The workers that have not exited within ``seconds``. Exits are seen on each process's
    sentinel: granian's watcher thread reaps the workers, so join() and is_alive() can miss
    an exit (they return early, or report a reaped process alive)."""
    deadline = time.monotonic() + seconds
    pending = list(workers)
    while pending and (remaining := deadline - time.monotonic()) > 0:
        ready = wait_for_any([worker.inner.sentinel for worker in pending], remaining)
        pending = [worker for worker in pending if worker.inner.sentinel not in ready]
    return pending


def _exit_code(process: Any, wait: float = 2.0) -> int | None:
    """A stopped worker's exit status; granian's watcher thread may be the one reaping it."""
    deadline = time.monotonic() + wait
    while process.exitcode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    code: int | None = process.exitcode
    return code
