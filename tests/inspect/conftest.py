"""Fixtures of the inspector's tests: real purekong handshakes, in memory.

``handshake(version, ...)`` joins a purekong client and server in memory and
returns what an observer saw: the byte chunks each side sent (in order), the
client's key log, and both tracers' events.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import pytest

from purekong._devpki import DevPKI, make_dev_pki
from purekong.engine import (
    NEED_DATA,
    PAUSED,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    KeyLogWriter,
    ServerConfig,
    ServerConnection,
)
from purekong.inspect import CLIENT_TO_SERVER, SERVER_TO_CLIENT

RESPONSE = b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 20000


@dataclass
class Observed:
    transcript: list[tuple[str, bytes]]
    keylog: str
    client_events: list
    server_events: list
    client_draws: list[bytes]  # every random byte string the client drew (its x25519 key among them)
    server_config: object = None  # pass the Observed as resume= to resume its session
    session: object = None
    response: bytes = RESPONSE  # what the server sent as application data


@pytest.fixture(scope="session")
def dev_pki() -> DevPKI:
    return make_dev_pki(ca_days=1, days=1)


@pytest.fixture
def handshake(dev_pki):
    def run(
        version: str, *, key_update: bool = False, mutual: bool = False, resume: Observed | None = None,
        ciphers: tuple[str, ...] | None = None, groups: tuple[str, ...] | None = None,
    ) -> Observed:
        keylog = io.StringIO()
        client_events: list = []
        server_events: list = []
        writer = KeyLogWriter(keylog)

        def client_tracer(event) -> None:
            client_events.append(event)
            writer(event)

        pki = dev_pki
        draws: list[bytes] = []

        def client_random(n: int) -> bytes:
            draws.append(os.urandom(n))
            return draws[-1]

        choices = {k: v for k, v in (("ciphers", ciphers), ("groups", groups)) if v}
        server_config = resume.server_config if resume else ServerConfig(
            certificates=(CertifiedKey((pki.server, pki.ca), pki.server_key),), versions=(version,), **choices
        )
        server = ServerConnection(server_config, trace=server_events.append)
        client_cert = CertifiedKey((pki.client, pki.ca), pki.client_key) if mutual else None
        client = ClientConnection(
            ClientConfig(trusted_certificates=(pki.ca,), certificate=client_cert, versions=(version,), **choices),
            "localhost",
            trace=client_tracer,
            random=client_random,
            session=resume.session if resume else None,
        )
        transcript: list[tuple[str, bytes]] = []

        def pump() -> None:
            for _ in range(10):
                moved = False
                if data := client.data_to_send():
                    transcript.append((CLIENT_TO_SERVER, data))
                    server.receive_data(data)
                    moved = True
                while (event := server.next_event()) not in (NEED_DATA, PAUSED):
                    if isinstance(event, ClientHelloReceived):
                        server.proceed(request_client_certificate=mutual, client_ca_certificates=[pki.ca] if mutual else None)
                if data := server.data_to_send():
                    transcript.append((SERVER_TO_CLIENT, data))
                    client.receive_data(data)
                    moved = True
                while client.next_event() is not NEED_DATA:
                    pass
                if not moved:
                    return

        pump()
        client.send_data(b"GET / HTTP/1.1\r\n\r\n")
        server.send_data(RESPONSE)
        if key_update:
            client.key_update()
            server.key_update()
            client.send_data(b"after the update")
            server.send_data(b"after the update too")
        pump()
        return Observed(transcript, keylog.getvalue(), client_events, server_events, draws, server_config, client.session)

    return run
