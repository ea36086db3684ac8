"""The connection state machine, stated once and executed as these tables.

States::

    EXPECT_CLIENT_HELLO  server: bytes are buffered until a whole ClientHello
    AWAIT_PROCEED        server: ClientHelloReceived was returned; next_event()
                         returns PAUSED until proceed() (every ClientHello,
                         resuming ones too)
    HANDSHAKING          tlslite runs the handshake (a client starts here)
    ESTABLISHED          application data both ways
    CLOSED               the peer ended the connection (close_notify, an alert,
                         EOF), or close() was called before the handshake
                         was done
    ERROR                we sent a fatal alert; the connection can only be
                         discarded

TRANSITIONS, (state, input) -> next state; a pair that is not listed cannot
happen::

    EXPECT_CLIENT_HELLO --CLIENT_HELLO--> AWAIT_PROCEED
    EXPECT_CLIENT_HELLO --TLSLITE_READS_HELLO--> HANDSHAKING   (not a ClientHello
                          purekong reads, or EOF first: tlslite answers it)
    AWAIT_PROCEED       --PROCEED--> HANDSHAKING
    HANDSHAKING         --HANDSHAKE_DONE--> ESTABLISHED
    HANDSHAKING, ESTABLISHED --PEER_CLOSED--> CLOSED
    EXPECT_CLIENT_HELLO, AWAIT_PROCEED, HANDSHAKING --CLOSE--> CLOSED
    ESTABLISHED         --CLOSE--> ESTABLISHED   (the peer may still send data)
    every state but CLOSED and ERROR --FATAL_ALERT_SENT--> ERROR

The rules:

1. Bytes only move when the application asks. ``receive_data`` only
   buffers; ``next_event`` does the work, one event at a time, so the
   engine never holds more than the application handed it plus one
   handshake message (at most ``max_handshake_message_size``).
2. A public call that ``ALLOWED`` does not list for the current state raises
   ``LocalProtocolError`` naming the state and the call, and changes
   nothing. After ``close()``, ``send_data`` and ``key_update`` are refused
   in every state. ``close()`` and ``abort()`` do nothing once the
   connection has ended (CLOSED or ERROR).
3. ``next_event`` raises only ``RemoteProtocolError``, and only after the
   fatal alert is queued in ``data_to_send()``; the connection is then in
   ERROR. A failure found by ``proceed()`` (no ALPN protocol in common) is
   raised by the next ``next_event``.
4. Every alert written before tlslite runs (EXPECT_CLIENT_HELLO,
   AWAIT_PROCEED) is a plaintext record with record version 0x0303, from
   ``Driver.write_plaintext_alert``.
"""

from __future__ import annotations

import enum

from ._alerts import LocalProtocolError


class State(enum.Enum):
    EXPECT_CLIENT_HELLO = "EXPECT_CLIENT_HELLO"
    AWAIT_PROCEED = "AWAIT_PROCEED"
    HANDSHAKING = "HANDSHAKING"
    ESTABLISHED = "ESTABLISHED"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Input(enum.Enum):
    """What moves a connection from one state to the next."""

    CLIENT_HELLO = "a whole ClientHello was read"
    TLSLITE_READS_HELLO = "the first bytes go to tlslite as they are"
    PROCEED = "proceed() was called"
    HANDSHAKE_DONE = "the handshake finished"
    PEER_CLOSED = "the peer's close_notify, alert or EOF"
    CLOSE = "close() was called"
    FATAL_ALERT_SENT = "we sent a fatal alert (abort(), or the peer broke the protocol)"


S, I = State, Input

TRANSITIONS: dict[State, dict[Input, State]] = {
    S.EXPECT_CLIENT_HELLO: {
        I.CLIENT_HELLO: S.AWAIT_PROCEED,
        I.TLSLITE_READS_HELLO: S.HANDSHAKING,
        I.CLOSE: S.CLOSED,
        I.FATAL_ALERT_SENT: S.ERROR,
    },
    S.AWAIT_PROCEED: {
        I.PROCEED: S.HANDSHAKING,
        I.CLOSE: S.CLOSED,
        I.FATAL_ALERT_SENT: S.ERROR,
    },
    S.HANDSHAKING: {
        I.HANDSHAKE_DONE: S.ESTABLISHED,
        I.PEER_CLOSED: S.CLOSED,
        I.CLOSE: S.CLOSED,
        I.FATAL_ALERT_SENT: S.ERROR,
    },
    S.ESTABLISHED: {
        I.PEER_CLOSED: S.CLOSED,
        I.CLOSE: S.ESTABLISHED,
        I.FATAL_ALERT_SENT: S.ERROR,
    },
    S.CLOSED: {},
    S.ERROR: {},
}

#: The public calls, and the states each one is allowed in.
_EVERYWHERE = frozenset({"data_to_send", "close", "abort"})
_RUNNING = _EVERYWHERE | {"receive_data", "next_event"}
ALLOWED: dict[State, frozenset[str]] = {
    S.EXPECT_CLIENT_HELLO: _RUNNING,
    S.AWAIT_PROCEED: _RUNNING | {"proceed"},
    S.HANDSHAKING: _RUNNING,
    S.ESTABLISHED: _RUNNING | {"send_data", "key_update"},
    S.CLOSED: _RUNNING,
    S.ERROR: _EVERYWHERE,
}
#: Refused in every state once close() was called.
REFUSED_AFTER_CLOSE = frozenset({"send_data", "key_update"})
#: States in which the connection has ended.
ENDED = frozenset({S.CLOSED, S.ERROR})

_WHY = {S.ERROR: " (the connection failed earlier; it can only be discarded)"}


class StateMachine:
    """One connection's state; it changes only by ``move()``."""

    __slots__ = ("state", "closed_by_us", "allowed")

    def __init__(self, initial: State) -> None:
        self.state = initial
        self.closed_by_us = False
        #: The calls allowed now: ALLOWED[state], less REFUSED_AFTER_CLOSE
        #: after close(). Kept by move() so that check(), made on every public
        #: call, is one set lookup (an Enum's hash is a Python call).
        self.allowed = ALLOWED[initial]

    def check(self, call: str) -> None:
        """Raise ``LocalProtocolError`` unless ``call`` is allowed now (rule 2)."""
        if call not in self.allowed:
            if call not in ALLOWED[self.state]:
                raise LocalProtocolError(f"{call}() is not allowed in state {self.state.name}{_WHY.get(self.state, '')}")
            raise LocalProtocolError(f"{call}() is not allowed after close() (state {self.state.name})")

    def move(self, event: Input) -> State:
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            # The engine's own bug, never the application's or the peer's.
            raise RuntimeError(f"no transition from {self.state.name} on {event.name}") from None
        if event is Input.CLOSE:
            self.closed_by_us = True
        self.allowed = ALLOWED[self.state] - REFUSED_AFTER_CLOSE if self.closed_by_us else ALLOWED[self.state]
        return self.state

    @property
    def ended(self) -> bool:
        return self.state in ENDED
