"""Which value a random draw is for, read from where tlslite draws it.

Every random byte the engine uses comes through ``_backend.random_bytes``;
``draw_label()`` looks up the calling frames for the tlslite (or backend)
function and source line that asked, and names the value by the table
below. It is only called for ``random=LabelledRandom(...)``: plain
``random=`` callables and production connections never pay for it.

Each row: (function name, text on the calling line or ``None`` for any
line, label). The first row that matches the innermost matching frame wins.
"""

from __future__ import annotations

import linecache
import sys
from typing import Callable

from tlslite.constants import GroupName


def _group_private(frame_locals: dict[str, object]) -> str:
    group = getattr(frame_locals.get("self"), "group", None)
    name = GroupName.toStr(group) if isinstance(group, int) else None
    return f"{name}_private" if name else "ecdhe_private"


Label = str | Callable[[dict[str, object]], str]

#: (function, text on the line that draws, label): what each draw is for.
LABELS: tuple[tuple[str, str | None, Label], ...] = (
    # (EC)DHE private keys: x25519/x448 in tlslite, NIST curves in the backend.
    ("get_random_private_key", None, _group_private),
    ("_ecdh_get_random_private_key", None, _group_private),
    # Client (tlsconnection.py, _clientSendClientHello).
    ("_clientSendClientHello", "session_id", "session_id"),
    ("_clientSendClientHello", "clientHello.create", "client_random"),
    # Server.
    ("_handshakeServerAsyncHelper", "random = getRandomBytes", "server_random"),
    ("_handshakeServerAsyncHelper", "sessionID", "session_id"),
    ("_serverTLS13Handshake", "serverHello.create", "server_random"),
    ("_serverGetClientHello", "serverHello.create", "server_random"),
    ("_serverGetClientHello", "getRandomBytes(32)", "hrr_cookie"),
    # tlslite draws a 2-byte age_add; purekong's _queue_message replaces it
    # with a full 4-byte one (RFC 8446 §4.6.1), the value on the wire.
    ("_serverSendTickets", "getRandomNumber", "ticket_age_add_replaced"),
    ("_queue_message", "ticket_age_add", "ticket_age_add"),
    ("_serverSendTickets", "nonce = getRandomBytes", "ticket_encryption_nonce"),
    ("_serverSendTickets", "ticketKeys", "ticket_nonce"),
    ("request_post_handshake_auth", None, "certificate_request_context"),
    # Signatures (tlslite's arithmetic, used for RSA-PSS so that salts come from here).
    ("EMSA_PSS_encode", None, "pss_salt"),
    ("_rawPrivateKeyOp", None, "rsa_blinding"),
    ("create", "self.padding = getRandomBytes", "heartbeat_padding"),
    # TLS 1.2 record layer: the start of the explicit nonces (recordlayer.py).
    ("calcPendingStates", "fixedIVBlock", "explicit_nonce_seed"),
)

_FUNCTIONS = {row[0] for row in LABELS}
MAX_DEPTH = 12


def draw_label() -> str:
    """The label of the random draw being made now (``"unlabelled"`` if unknown)."""
    frame = sys._getframe(1)
    for _ in range(MAX_DEPTH):
        if frame is None:
            break
        name = frame.f_code.co_name
        if name in _FUNCTIONS:
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
            for function, text, label in LABELS:
                if function == name and (text is None or text in line):
                    return label(dict(frame.f_locals)) if callable(label) else label
        frame = frame.f_back  # type: ignore[assignment]
    return "unlabelled"
