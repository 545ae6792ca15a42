from __future__ import annotations

import socket

import pytest

from tests.support import netguard


def test_loopback_addresses_are_allowed() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", None):
        assert netguard.is_loopback_host(host)


def test_public_and_private_addresses_are_refused() -> None:
    for host in ("151.101.0.223", "10.0.0.1", "192.168.1.1", "pypi.org", "::ffff:8.8.8.8"):
        assert not netguard.is_loopback_host(host)


def test_connecting_outside_loopback_fails_and_names_the_address() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(netguard.NonLoopbackConnectionError, match=r"203\.0\.113\.7"),
    ):
        sock.connect(("203.0.113.7", 443))
    assert any("203.0.113.7" in v for v in netguard.violations)
    netguard.violations.clear()


def test_name_lookup_of_the_real_pypi_is_refused() -> None:
    with pytest.raises(netguard.NonLoopbackConnectionError, match=r"pypi\.org"):
        socket.getaddrinfo("pypi.org", 443)
    netguard.violations.clear()
