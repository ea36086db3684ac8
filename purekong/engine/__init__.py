"""purekong's sans-IO TLS 1.2/1.3 engine.

Feed bytes in with ``receive_data()``, take events out with
``next_event()``, and send what ``data_to_send()`` returns. The engine never
touches a socket, a clock-driven timer or a thread.
"""

from ._alerts import AlertDescription, AlertLevel, LocalProtocolError, ProtocolError, RemoteProtocolError
from ._client import ClientConnection, ClientSession
from ._config import CertifiedKey, ClientConfig, ServerConfig, SessionStore, load_pem_certificates
from ._events import (
    NEED_DATA,
    PAUSED,
    AlertReceived,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    Event,
    HandshakeComplete,
    KeyUpdated,
    der_to_pem,
)
from ._random import LabelledRandom
from ._server import ServerConnection
from ._state import State
from ._trace import CertificatePhaseTrace, DecisionTrace, HandshakeMessageTrace, KeyLogWriter, RecordTrace, SecretTrace, Trace, Tracer
from ._tlslite import _patches

# Process-wide: from here on every tlslite-ng user in this process runs on
# purekong's patches (the list: _tlslite/_patches.py, docs/manual.md).
_patches.install()

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "AlertDescription",
    "AlertLevel",
    "AlertReceived",
    "CertificatePhaseTrace",
    "CertifiedKey",
    "ClientConfig",
    "ClientConnection",
    "ClientHelloReceived",
    "ClientSession",
    "ConnectionClosed",
    "DataReceived",
    "Event",
    "HandshakeComplete",
    "DecisionTrace",
    "HandshakeMessageTrace",
    "KeyLogWriter",
    "KeyUpdated",
    "LabelledRandom",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RecordTrace",
    "SecretTrace",
    "Trace",
    "Tracer",
    "ServerConfig",
    "ServerConnection",
    "SessionStore",
    "State",
    "der_to_pem",
    "load_pem_certificates",
]
