import socket
from pathlib import Path

import pytest

from messenger.platform.process import free_port

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="no Linux ephemeral port range to avoid")
def test_free_ports_lie_below_the_ephemeral_range_and_can_be_bound() -> None:
    first_ephemeral = int(RANGE.read_text().split()[0])
    for _ in range(50):
        port = free_port()
        assert port < first_ephemeral
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
