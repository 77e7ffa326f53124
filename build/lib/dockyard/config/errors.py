"""The one exception type the config package raises."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, rendered as ONE line that names the offending key.

    ``str(err)`` always starts with ``config: ``, e.g.
    ``config: storage.delete.enabled: expected bool, got str "maybe"``.
    ``key`` holds the dotted key path (or environment variable) when there is one.
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        self.message = " ".join(message.split())
        self.key = key
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"config: {self.message}"
