"""Listen addresses in Go's ``host:port`` form (``":5000"``, ``"[::1]:5000"``)."""

from __future__ import annotations

from dockyard.config.errors import ConfigError

MAX_PORT = 65535


def parse_host_port(addr: str, key: str) -> tuple[str, int]:
    """Split ``addr`` into ``(host, port)``; an empty host means every IPv4 address.

    ``key`` names the setting in the error message.
    """
    host, sep, port_text = addr.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > MAX_PORT:
        raise ConfigError(f'{key}: expected "host:port" or ":port", got "{addr}"', key=key)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f'{key}: IPv6 hosts need brackets, e.g. "[::1]:5000"', key=key)
    return (host or "0.0.0.0", int(port_text))
