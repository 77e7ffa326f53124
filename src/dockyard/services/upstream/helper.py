"""Upstream credentials from a Docker credential helper (``proxy.exec``, as in registry:2).

The helper is a program speaking the docker-credential-helpers protocol: run as
``<command> get`` with the registry's URL on stdin, it prints
``{"ServerURL": ..., "Username": ..., "Secret": ...}``. The answer is reused for ``lifetime``
seconds, then the helper runs again (at most one run at a time; callers meanwhile wait for
it). A helper that fails, hangs past ``timeout`` or prints something else makes the request
fail as "upstream unavailable", with a log line naming the reason (never the secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

import msgspec

log = logging.getLogger("dockyard.upstream")
HELPER_TIMEOUT = 10.0
MAX_OUTPUT = 64 * 1024


class HelperError(Exception):
    """The credential helper gave no usable credentials."""


class _HelperAnswer(msgspec.Struct):
    Username: str = ""
    Secret: str = ""


class HelperCredentials:
    def __init__(
        self,
        command: str,
        server_url: str,
        lifetime: float,
        *,
        timeout: float = HELPER_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.server_url = server_url
        self.lifetime = lifetime
        self.timeout = timeout
        self.clock = clock
        self._pair: tuple[str, str] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> tuple[str, str]:
        """(username, secret), from the helper when the last answer is older than lifetime."""
        async with self._lock:
            fresh = self.clock() - self._fetched_at < self.lifetime
            if self._pair is None or not fresh:
                self._pair = await self._run()
                self._fetched_at = self.clock()
            return self._pair

    async def _run(self) -> tuple[str, str]:
        try:
            process = await asyncio.create_subprocess_exec(
                self.command, "get",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise HelperError(f"credential helper {self.command} cannot run: {exc}") from None
        try:
            out, err = await asyncio.wait_for(
                process.communicate(self.server_url.encode()), self.timeout
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the helper and what it started
            await process.wait()
            raise HelperError(f"credential helper {self.command} timed out") from None
        if process.returncode != 0:
            reason = err.decode(errors="replace").strip()[:200]
            raise HelperError(f"credential helper {self.command} failed: {reason}")
        return _parse(out, self.command)


def _parse(out: bytes, command: str) -> tuple[str, str]:
    if len(out) > MAX_OUTPUT:
        raise HelperError(f"credential helper {command} printed too much")
    try:
        answer = msgspec.json.decode(out, type=_HelperAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise HelperError(f"credential helper {command} printed no credentials") from None
    if not answer.Username or not answer.Secret:
        raise HelperError(f"credential helper {command} printed no credentials")
    return answer.Username, answer.Secret
