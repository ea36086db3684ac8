"""Feed bytes to one purekong endpoint and report what it did: the kit's basic oracle step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertDescription,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)

from ._wire import split_records

#: Bytes after which a driven endpoint is stopped for producing too much output.
MAX_OUTPUT = 1 << 20


@dataclass
class EndpointAnswer:
    """What an endpoint did with the bytes it was given.

    ``alert`` is the fatal alert it sent (``None`` if it sent none);
    ``error`` the ``RemoteProtocolError`` message that went with it.
    """

    events: list[Event] = field(default_factory=list)
    alert: AlertDescription | None = None
    error: str | None = None
    sent: bytes = b""
    hellos: list[ClientHelloReceived] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.alert is not None

    def sent_records(self) -> list[tuple[int, int, bytes]]:
        return list(split_records(self.sent))

    def describe(self) -> str:
        if self.alert is not None:
            return f"refused with {self.alert.name} ({self.error})"
        return "accepted: " + ", ".join(type(e).__name__ for e in self.events) if self.events else "waiting for more data"


def run(connection: ServerConnection | ClientConnection, chunks: Iterable[bytes], outcome: EndpointAnswer | None = None,
        proceed: dict[str, Any] | None = None) -> EndpointAnswer:
    """Feed ``chunks`` one ``receive_data`` call each, processing every event; a server proceeds with ``proceed``."""
    outcome = outcome or EndpointAnswer()
    sent = bytearray(outcome.sent)
    try:
        for chunk in chunks:
            connection.receive_data(chunk)
            while True:
                event = connection.next_event()
                sent += connection.data_to_send()
                if len(sent) > MAX_OUTPUT:
                    raise AssertionError(f"the endpoint sent more than {MAX_OUTPUT} bytes")
                if event is NEED_DATA:
                    break
                if event is PAUSED:
                    assert isinstance(connection, ServerConnection)
                    connection.proceed(**(proceed or {}))
                    continue
                assert isinstance(event, Event), f"next_event() returned {event!r}"
                outcome.events.append(event)
                if isinstance(event, ClientHelloReceived):
                    outcome.hellos.append(event)
                if isinstance(event, ConnectionClosed):
                    break
    except RemoteProtocolError as exc:
        if exc.alert is None:
            raise AssertionError(f"RemoteProtocolError without an alert: {exc}") from None
        outcome.alert, outcome.error = exc.alert, str(exc)
        sent += connection.data_to_send()
    except LocalProtocolError:
        pass  # fed after the connection had failed or closed: nothing more happens
    outcome.sent = bytes(sent)
    return outcome


def server_answer(config: ServerConfig, data: bytes | Iterable[bytes], *, eof: bool = False, proceed: dict[str, Any] | None = None) -> EndpointAnswer:
    """What a fresh purekong server does with ``data`` (bytes, or chunks for separate ``receive_data`` calls)::

        >>> bad = pks.defective_client_hellos(["no_null_compression"]).example()
        >>> server_answer(kit_server_config(), bad.record()).alert.name
        'illegal_parameter'
    """
    chunks = [data] if isinstance(data, (bytes, bytearray)) else list(data)
    return run(ServerConnection(config), [*chunks, *([b""] if eof else [])], proceed=proceed)


def client_answer(config: ClientConfig, server_name: str | None, data: bytes | Iterable[bytes]) -> EndpointAnswer:
    """What a fresh purekong client does with the server's ``data`` (its ClientHello is in ``outcome.sent``)."""
    client = ClientConnection(config, server_name)
    outcome = EndpointAnswer(sent=client.data_to_send())
    chunks = [data] if isinstance(data, (bytes, bytearray)) else list(data)
    return run(client, chunks, outcome)
