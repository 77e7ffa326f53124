"""Listening sockets that ``dockyard serve`` binds itself, before anything else starts.

The sockets are bound without ``SO_REUSEPORT``: a second registry on a taken port fails at
``bind`` instead of joining the first one's port (the kernel would then split connections
between two registries with different settings and data). Like ``registry:2``, a taken
address is one line on stderr and a non-zero exit. ``SO_REUSEADDR`` is set so that a restart
does not wait for old connections in TIME_WAIT; Linux still refuses a second listener.
``TCP_NODELAY`` is set as granian sets it on its own sockets.
"""

from __future__ import annotations

import socket

BACKLOG = 1024


class ListenError(Exception):
    """An address that cannot be listened on; the message is one line naming it."""


def show_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The family and address to bind for ``host``; a name takes its first IPv4 address,
    else its first IPv6 one (as Go's listener, and so ``registry:2``, does)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"listen tcp {show_address(host, port)}: {exc.strerror}") from None
    found.sort(key=lambda entry: entry[0] != socket.AF_INET)
    family, _, _, _, address = found[0]
    return family, (str(address[0]), int(address[1]))


def open_listener(host: str, port: int, what: str, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on ``host:port``, or ListenError naming it and the setting."""
    family, address = bind_address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted ones inherit it
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ListenError(f"listen tcp {show_address(host, port)} ({what}): {reason}") from None
    return sock
