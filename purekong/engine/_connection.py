"""What ServerConnection and ClientConnection share: the public calls,
checked against the rules in ``_state`` and moved only through its table."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from typing import Callable, ContextManager

from ._alerts import AlertDescription, AlertLevel, LocalProtocolError, RemoteProtocolError
from ._events import (
    NEED_DATA,
    AlertReceived,
    ConnectionClosed,
    DataReceived,
    Event,
    HandshakeComplete,
    KeyUpdated,
)
from ._state import Input, State, StateMachine
from ._tlslite import Driver, HandshakeFacts, Hooks, PeerAlert, PeerEOF
from ._tlslite import _backend
from ._reasons import failure_decision, signature_decision
from ._trace import HandshakeMessageTrace, SecretTrace, Trace, Tracer


_log = logging.getLogger("purekong.engine")
_NO_RANDOM_SOURCE = contextlib.nullcontext()  # reusable; entered for every step


class Connection:
    """What ServerConnection and ClientConnection share. Not used directly."""

    def __init__(
        self,
        *,
        initial_state: State,
        trace: Tracer | None,
        random: Callable[[int], bytes] | None,
        max_handshake_message_size: int,
    ) -> None:
        self._trace = trace
        self._random = random
        self._max_handshake = max_handshake_message_size
        self._events: deque[Event] = deque()
        self._machine = StateMachine(initial_state)
        self.handshake: HandshakeComplete | None = None
        self._driver = Driver(
            Hooks(
                on_message=self._on_message if trace else None,
                on_secret=self._on_secret if trace else None,
                on_signature=self._on_signature if trace else None,
                max_message_size=max_handshake_message_size,
            )
        )
        if trace is not None:
            self._driver.trace_records(self._call_tracer)
        # Bound once: the calls every application-data record makes.
        self._feed = self._driver.feed
        self._take_output = self._driver.take_output
        #: A failure found by proceed() (server), raised by the next next_event().
        self._pending_error: RemoteProtocolError | None = None

    # -- public API ----------------------------------------------------------
    @property
    def state(self) -> State:
        return self._machine.state

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the transport; ``b""`` means the transport hit EOF."""
        machine = self._machine
        machine.check("receive_data")
        state = machine.state
        if state is State.ESTABLISHED:
            self._feed(data)  # the common case, without a method of ours in between
        elif state is not State.CLOSED:  # once closed nothing reads them
            self._hold(data)

    def data_to_send(self) -> bytes:
        """Bytes to write to the transport (possibly empty)."""
        return self._take_output()

    def next_event(self) -> Event | object:
        """The next event, ``NEED_DATA``, or (server only) ``PAUSED``."""
        if self._pending_error is not None:  # rule 3: found by proceed(), raised here
            error, self._pending_error = self._pending_error, None
            raise error
        machine = self._machine
        machine.check("next_event")
        if machine.state is State.ESTABLISHED and not self._events:
            # The common case once established: whole application-data
            # records, opened by the record fast path without a tlslite step.
            data = self._driver.read_fast()
            if data:
                return DataReceived(data)
            if data is not None:
                return NEED_DATA  # nothing buffered, nothing under way
        while not self._events:
            if not self._advance():
                break
        if self._events:
            return self._events.popleft()
        return self._idle_sentinel()

    def send_data(self, data: bytes) -> None:
        """Encrypt application data; the records appear in ``data_to_send()``."""
        self._machine.check("send_data")
        if data:
            if type(data) is not bytes:
                data = bytes(data)
            if not self._driver.write_fast(data):  # the fast path needs no randomness
                with self._randomness():
                    self._driver.write(data)

    def key_update(self) -> None:
        """Send a TLS 1.3 KeyUpdate that also asks the peer to update."""
        self._machine.check("key_update")
        if self.handshake is None or self.handshake.version != "TLSv1.3":
            raise LocalProtocolError("KeyUpdate exists only in TLS 1.3")
        self._driver.key_update()

    def close(self) -> None:
        """Send close_notify. Data from the peer can still arrive until it closes too."""
        self._machine.check("close")
        if self._machine.ended or self._machine.closed_by_us:
            return
        self._send_close_notify()
        self._machine.move(Input.CLOSE)

    def abort(self, description: AlertDescription = AlertDescription.internal_error) -> None:
        """Fail the connection now: a fatal alert is queued and the state is ERROR."""
        self._machine.check("abort")
        if self._machine.ended:
            return
        self._send_fatal_alert(description)
        self._machine.move(Input.FATAL_ALERT_SENT)

    # -- the engine ----------------------------------------------------------
    def _hold(self, data: bytes) -> None:
        """receive_data() in any running state but the established one (the
        server overrides it for the bytes that arrive before tlslite runs)."""
        self._driver.feed(data)

    def _send_close_notify(self) -> None:
        self._driver.send_close_notify()

    def _send_fatal_alert(self, description: AlertDescription) -> None:
        self._driver.fail(description, "aborted by the application")

    def _idle_sentinel(self) -> object:
        return NEED_DATA

    def _advance(self) -> bool:
        """Make progress; return False when nothing more can happen now."""
        if self._machine.state not in (State.HANDSHAKING, State.ESTABLISHED):
            return False
        try:
            return self._step()
        except RemoteProtocolError as error:
            # The fatal alert is queued (rule 3): by tlslite, the size check
            # below or a client's certificate check in _handshake_done.
            self._machine.move(Input.FATAL_ALERT_SENT)
            if self._trace is not None:
                self._call_tracer(failure_decision(error))
            raise

    def _step(self) -> bool:
        try:
            with self._randomness():
                result = self._driver.run()
        except PeerAlert as alert:
            self._collect_hook_events()
            self._machine.move(Input.PEER_CLOSED)
            if alert.description == AlertDescription.close_notify:
                self._events.append(ConnectionClosed(clean=True))
            else:
                self._events.append(AlertReceived(AlertLevel(alert.level) if alert.level in (1, 2) else AlertLevel.fatal, AlertDescription.from_code(alert.description)))
                self._events.append(ConnectionClosed(clean=False))
            return True
        except PeerEOF:
            self._collect_hook_events()
            self._machine.move(Input.PEER_CLOSED)
            self._events.append(ConnectionClosed(clean=False))
            return True
        self._collect_hook_events()
        if self._driver.busy() and self._driver.buffered_handshake_bytes() > self._max_handshake:
            raise self._driver.fail(AlertDescription.illegal_parameter, f"handshake message larger than {self._max_handshake} bytes")
        if result is None:
            return bool(self._events)
        if isinstance(result, HandshakeFacts):
            event = self._handshake_done(result)
            self.handshake = event
            self._machine.move(Input.HANDSHAKE_DONE)
            self._events.append(event)
            return True
        if result == b"":
            self._machine.move(Input.PEER_CLOSED)
            self._events.append(ConnectionClosed(clean=True))
        else:
            self._events.append(DataReceived(result))
        return True

    def _handshake_done(self, facts: HandshakeFacts) -> HandshakeComplete:
        if self._trace is not None and facts.version == "TLSv1.3":
            session = self._driver.session()
            if session.exporterMasterSecret:
                self._on_secret("EXPORTER_SECRET", self._driver.client_random(), bytes(session.exporterMasterSecret))
        return HandshakeComplete(
            version=facts.version,
            cipher_suite=facts.cipher_suite,
            server_name=facts.server_name,
            alpn_protocol=facts.alpn_protocol,
            resumed=facts.resumed,
            peer_certificates=facts.peer_certificates,
            session_data=facts.session_data,
        )

    def _collect_hook_events(self) -> None:
        hooks = self._driver.hooks
        for level, description in hooks.warning_alerts:
            self._events.append(AlertReceived(AlertLevel(level), AlertDescription.from_code(description)))
        hooks.warning_alerts.clear()
        for requested in hooks.key_updates:
            self._events.append(KeyUpdated(update_requested=requested))
        hooks.key_updates.clear()

    def _randomness(self) -> ContextManager[object]:
        if self._random is None:
            return _NO_RANDOM_SOURCE
        return _backend.random_source(self._random)

    def _on_message(self, direction: str, msg_type: int, raw: bytes) -> None:
        self._call_tracer(HandshakeMessageTrace(direction, msg_type, raw))

    def _on_secret(self, label: str, client_random: bytes, secret: bytes) -> None:
        self._call_tracer(SecretTrace(label, client_random, secret))

    def _on_signature(self, scheme: int | None, offered: tuple[int, ...]) -> None:
        # tlslite asks once per candidate use (TLS 1.2: twice), and also on
        # a resumption, where nothing is signed: report the first, on full handshakes.
        hooks = self._driver.hooks
        if not hooks.resuming and not hooks.signature_reported:
            hooks.signature_reported = True
            self._call_tracer(signature_decision(scheme, offered, hooks.signature_schemes))

    def _call_tracer(self, item: Trace) -> None:
        # Observing a connection must not break it: a failing tracer is
        # logged, and the handshake goes on.
        if self._trace is None:
            return
        try:
            self._trace(item)
        except Exception:
            _log.exception("the trace callback failed on %r", item)
