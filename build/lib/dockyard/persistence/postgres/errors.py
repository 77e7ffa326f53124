"""Which PostgreSQL failures are retried, and which mean "the database is unavailable".

- Serialization failures and deadlocks abort a transaction that would succeed if run again:
  the transaction is retried a bounded number of times with a short random backoff.
- Connection-level failures (refused, reset, admin shutdown, pool timeout, too many
  connections, ...) are ``psycopg.OperationalError``: they become
  ``RegistryError(UNAVAILABLE)``, which the API answers with 503 and the OCI error envelope.
- Anything else (a constraint violation, a bad query) is a bug and propagates unchanged.
"""

from __future__ import annotations

import logging
import random

import psycopg
from psycopg import errors

from dockyard.core.errors import ErrorCode, RegistryError

log = logging.getLogger("dockyard.persistence")

RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
MAX_ATTEMPTS = 10


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: random, growing, at most 0.2 s."""
    return random.uniform(0, min(0.2, 0.002 * 2**attempt))


def unavailable(exc: psycopg.Error) -> RegistryError:
    """The client-safe error for a database that cannot answer now (details go to the log)."""
    log.warning("metadata database unavailable: %s", str(exc).strip() or type(exc).__name__)
    return RegistryError(ErrorCode.UNAVAILABLE, "metadata database unavailable, retry later")
