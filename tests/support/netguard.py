"""Refuse every network connection that does not go to loopback.

The server's default upstream is the real PyPI; a test that forgets to point it at the mock must fail loudly
instead of quietly reaching the internet. The guard is installed in the pytest process by ``tests/conftest.py``
and in every Python subprocess the tests start (through ``tests/support/guarded_site/sitecustomize.py``).
Violations are both raised (so the connect fails) and recorded (so a caller that swallows the error still
fails the test).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

violations: list[str] = []

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_installed = False


class NonLoopbackConnectionError(ConnectionRefusedError):
    """A test tried to reach an address outside 127.0.0.0/8 or ::1."""


def is_loopback_host(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name == "":
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any, what: str) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
    elif isinstance(address, str | bytes):
        return  # AF_UNIX path
    else:
        host = address
    if not is_loopback_host(host):
        message = f"network guard: {what} to non-loopback address {address!r} refused"
        violations.append(message)
        raise NonLoopbackConnectionError(message)


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address, "connect")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address, "connect")
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, *args: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(args[-1], "sendto")
        return original_sendto(self, *args)  # type: ignore[arg-type]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _check((host, 0), "name lookup")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
