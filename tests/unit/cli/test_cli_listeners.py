"""The listening sockets ``dockyard serve`` binds itself (real sockets, loopback only)."""

from __future__ import annotations

import socket

import pytest

from dockyard.cli.listeners import ListenError, open_listener, show_address


def test_a_taken_port_is_one_line_naming_the_address_and_setting() -> None:
    with open_listener("127.0.0.1", 0, "http.addr") as first:
        port = first.getsockname()[1]
        with pytest.raises(ListenError) as raised:
            open_listener("127.0.0.1", port, "http.addr")
    message = str(raised.value)
    assert message == f"listen tcp 127.0.0.1:{port} (http.addr): address already in use"


def test_the_listener_does_not_share_its_port() -> None:
    """A socket that asks for SO_REUSEPORT (as granian's own workers do) cannot join it."""
    with open_listener("127.0.0.1", 0, "http.addr") as first:
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        with socket.socket() as intruder:
            intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with pytest.raises(OSError):
                intruder.bind(first.getsockname())


def test_localhost_binds_ipv4_loopback_and_brackets_show_ipv6() -> None:
    with open_listener("localhost", 0, "http.addr") as sock:
        assert sock.family == socket.AF_INET and sock.getsockname()[0] == "127.0.0.1"
    with open_listener("::1", 0, "http.addr") as sock:
        assert sock.family == socket.AF_INET6
        assert show_address("::1", sock.getsockname()[1]).startswith("[::1]:")
