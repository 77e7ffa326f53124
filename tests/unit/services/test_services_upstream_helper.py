"""The Docker credential helper protocol (``proxy.exec``): real helper programs (small shell
scripts) run as subprocesses."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from dockyard.services.upstream.helper import HelperCredentials, HelperError


def _helper(tmp_path: Path, body: str) -> str:
    path = tmp_path / "docker-credential-test"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_helper_is_asked_with_the_url_and_its_answer_reused_for_its_lifetime(
    tmp_path: Path,
) -> None:
    log = tmp_path / "calls"
    command = _helper(
        tmp_path,
        f'[ "$1" = get ] || exit 3\nread url\necho "$url" >> {log}\n'
        'echo \'{"ServerURL": "x", "Username": "robot", "Secret": "s3cret"}\'\n',
    )
    now = [0.0]
    helper = HelperCredentials(command, "https://upstream.example", 60.0, clock=lambda: now[0])

    async def main() -> None:
        assert await helper.current() == ("robot", "s3cret")
        assert await helper.current() == ("robot", "s3cret")
        now[0] = 61.0
        assert await helper.current() == ("robot", "s3cret")

    asyncio.run(main())
    assert log.read_text().splitlines() == ["https://upstream.example"] * 2  # once per lifetime


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("echo nope >&2\nexit 1\n", "failed: nope"),
        ("echo 'not json'\n", "printed no credentials"),
        ('echo \'{"Username": "u"}\'\n', "printed no credentials"),
        ("sleep 5\n", "timed out"),
    ],
)
def test_a_helper_that_gives_nothing_usable_is_an_error(
    tmp_path: Path, body: str, why: str
) -> None:
    helper = HelperCredentials(_helper(tmp_path, body), "https://u.example", 60.0, timeout=0.5)
    with pytest.raises(HelperError) as info:
        asyncio.run(helper.current())
    assert why in str(info.value)


def test_a_missing_helper_is_an_error(tmp_path: Path) -> None:
    helper = HelperCredentials(str(tmp_path / "absent"), "https://u.example", 60.0)
    with pytest.raises(HelperError, match="cannot run"):
        asyncio.run(helper.current())
