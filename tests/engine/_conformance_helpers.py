"""Helpers for the conformance tests: one purekong server connection on a
real socket, for real clients (``openssl s_client``, ``gnutls-cli``).

The server runs in a thread, serves one connection and records what the
engine reported; the client is a subprocess.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

from purekong.engine import RemoteProtocolError, ServerConfig, ServerConnection, State

from _engine_helpers import PK


@dataclass
class Served:
    """What the server side saw of its one connection."""

    port: int
    server: PK | None = None
    error: Exception | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(20)


def serve_one(config: ServerConfig, *, reply: bytes = b"hello from purekong\n", **proceed: Any) -> Served:
    """Listen on 127.0.0.1, serve one TLS connection, send ``reply`` after the handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    served = Served(listener.getsockname()[1])

    def run() -> None:
        conn, _ = listener.accept()
        listener.close()
        conn.settimeout(15)
        srv = served.server = PK(ServerConnection(config), **proceed)
        try:
            while srv.handshake is None:
                data = conn.recv(65536)
                if not data:
                    srv.conn.receive_data(b"")
                srv.feed(data)
                try:
                    srv.step()
                except RemoteProtocolError as exc:
                    served.error = srv.error = exc
                conn.sendall(srv.out())
                if srv.error is not None or not data:
                    return
            # the reply, then close_notify: the client (with -ign_eof) reads
            # until then; a client that already closed gets neither
            if srv.conn.state is State.ESTABLISHED:
                srv.send(reply)
                srv.close()
                conn.sendall(srv.out())
        except OSError as exc:
            served.error = exc
        finally:
            conn.close()

    served.thread = threading.Thread(target=run, daemon=True)
    served.thread.start()
    return served


def s_client(port: int, *args: str, data: bytes = b"") -> subprocess.CompletedProcess:
    """``openssl s_client`` to the port, reading until the server closes."""
    name = [] if {"-servername", "-noservername"} & set(args) else ["-servername", "localhost"]
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *name, "-ign_eof", *args],
        input=data, capture_output=True, timeout=30, text=False,
    )


def text(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
