"""``--connect``: a purekong client against a real server, every byte captured.

The client does one handshake over a TCP socket, optionally sends one HTTP
request, reads what the server sends until it closes or falls quiet, and
closes with close_notify. The server's choices (version, suite, group,
certificate, tickets) are what the recording then shows. Bounded: at most
``MAX_LIVE_BYTES`` are read, and every read waits at most ``timeout``
seconds.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from cryptography import x509

from purekong import __version__
from purekong.engine import (
    NEED_DATA,
    AlertReceived,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    ProtocolError,
)

from ._capture import Capture, CapturedDecision

MAX_LIVE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class LiveOptions:
    host: str
    port: int
    server_name: str | None = None
    versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2")
    alpn: tuple[str, ...] = ()
    certificate: CertifiedKey | None = None
    trusted: tuple[x509.Certificate, ...] = ()  # verify the server against these (none: no verification)
    http_request: bool = False
    timeout: float = 5.0


class LiveError(Exception):
    """The connection could not be made (the message is for the user)."""


def connect(options: LiveOptions) -> Capture:
    """Connect, handshake, capture. A handshake that fails is captured too."""
    server_name = options.server_name if options.server_name is not None else options.host
    config = ClientConfig(
        trusted_certificates=options.trusted, verify_server=bool(options.trusted), versions=options.versions,
        alpn_protocols=options.alpn, certificate=options.certificate,
    )
    capture = Capture(f"live connection to {options.host}:{options.port}", meta={"source": "connect"})
    capture.meta["implementation"] = {"client": f"purekong {__version__}", "server": f"{options.host}:{options.port}"}
    client = ClientConnection(config, server_name, trace=capture.traces["client"].append)
    try:
        sock = socket.create_connection((options.host, options.port), timeout=options.timeout)
    except OSError as exc:
        raise LiveError(f"--connect {options.host}:{options.port}: {exc.strerror or exc}") from None
    with sock:
        local, peer = sock.getsockname(), sock.getpeername()
        capture.client_address, capture.server_address = (local[0], local[1]), (peer[0], peer[1])
        _Session(capture, client, sock, options).run()
    if not options.trusted:
        capture.decisions.append(CapturedDecision("client", "verification", "the server's certificate was not verified",
                                          "no --ca given: the inspector shows any server's handshake"))
    return capture


class _Session:
    def __init__(self, capture: Capture, client: ClientConnection, sock: socket.socket, options: LiveOptions) -> None:
        self.capture, self.client, self.sock, self.options = capture, client, sock, options
        self.read = 0
        self.closed = False

    def send(self) -> None:
        data = self.client.data_to_send()
        if data:
            self.capture.wire("client_to_server", data)
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self.capture.findings.append(f"the connection failed while sending: {exc}")
                self.closed = True

    def receive(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError as exc:
            self.capture.findings.append(f"the connection failed while reading: {exc}")
            data = b""
        self.read += len(data)
        if self.read > MAX_LIVE_BYTES:
            self.capture.findings.append(f"stopped reading after {MAX_LIVE_BYTES} bytes (the live capture limit)")
            data = b""
        self.capture.wire("server_to_client", data)
        if not data:
            self.closed = True
        self.client.receive_data(data)
        return True

    def events(self) -> None:
        while True:
            try:
                event = self.client.next_event()
            except ProtocolError as exc:
                alert = exc.alert.name if exc.alert is not None else "none"
                self.capture.decisions.append(CapturedDecision("client", "alert", f"sent a fatal {alert} alert", str(exc)))
                self.send()
                self.closed = True
                return
            if event is NEED_DATA:
                return
            if isinstance(event, HandshakeComplete):
                # After the handshake only tickets are still coming: wait less.
                self.sock.settimeout(self.options.timeout if self.options.http_request else min(self.options.timeout, 0.5))
                if self.options.http_request:
                    host = self.options.server_name or self.options.host
                    self.client.send_data(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            elif isinstance(event, DataReceived):
                self.capture.plaintext.append(("server_to_client", event.data))
            elif isinstance(event, AlertReceived):
                name = getattr(event.description, "name", event.description)
                self.capture.decisions.append(CapturedDecision("server", "alert", f"sent a {event.level.name} {name} alert"))
            elif isinstance(event, ConnectionClosed):
                self.closed = True
                return

    def run(self) -> None:
        self.send()
        while not self.closed:
            if not self.receive():  # quiet: the server has said all it will say for now
                break
            self.events()
            self.send()
        if not self.closed:
            self.client.close()
            self.send()
            self.sock.settimeout(min(self.options.timeout, 1.0))
            while not self.closed and self.receive():  # the server's close_notify, if it sends one
                self.events()
