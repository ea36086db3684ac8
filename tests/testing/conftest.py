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
from purekong.testing import kit_pki, kit_server_config

pytest_plugins = ["pytester"]

#: Planted flaws: each changes whole records (b"" drops one) before the engine sees them.
FLAWS = {
    None: lambda record: record,
    "accepts_early_ccs": lambda record: b"" if record[0] == 20 else record,  # TEST DOUBLE: CCS silently dropped
    "ignores_heartbeat": lambda record: b"" if record[0] == 24 else record,  # TEST DOUBLE: heartbeats silently dropped
    # TEST DOUBLE: every name is "localhost", so sessions resume across SNI.
    "resumes_across_sni": lambda record: record.replace(b"otherhost", b"localhost"),
}


MTLS = {"request_client_certificate": True, "client_ca_certificates": (kit_pki().ca,)}
#: The certificate double's server: mTLS, and SHA-256 suites only (its look-ahead parses a 32-byte Finished).
CERTIFICATE_DOUBLE = {**MTLS, "ciphers": ("CHACHA20_POLY1305", "AES_128_GCM")}


def accept_certificate_without_verify(server: ServerConnection) -> None:
    """TEST DOUBLE (CVE-2022-25640): this TLS 1.3 server skips the client CertificateVerify check when none was sent.

    It wraps this one connection's tlslite reader: after the client's
    Certificate it reads one message ahead; when that is the Finished (no
    CertificateVerify), the chain claims to be empty for the one check that
    asks for a CertificateVerify, so the handshake completes with an
    unproven client certificate. A CertificateVerify that was sent is still
    checked, so honest clients still connect.
    """
    from tlslite.constants import ContentType, HandshakeType

    tls = server._driver.tls
    read = tls._getMsg
    ahead: list = []
    restore: list = []

    def get_message(expected, secondary=None, constructor=None):
        if ahead:
            message, raw = ahead.pop()
            for chain in restore:
                del chain.getNumCerts  # the class's method again
            tls._handshake_hash.update(raw)
            yield message
            return
        result = None
        for result in read(expected, secondary, constructor):
            if result in (0, 1):
                yield result
            else:
                break
        wanted = secondary if isinstance(secondary, tuple) else (secondary,)
        chain = getattr(result, "cert_chain", None)
        if tls.version == (3, 4) and HandshakeType.certificate in wanted and chain is not None and chain.getNumCerts():
            before = tls._handshake_hash.copy()
            for following in read(ContentType.handshake, (HandshakeType.certificate_verify, HandshakeType.finished), 32):
                if following in (0, 1):
                    yield following
                else:
                    break
            tls._handshake_hash = before  # hashed again when handed on
            ahead.append((following, bytes(following.write())))
            if following.handshakeType == HandshakeType.finished:
                # Until the Finished is handed on, the chain looks empty: the
                # CertificateVerify gate passes; later callers see the chain.
                result._cert_chain = chain  # TLS 1.3 Certificates build a new chain on each access: pin this one
                restore.append(chain)
                chain.getNumCerts = lambda: 0
        yield result

    tls._getMsg = get_message


def _serve_one(conn: socket.socket, flaw: str | None, config) -> None:
    server = ServerConnection(config)
    if flaw == "accepts_certificate_without_verify":
        accept_certificate_without_verify(server)
    change = FLAWS.get(flaw, FLAWS[None])
    buffer = b""
    conn.settimeout(5)
    try:
        while True:
            data = conn.recv(65536)
            if flaw not in FLAWS or flaw is None or not data:  # (engine-level doubles change no records)
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

    def start(flaw: str | None = None, behaviour: str = "tls", mtls: bool = False) -> int:
        # One session store for all connections, as a real server has; the
        # certificate double asks for client certificates (a Kong mTLS server).
        config = (kit_server_config(**CERTIFICATE_DOUBLE) if flaw == "accepts_certificate_without_verify"
                  else kit_server_config(**MTLS) if mtls else kit_server_config())
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


@pytest.fixture
def client_pem(tmp_path):
    """The kit's client certificate and key as PEM files: (cert path, key path), for ``purekong probe --client-cert/--key``."""
    from cryptography.hazmat.primitives import serialization

    client = kit_pki().client
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in client.chain))
    key.write_bytes(client.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert), str(key)
