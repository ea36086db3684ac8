"""Differential testing of the flights after the ClientHello: the same edited client flight to purekong and to pyOpenSSL.

Each reference server runs on a loopback socket in a thread (one
connection); ``purekong probe``'s :class:`TcpAttacker` does the handshake,
applies one :class:`FlightPlan` (a skipped, duplicated, reordered or changed
message of the client's second flight, or a CCS, ClientHello or oversized
record after the handshake) and reads the answer. The answers are reduced
to an outcome class ("alert", "closed", "went on", "silent"); purekong and
OpenSSL must land in the same class (which alert may differ: the RFCs leave
several choices), apart from ``FLIGHT_DIVERGENCES``.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Callable

from purekong.engine import NEED_DATA, PAUSED, ConnectionClosed, ProtocolError, ServerConnection

from ._pair import kit_pki_files
from ._pki import kit_client_config, kit_pki, kit_server_config
from ._probe_flight import FlightPlan, run_plan


def _serve_once(handle: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept() -> None:
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        finally:
            listener.close()
        conn.settimeout(5)
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def _purekong_server(mtls: bool) -> Callable[[socket.socket], None]:
    pki = kit_pki()
    config = kit_server_config(request_client_certificate=mtls, client_ca_certificates=(pki.ca,) if mtls else ())

    def handle(conn: socket.socket) -> None:
        server = ServerConnection(config)
        try:
            while data := conn.recv(65536):
                server.receive_data(data)
                while (event := server.next_event()) is not NEED_DATA and not isinstance(event, ConnectionClosed):
                    if event is PAUSED:
                        server.proceed()
                conn.sendall(server.data_to_send())
        except ProtocolError:
            conn.sendall(server.data_to_send())

    return handle


def _pyopenssl_server(mtls: bool) -> Callable[[socket.socket], None]:
    from OpenSSL import SSL

    files = kit_pki_files()
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate_chain_file(files["server_chain"])
    context.use_privatekey_file(files["server_key"])
    if mtls:
        context.load_verify_locations(files["ca"])
        context.set_verify(SSL.VERIFY_PEER, lambda *args: True)

    def handle(conn: socket.socket) -> None:
        conn.settimeout(None)  # pyOpenSSL wants a blocking socket; the probe's close ends it
        tls = SSL.Connection(context, conn)
        tls.set_accept_state()
        try:
            tls.do_handshake()
            while tls.recv(65536):
                pass
        except (SSL.Error, SSL.ZeroReturnError):
            pass

    return handle


REFERENCES: dict[str, Callable[[bool], Callable[[socket.socket], None]]] = {
    "purekong": _purekong_server, "pyopenssl": _pyopenssl_server}


def flight_outcome(reference: str, plan: FlightPlan, timeout: float = 2.0) -> str:
    """How ``reference`` answered ``plan``: "alert NAME", "closed", "went on", "silent" or "inconclusive: why"."""
    port, thread = _serve_once(REFERENCES[reference](plan.needs != ""))
    config = kit_client_config(versions=(plan.version,), certificate=kit_pki().client)
    attacker, what, problem = run_plan("127.0.0.1", port, plan, config, "localhost", timeout)
    thread.join(timeout)
    if problem == "inconclusive":
        return f"inconclusive: {what}"
    return what


def outcome_class(outcome: str) -> str:
    """Which alert is sent may differ (the RFCs allow several); refusing or not may not."""
    if outcome.startswith(("alert", "closed", "an answer the client could not read")):
        return "refused"
    return outcome


@dataclass(frozen=True)
class FlightDifference:
    plan: FlightPlan
    purekong: str
    openssl: str

    def describe(self) -> str:
        return f"{self.plan.label} ({self.plan.version}): purekong {self.purekong}, OpenSSL (pyOpenSSL) {self.openssl}"


#: Known, justified differences in the flights after the ClientHello: plan label -> (reason, RFC clause). Empty today.
FLIGHT_DIVERGENCES: dict[str, tuple[str, str]] = {}


def compare_flight(plan: FlightPlan, timeout: float = 2.0) -> FlightDifference | None:
    """``None`` when purekong and pyOpenSSL answer ``plan`` alike (or as a listed divergence), else the difference."""
    ours, theirs = flight_outcome("purekong", plan, timeout), flight_outcome("pyopenssl", plan, timeout)
    if outcome_class(ours) == outcome_class(theirs) or plan.label in FLIGHT_DIVERGENCES:
        return None
    return FlightDifference(plan, ours, theirs)

