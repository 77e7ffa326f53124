"""Fixtures shared by every test package."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

Run = Callable[[Awaitable[Any]], Any]


@pytest.fixture
def run() -> Iterator[Run]:
    """One event loop per test: a PostgreSQL pool belongs to the loop it was opened in."""
    with asyncio.Runner() as runner:
        yield runner.run
