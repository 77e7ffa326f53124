"""Run the app under uvicorn (cluster nodes) on a socket ``dockyard serve`` bound itself.

One process serves in place; with ``dockyard.workers`` > 1 uvicorn's supervisor hands the
socket to its worker processes. Open connections get at most the drain timeout when the
server stops, and the stop is logged in dockyard's log format.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import socket
import ssl
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("dockyard.serve")
STARTUP_FAILED = 3  # uvicorn's own exit status when the app's startup fails


class LoggedServer(uvicorn.Server):
    """uvicorn's server, logging why and when it stops."""

    def __init__(self, config: uvicorn.Config, drain: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._stop_reason = "stop requested"

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            self._stop_reason = f"{signal.Signals(sig).name} received"
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        log.info(
            "dockyard stopping",
            extra={"fields": {"reason": self._stop_reason, "drain_seconds": self._drain}},
        )
        await super().shutdown(sockets)
        log.info("dockyard stopped", extra={"fields": {}})


class LoggedSupervisor(Multiprocess):
    """uvicorn's worker supervisor, logging the stop (each worker drains on its own)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], drain: float) -> None:
        super().__init__(config, sockets=sockets)
        self._drain = drain

    def terminate_all(self) -> None:
        log.info("dockyard stopping", extra={"fields": {"drain_seconds": self._drain}})
        super().terminate_all()

    def join_all(self) -> None:
        super().join_all()
        log.info("dockyard stopped", extra={"fields": {"workers": len(self.processes)}})


def run_uvicorn(target: str, listener: socket.socket, drain: float, **options: Any) -> int:
    """Serve ``target`` (an app factory) on ``listener``; the exit status."""
    config = uvicorn.Config(
        target,
        factory=True,
        access_log=False,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,  # dockyard.trustedproxies decides (api/forwarded.py)
        timeout_graceful_shutdown=max(1, math.ceil(drain)),
        **options,
    )
    if config.workers > 1:
        LoggedSupervisor(config, [listener], drain).run()
        return 0
    server = LoggedServer(config, drain)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises a captured SIGINT again
        server.run(sockets=[listener])
    return 0 if server.started else STARTUP_FAILED


def tls_options(certificate: str, key: str, client_cas: str | None) -> dict[str, object]:
    """uvicorn's TLS keyword arguments for ``http.tls``."""
    if not certificate:
        return {}
    return {
        "ssl_certfile": certificate,
        "ssl_keyfile": key,
        "ssl_ca_certs": client_cas,
        "ssl_cert_reqs": ssl.CERT_REQUIRED if client_cas else ssl.CERT_NONE,
    }
