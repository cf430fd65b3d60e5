"""A hung supervisord (a socket that accepts and never answers) gives a 503, not a hung request."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.procs import short_tmpdir
from web.supervisor import Supervisor, SupervisorUnavailable


def test_hung_supervisord_is_reported_unavailable_within_the_timeout():
    path = f"{short_tmpdir()}/supervisor.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)  # accepts connections (the kernel does) and never reads or answers
    try:
        started = time.monotonic()
        with pytest.raises(SupervisorUnavailable) as err:
            Supervisor(path, timeout=0.5).processes()
        assert time.monotonic() - started < 30  # bounded, whatever the machine's load
        assert err.value.status == 503 and "supervisord" in str(err.value.message)
    finally:
        server.close()
