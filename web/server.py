"""The HTTP(S) server of the gateway: cheroot (pure Python, threads, TLS), hardened against floods.

cheroot as shipped hands each new connection straight to a worker thread, which then waits
for a request (so idle connections hold threads), and runs TLS handshakes in its one accept
loop (so one silent client stalls everybody). Here instead:

- a new connection waits in the selector like a kept-alive one: it costs a descriptor, not a
  thread, until it sends something, and it is closed after `idle_timeout_s` of silence;
- the TLS handshake runs in the worker thread, once the client has sent its first bytes; a
  plain-HTTP request on the HTTPS port gets a plain 400 saying so;
- at most `max_connections` are open, at most `max_per_client` of them from one address:
  beyond that the longest-idle kept-alive connection (of that address, or of anyone when the
  gateway is full) is closed to make room, and only when none is idle is the new connection
  closed at once (after a short 503 when the socket takes it), so one client cannot starve
  the others and a browser is never refused for its own idle connections;
- a streaming response can see its client leave at once: the WSGI environ carries the
  connection's socket as `ohmpi.socket`.

Each response chunk is written and flushed as it comes (cheroot's writer does not buffer),
which is what Server-Sent Events need.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter

from cheroot import connections, wsgi
from cheroot.makefile import MakeFile
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n"
    b"Connection: close\r\nContent-Length: 43\r\n\r\ntoo many connections from this address now\n"
)
PLAIN_ON_TLS = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 46\r\n\r\nthis port speaks HTTPS: use https:// instead.\n"
)


class _Connection(HTTPConnection):
    """A connection whose TLS handshake (if any) runs in the worker, and which frees its slot on close."""

    client = ""
    _released = False

    def __init__(self, server, sock, makefile=MakeFile):
        super().__init__(server, sock, makefile)
        self.tls_pending = server.ssl_adapter is not None

    def communicate(self):
        if self.tls_pending:
            self.tls_pending = False
            if not self._handshake():
                return False
        return super().communicate()

    def _handshake(self) -> bool:
        try:
            first = self.socket.recv(1, socket.MSG_PEEK)
        except OSError:
            return False
        if first[:1].isalpha():  # "GET /...": plain HTTP where TLS was expected
            try:
                self.socket.sendall(PLAIN_ON_TLS)
            except OSError:
                pass
            return False
        adapter = self.server.ssl_adapter
        try:
            sock, env = adapter.wrap(self.socket)
        except Exception:  # a failed or abandoned handshake: nothing to answer
            return False
        sock.settimeout(self.server.timeout)
        self.socket = sock
        self.rfile = adapter.makefile(sock, "rb", self.rbufsize)
        self.wfile = adapter.makefile(sock, "wb", self.wbufsize)
        self.ssl_env = env
        return True

    def close(self):
        try:
            super().close()
        finally:
            if not self._released:
                self._released = True
                self.server.release(self.client)


class _Connections(connections.ConnectionManager):
    """Accepts into the selector (not into a worker) and enforces the connection caps."""

    def _from_server_socket(self, server_socket):
        try:
            sock, addr = server_socket.accept()
        except OSError:  # timeout, EAGAIN, a connection reset before accept, descriptors exhausted
            return None
        client = addr[0] if isinstance(addr, tuple) else ""
        if not self.server.admit(client) and not (self._evict_idle(client) and self.server.admit(client)):
            _refuse(sock)
            return None
        connections.prevent_socket_inheritance(sock)
        sock.settimeout(self.server.timeout)
        conn = self.server.ConnectionClass(self.server, sock, MakeFile)
        conn.client = client
        if isinstance(addr, tuple):
            conn.remote_addr, conn.remote_port = addr[0], addr[1]
        conn.ssl_env = {}
        self.put(conn)  # wait in the selector until it speaks: no thread is held meanwhile
        return None

    def _evict_idle(self, client: str) -> bool:
        """Make room by closing the longest-idle kept-alive connection (of `client` when it is at its
        own cap, of anyone when the gateway is full): a browser reopening its pool, or a client
        whose closed connections are not yet counted off, is never refused for its own idle ones."""
        own = self.server.open[client] >= self.server.max_per_client
        idle = [
            (conn.last_used, fd, conn)
            for fd, conn in self._selector.connections
            if conn is not self.server and (not own or getattr(conn, "client", None) == client)
        ]
        if not idle:
            return False
        _, fd, conn = min(idle, key=lambda item: item[0])
        self._selector.unregister(fd)
        conn.close()  # releases its count
        self.server.evicted += 1
        return True

    def put(self, conn):
        pending = getattr(conn.socket, "pending", None)  # TLS may hold decrypted bytes the selector cannot see
        if pending is not None and pending():
            conn.last_used = time.time()
            self.server.process_conn(conn)
            return
        super().put(conn)


def _refuse(sock: socket.socket) -> None:
    try:
        sock.setblocking(False)
        sock.send(REFUSED)
    except OSError:
        pass
    finally:
        sock.close()


class _Gateway(wsgi.Gateway_10):
    def get_environ(self):
        env = super().get_environ()
        env["ohmpi.socket"] = self.req.conn.socket
        return env


class Server(wsgi.Server):
    """`Server(app, host, port, ...)`; `prepare()` binds, `serve()` runs, `stop()` ends."""

    ConnectionClass = _Connection

    def __init__(
        self,
        app,
        host: str,
        port: int,
        *,
        threads: int = 48,
        idle_timeout_s: float = 15.0,
        max_connections: int = 256,
        max_per_client: int = 16,
        certfile: str | None = None,
        keyfile: str | None = None,
    ):
        super().__init__(
            (host, port),
            app,
            numthreads=threads,
            server_name="ohmpi",
            timeout=idle_timeout_s,
            request_queue_size=128,
            shutdown_timeout=5,
        )
        self.gateway = _Gateway
        self.keep_alive_conn_limit = max_connections
        self.max_request_header_size = 64 * 1024
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.open: Counter = Counter()
        self.refused = 0
        self.evicted = 0
        self._count_lock = threading.Lock()
        if certfile:
            self.ssl_adapter = BuiltinSSLAdapter(certfile, keyfile)
            self.ssl_adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2

    def prepare(self):
        super().prepare()
        stock = self._connections  # replace cheroot's manager (nothing was accepted yet)
        stock._selector.close()
        self._connections = _Connections(self)

    def admit(self, client: str) -> bool:
        with self._count_lock:
            if self.open[client] >= self.max_per_client or sum(self.open.values()) >= self.max_connections:
                self.refused += 1
                return False
            self.open[client] += 1
            return True

    def release(self, client: str) -> None:
        with self._count_lock:
            self.open[client] -= 1
            if self.open[client] <= 0:
                del self.open[client]

    def status(self) -> dict:
        with self._count_lock:
            return {
                "connections": sum(self.open.values()),
                "clients": len(self.open),
                "refused": self.refused,
                "evicted": self.evicted,
                "max_connections": self.max_connections,
                "max_per_client": self.max_per_client,
                "tls": self.ssl_adapter is not None,
            }
