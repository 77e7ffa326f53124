"""A cheap checkout in front of ``psycopg_pool``: connections stay lent out between statements.

Taking a connection out of ``AsyncConnectionPool`` and putting it back costs about as much CPU
as running an indexed SELECT (an asyncio lock each way, statistics, a state check, a
maintenance task per return). The registry's hot path is one such SELECT per request, so each
worker keeps the connections it took from the pool and lends them itself: borrowing a free one
is a ``list.pop()``, giving it back a ``list.append()`` or a hand-over to the oldest waiter.

The pool stays in charge of everything else: opening connections (in the background, with
backoff while the server is down), replacing broken ones, ``max_lifetime`` and shrinking when
idle. A connection goes back to it when it is broken or not idle after use, when the database
failed (``return_idle``, before ``pool.check()``), and ``LEASE_SECONDS`` after it was taken,
so every connection passes through the pool's hands regularly. At most ``max_size``
connections are out at once (the pool's own limit), so the pool never has to queue us.
"""

from __future__ import annotations

import asyncio
import collections
from time import monotonic
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

Connection = psycopg.AsyncConnection[tuple[Any, ...]]
# How long a connection stays out of the pool before it is handed back (at its next use).
LEASE_SECONDS = 60.0
# Shortest wait handed to the pool, so a deadline that just passed still gets one try.
MIN_WAIT = 0.001


class Lender:
    """Lends up to ``max_size`` connections taken from ``pool``; one statement or transaction
    at a time per connection."""

    def __init__(self, pool: AsyncConnectionPool[Connection], max_size: int) -> None:
        self._pool = pool
        self._max_size = max_size
        self._idle: list[Connection] = []  # last in, first out: the warm ones stay busy
        self._taken: dict[Connection, float] = {}  # every connection out of the pool -> since
        self._taking = 0  # getconn() calls under way
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()

    async def borrow(self, timeout: float) -> Connection:
        """A free connection; PoolTimeout (an OperationalError) after ``timeout`` seconds."""
        deadline = monotonic() + timeout
        while True:
            if self._idle:
                return self._idle.pop()
            if len(self._taken) + self._taking < self._max_size:
                return await self._take(deadline)
            conn = await self._wait(deadline)
            if conn is not None:
                return conn

    async def give_back(self, conn: Connection) -> None:
        """After use: keep ``conn`` for the next borrower, or return it to the pool."""
        now = monotonic()
        if self._idle and now - self._taken[self._idle[0]] > LEASE_SECONDS:
            await self._return(self._idle.pop(0))  # the coldest one ages in the pool
        if _reusable(conn) and now - self._taken[conn] <= LEASE_SECONDS:
            self._lend(conn)
        else:
            await self._return(conn)

    async def return_idle(self) -> None:
        """Return every idle connection to the pool (to be checked after a failure, or closed)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._return(conn)

    # internals -------------------------------------------------------------------------------

    async def _take(self, deadline: float) -> Connection:
        self._taking += 1
        try:
            conn = await self._pool.getconn(max(deadline - monotonic(), MIN_WAIT))
        except BaseException:
            self._taking -= 1
            self._wake(None)  # the slot is free again for whoever waits
            raise
        self._taking -= 1
        self._taken[conn] = monotonic()
        return conn

    async def _wait(self, deadline: float) -> Connection | None:
        """A connection handed over by ``give_back``, or None when a slot freed up."""
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise PoolTimeout("no free database connection in time")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(remaining, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._pass_on(waiter.result())  # cancelled after the hand-over: don't lose it
            raise
        finally:
            timer.cancel()

    def _lend(self, conn: Connection) -> None:
        if not self._wake(conn):
            self._idle.append(conn)

    def _pass_on(self, conn: Connection | None) -> None:
        if conn is None:
            self._wake(None)
        else:
            self._lend(conn)

    def _wake(self, conn: Connection | None) -> bool:
        """Hand ``conn`` (or, with None, a free slot) to the oldest live waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    async def _return(self, conn: Connection) -> None:
        del self._taken[conn]
        self._wake(None)
        await self._pool.putconn(conn)


def _reusable(conn: Connection) -> bool:
    return not conn.broken and conn.pgconn.transaction_status == TransactionStatus.IDLE


def _expire(waiter: asyncio.Future[Connection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(PoolTimeout("no free database connection in time"))
