"""Run the app under granian on a socket ``dockyard serve`` bound itself.

granian binds each worker's own socket with ``SO_REUSEPORT``, which lets a second server
join a taken port. Here the workers share the one listening socket opened (exclusively) by
``dockyard serve`` instead: granian's own path for platforms without ``SO_REUSEPORT``.
Stopping drains connections for at most the drain timeout, then the workers are killed; the
stop is logged (signal, drained or not, stopped) in dockyard's log format.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import time
from typing import Any

from granian._granian import SocketHolder
from granian.server import MPServer

log = logging.getLogger("dockyard.serve")
_GranianServer: Any = MPServer  # its private hooks are overridden here; they are untyped


class PreboundGranian(_GranianServer):  # type: ignore[misc]
    """granian's process server, serving ``listener`` and stopping within ``drain`` seconds."""

    def __init__(self, target: str, listener: socket.socket, drain: float, **options: Any) -> None:
        super().__init__(target, workers_kill_timeout=max(1, math.ceil(drain)), **options)
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
        processes = [worker.inner for worker in self.wrks]
        super()._stop_workers()
        codes = [_exit_code(process) for process in processes]
        if any(code == -signal.SIGKILL for code in codes):
            log.warning(
                "drain timeout reached: workers killed with connections still open",
                extra={"fields": {"exit_codes": codes, "drain_seconds": self._drain}},
            )
        else:
            log.info("connections drained", extra={"fields": {"exit_codes": codes}})


def _exit_code(process: Any, wait: float = 2.0) -> int | None:
    """A stopped worker's exit status; granian's watcher thread may be the one reaping it."""
    deadline = time.monotonic() + wait
    while process.exitcode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    code: int | None = process.exitcode
    return code
