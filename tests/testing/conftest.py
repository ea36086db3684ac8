"""Fixtures for the testing kit's own tests.

pytester runs the kit's pytest plugin in a fresh session. ``probe_server``
starts a small purekong TCP server in a thread; with ``flaw=`` it is a
**planted-flaw test double** (clearly not a real server): it tampers with
what it receives before the engine sees it, so ``purekong probe`` has a
defect to find.
"""

from __future__ import annotations

import socket
import threading

import pytest

from purekong.engine import NEED_DATA, PAUSED, ConnectionClosed, ProtocolError, ServerConnection
from purekong.testing import kit_server_config

pytest_plugins = ["pytester"]

#: Planted flaws: each changes whole records (b"" drops one) before the engine sees them.
FLAWS = {
    None: lambda record: record,
    "accepts_early_ccs": lambda record: b"" if record[0] == 20 else record,  # TEST DOUBLE: CCS silently dropped
    "ignores_heartbeat": lambda record: b"" if record[0] == 24 else record,  # TEST DOUBLE: heartbeats silently dropped
    # TEST DOUBLE: every name is "localhost", so sessions resume across SNI.
    "resumes_across_sni": lambda record: record.replace(b"otherhost", b"localhost"),
}


def _serve_one(conn: socket.socket, flaw: str | None, config) -> None:
    server = ServerConnection(config)
    change = FLAWS[flaw]
    buffer = b""
    conn.settimeout(5)
    try:
        while True:
            data = conn.recv(65536)
            if flaw is None or not data:
                incoming = data
            else:  # the planted flaw: whole records, changed
                buffer += data
                incoming = b""
                while len(buffer) >= 5 and len(buffer) >= 5 + int.from_bytes(buffer[3:5], "big"):
                    size = 5 + int.from_bytes(buffer[3:5], "big")
                    record, buffer = buffer[:size], buffer[size:]
                    incoming += change(record)
            server.receive_data(incoming)
            while (event := server.next_event()) is not NEED_DATA and not isinstance(event, ConnectionClosed):
                if event is PAUSED:
                    server.proceed()
            conn.sendall(server.data_to_send())
            if not data:
                return
    except (ProtocolError, OSError):
        try:
            conn.sendall(server.data_to_send())
        except OSError:
            pass
    finally:
        conn.close()


@pytest.fixture
def probe_server():
    """``probe_server(flaw=None)`` -> port of a thread-served purekong TLS server (a planted-flaw double with ``flaw``)."""
    sockets = []

    def start(flaw: str | None = None, behaviour: str = "tls") -> int:
        config = kit_server_config()  # one session store for all connections, as a real server has
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        sockets.append(listener)

        def loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                if behaviour == "closes":
                    conn.close()
                elif behaviour == "garbage":
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    conn.close()
                elif behaviour == "stalls":
                    sockets.append(conn)
                else:
                    threading.Thread(target=_serve_one, args=(conn, flaw, config), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for sock in sockets:
        sock.close()
