"""Built-in scenarios: real purekong handshakes in memory, deterministic by seed.

Each scenario joins a purekong ``ServerConnection`` and ``ClientConnection``
in memory, with ``trace=`` on both and ``random=`` drawn from the seed, and
captures every byte each way. Nothing is simulated: the bytes are the
engine's, the crypto is real, and a scenario that fails to do what it says
raises ``ScenarioError``.

``SCENARIOS`` is the table ``purekong inspect --list`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertReceived,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    ClientSession,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    HandshakeMessageTrace,
    KeyUpdated,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)

from ._capture import Capture, CapturedDecision, Side
from ._dissect import dissect_handshake
from ._registry import cipher_suite_name, group_name, signature_scheme_name
from purekong._deterministic import seeded_random_source

from ._seeded import ScenarioPKI, derive_bytes, frozen_clock, p256_key, scenario_pki

HOST = "localhost"
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nhello, world\n"


class ScenarioError(RuntimeError):
    """A scenario did not do what it says (a bug in purekong or in the scenario)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    teaches: str
    run: Callable[[bytes], Capture]


# ---------------------------------------------------------------------------
# The pump: two engines, one in-memory wire, everything captured
# ---------------------------------------------------------------------------

class _Pair:
    """A purekong server and client joined in memory, captured into ``capture``."""

    def __init__(self, capture: Capture, seed: bytes, server_config: ServerConfig, client_config: ClientConfig, *,
                 session: ClientSession | None = None, proceed: dict[str, Any] | None = None, tag: str = "") -> None:
        self.capture = capture
        self.proceed_kwargs = proceed or {}
        self.server = ServerConnection(server_config, trace=capture.traces["server"].append,
                                       random=seeded_random_source(seed + b"server" + tag.encode()))
        self.client = ClientConnection(client_config, HOST, session=session, trace=capture.traces["client"].append,
                                       random=seeded_random_source(seed + b"client" + tag.encode()))
        self.done: dict[Side, HandshakeComplete] = {}
        self.received: dict[Side, bytearray] = {"client": bytearray(), "server": bytearray()}
        self.failed: RemoteProtocolError | None = None
        self.closed: set[Side] = set()  # sides that closed or failed: nothing more is fed to them
        self.hello: ClientHelloReceived | None = None

    def pump(self) -> None:
        """Move bytes both ways until neither side has anything to say."""
        for _ in range(50):
            moved = self._flush("client", self.client, self.server) | self._flush("server", self.server, self.client)
            progressed = self._events("server", self.server) | self._events("client", self.client)
            if not moved and not progressed:
                return
        raise ScenarioError("the endpoints never went quiet")

    def _flush(self, side: Side, source: Any, sink: Any) -> bool:
        data = source.data_to_send()
        if not data:
            return False
        self.capture.wire("client_to_server" if side == "client" else "server_to_client", data)
        other: Side = "server" if side == "client" else "client"
        if other not in self.closed:
            sink.receive_data(data)
        return True

    def _events(self, side: Side, conn: Any) -> bool:
        if side in self.closed:
            return False
        progressed = False
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                self.failed = exc
                self.closed.add(side)
                alert = exc.alert.name if exc.alert is not None else "none"
                self.capture.decisions.append(CapturedDecision(side, "alert", f"sent a fatal {alert} alert", str(exc)))
                return True
            if event is NEED_DATA or event is PAUSED:
                return progressed
            progressed = True
            self._on_event(side, conn, event)

    def _on_event(self, side: Side, conn: Any, event: object) -> None:
        note = self.capture.decisions.append
        if isinstance(event, ClientHelloReceived):
            self.hello = event
            note(_offers(event))
            kwargs = {} if event.resumes_session else self.proceed_kwargs
            note(_certificate_phase(event, kwargs))
            if not event.resumes_session:
                chain = kwargs.get("certificates", conn.config.certificates)[0].chain
                self.capture.certificate_phase = dict(
                    kwargs, server_name=event.server_name,
                    certificate_chain=[c.public_bytes(serialization.Encoding.DER) for c in chain])
            conn.proceed(**kwargs)
        elif isinstance(event, HandshakeComplete):
            self.done[side] = event
        elif isinstance(event, DataReceived):
            self.received[side] += event.data
            self.capture.plaintext.append(("client_to_server" if side == "server" else "server_to_client", event.data))
        elif isinstance(event, KeyUpdated):
            note(CapturedDecision(side, "key_update", "updated its receiving keys",
                          "the peer sent KeyUpdate" + (" and asked for one back (update_requested)" if event.update_requested else "")
                          + " (RFC 8446 §4.6.3)"))
        elif isinstance(event, AlertReceived):
            note(CapturedDecision(side, "alert", f"received a {event.level.name} {getattr(event.description, 'name', event.description)} alert"))
        elif isinstance(event, ConnectionClosed):
            self.closed.add(side)

    def handshake(self) -> None:
        self.pump()
        if len(self.done) != 2:
            raise ScenarioError(f"the handshake did not complete ({self.failed or 'no error reported'})")
        # The server's choices and their reasons come from the engine itself
        # (its DecisionTrace events, checked against the wire by the recording).

    def exchange(self, request: bytes = REQUEST, response: bytes = RESPONSE) -> None:
        self.client.send_data(request)
        self.pump()
        self.server.send_data(response)
        self.pump()
        if not (self.received["server"].endswith(request) and self.received["client"].endswith(response)):
            raise ScenarioError("application data was lost")

    def close(self) -> None:
        self.client.close()
        self.pump()
        self.server.close()
        self.pump()


def _offers(event: ClientHelloReceived) -> CapturedDecision:
    groups = [group_name(g) for g in event.groups]
    return CapturedDecision(
        "client", "offers", f"offered {', '.join(event.versions)}",
        "the ClientHello lists what the client can do; the server picks (RFC 8446 §4.1.1)",
        {"server_name": event.server_name, "versions": list(event.versions),
         "cipher_suites": [cipher_suite_name(c) for c in event.cipher_suites], "groups": groups,
         "signature_algorithms": [signature_scheme_name(s) for s in event.signature_algorithms],
         "alpn": list(event.alpn_protocols), "resumes_session": event.resumes_session},
    )


def _certificate_phase(event: ClientHelloReceived, kwargs: dict[str, Any]) -> CapturedDecision:
    if event.resumes_session:
        return CapturedDecision("server", "certificate_phase", "skipped: the ClientHello resumes a session",
                        "as in nginx and Kong, only ALPN can be chosen on resumption")
    details: dict[str, Any] = {}
    if kwargs.get("request_client_certificate"):
        details["request_client_certificate"] = True
        details["client_ca_dn_list"] = [c.subject.rfc4514_string() for c in kwargs.get("client_ca_certificates", ())]
    if kwargs.get("session_reuse") is False:
        details["session_reuse"] = False
    if "alpn_protocols" in kwargs:
        details["alpn_protocols"] = list(kwargs["alpn_protocols"])
    calls = []
    if details.get("request_client_certificate"):
        calls.append("kong.client.tls.request_client_certificate(ca_certs)")
    if details.get("session_reuse") is False:
        calls.append("kong.client.tls.disable_session_reuse()")
    what = "proceed(" + ", ".join(f"{k}=..." for k in kwargs) + ")" if kwargs else "proceed() with the config's defaults"
    return CapturedDecision("server", "certificate_phase", what,
                    ("Kong's certificate phase: " + "; ".join(calls)) if calls else "Kong's certificate phase: no plugin changed anything",
                    details)


# ---------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------

def _server_config(pki: ScenarioPKI, seed: bytes, **overrides: Any) -> ServerConfig:
    options: dict[str, Any] = dict(
        certificates=(CertifiedKey((pki.server.cert, pki.ca.cert), pki.server.key),),
        ticket_keys=(derive_bytes(seed, "ticket key"),),
        alpn_protocols=("h2", "http/1.1"),
        tls13_tickets=1,
    )
    options.update(overrides)
    return ServerConfig(**options)


def _client_config(pki: ScenarioPKI, **overrides: Any) -> ClientConfig:
    options: dict[str, Any] = dict(trusted_certificates=(pki.ca.cert,), alpn_protocols=("http/1.1",))
    options.update(overrides)
    return ClientConfig(**options)


def _capture(name: str, seed: bytes) -> tuple[Capture, ScenarioPKI]:
    scenario = SCENARIOS[name]
    capture = Capture(scenario.title, scenario.teaches, meta={"source": "scenario", "scenario": name, "seed": seed.decode(errors="replace")})
    return capture, scenario_pki(seed)


# ---------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------

def _full(name: str, versions: tuple[str, ...], *, server: dict[str, Any] | None = None,
          client: dict[str, Any] | None = None, proceed: dict[str, Any] | None = None) -> Callable[[bytes], Capture]:
    def run(seed: bytes) -> Capture:
        capture, pki = _capture(name, seed)
        with frozen_clock():
            pair = _Pair(capture, seed, _server_config(pki, seed, versions=versions, **(server or {})),
                         _client_config(pki, versions=versions, **(client or {})), proceed=proceed)
            pair.handshake()
            pair.exchange()
            pair.close()
        return capture
    return run


def _mtls(name: str, versions: tuple[str, ...]) -> Callable[[bytes], Capture]:
    def run(seed: bytes) -> Capture:
        capture, pki = _capture(name, seed)
        certificate = CertifiedKey((pki.client.cert, pki.ca.cert), pki.client.key)
        with frozen_clock():
            pair = _Pair(capture, seed, _server_config(pki, seed, versions=versions),
                         _client_config(pki, certificate=certificate, versions=versions),
                         proceed={"request_client_certificate": True, "client_ca_certificates": [pki.ca.cert, pki.other_ca.cert]})
            pair.handshake()
            if not pair.done["server"].peer_certificates:
                raise ScenarioError("the client sent no certificate")
            pair.exchange()
            pair.close()
        return capture
    return run


def _resumption(name: str, versions: tuple[str, ...], *, session_tickets: bool = True,
                reuse: bool = True) -> Callable[[bytes], Capture]:
    """A full handshake, then the recorded one: a second connection offering the session."""

    def run(seed: bytes) -> Capture:
        capture, pki = _capture(name, seed)
        first_capture = Capture("first connection")
        server_config = _server_config(pki, seed, versions=versions)
        client_config = _client_config(pki, versions=versions, session_tickets=session_tickets)
        with frozen_clock():
            first = _Pair(first_capture, seed, server_config, client_config, tag="first",
                          proceed={} if reuse else {"session_reuse": False})
            first.handshake()
            first.exchange()
            first.close()
            session = first.client.session
            second = _Pair(capture, seed, server_config, client_config, session=session)
            second.handshake()
            second.exchange()
            second.close()
        resumed = second.done["server"].resumed
        if resumed is not reuse:
            raise ScenarioError(f"expected resumed={reuse}, got {resumed}")
        capture.decisions.insert(0, CapturedDecision(
            "server", "first_connection",
            "an earlier full handshake " + ("issued a session" if reuse else "ran with session_reuse=False"),
            _FIRST_CONNECTION_WHY[name], {"first_connection_bytes": sum(len(c.data) for c in first_capture.chunks)}))
        if reuse and versions == ("TLSv1.3",):
            # The PSK is the first connection's ticket PSK: recompute it
            # there, so this connection's key schedule starts from it.
            from ._adapter import recording_from_capture

            psk = recording_from_capture(first_capture).secret("ticket_psk_0")
            if psk is not None:
                capture.extra_secrets.append(("psk", psk))
        return capture
    return run


_FIRST_CONNECTION_WHY = {
    "tls12-session-id": "the server cached the session under its session ID; the client offers that ID (RFC 5246 §7.4.1.2)",
    "tls12-ticket": "the server sent a NewSessionTicket; the client offers it in the SessionTicket extension (RFC 5077 §3.2)",
    "tls13-psk": "the server sent a NewSessionTicket after the handshake; the client offers it as a PSK with a binder (RFC 8446 §4.2.11)",
    "no-reuse": "kong.client.tls.disable_session_reuse() at the first connection: no session ID, no ticket, nothing cached, "
                "so this connection is a full handshake again",
}


def _key_update(seed: bytes) -> Capture:
    capture, pki = _capture("key-update", seed)
    with frozen_clock():
        pair = _Pair(capture, seed, _server_config(pki, seed, versions=("TLSv1.3",)), _client_config(pki))
        pair.handshake()
        pair.exchange(b"before any KeyUpdate\n", b"same keys here\n")
        pair.client.key_update()
        pair.pump()
        pair.exchange(b"client keys updated\n", b"server keys updated too (it was asked)\n")
        pair.server.key_update()
        pair.pump()
        pair.exchange(b"after the server's KeyUpdate\n", b"both sides on generation 2\n")
        pair.close()
    updates = [m for side in ("client", "server") for m in capture.traces[side] if isinstance(m, HandshakeMessageTrace) and m.msg_type == 24 and m.direction == "sent"]
    if len(updates) < 4:
        raise ScenarioError(f"expected four KeyUpdate messages, saw {len(updates)}")
    return capture


def _bad_certificate_verify(seed: bytes) -> Capture:
    capture, pki = _capture("bad-certificate-verify", seed)
    # The client's chain is real, but it signs its CertificateVerify with a
    # key that is not its certificate's (a misconfigured client): the
    # server's signature check must fail with decrypt_error.
    certificate = CertifiedKey((pki.client.cert, pki.ca.cert), pki.client.key)
    object.__setattr__(certificate, "private_key", p256_key(seed, "not the client's key"))
    with frozen_clock():
        pair = _Pair(capture, seed, _server_config(pki, seed), _client_config(pki, certificate=certificate),
                     proceed={"request_client_certificate": True, "client_ca_certificates": [pki.ca.cert]})
        pair.pump()
    if pair.failed is None or "server" in pair.done:
        raise ScenarioError("the server accepted a CertificateVerify made with the wrong key")
    # Which check failed, and the rule, the server's engine reports itself (failed_check).
    return capture


SCENARIOS: dict[str, Scenario] = {}


def _add(name: str, title: str, teaches: str, run: Callable[[bytes], Capture]) -> None:
    SCENARIOS[name] = Scenario(name, title, teaches, run)


_add("tls13", "A full TLS 1.3 handshake", "1-RTT: ClientHello, ServerHello, then everything encrypted; ALPN; one ticket",
     _full("tls13", ("TLSv1.3",)))
_add("tls13-hrr", "TLS 1.3 with a HelloRetryRequest", "the client's key share is x25519, the server only takes P-256: it asks again (RFC 8446 §4.1.4)",
     _full("tls13-hrr", ("TLSv1.3",), server={"groups": ("secp256r1",)}, client={"groups": ("x25519", "secp256r1")}))
_add("mtls", "Mutual TLS with Kong's certificate phase", "request_client_certificate() with a CA DN list, through proceed(); the client's chain",
     _mtls("mtls", ("TLSv1.3",)))
_add("tls12", "A full TLS 1.2 ECDHE handshake", "two round trips, ServerKeyExchange signed, ChangeCipherSpec, Finished",
     _full("tls12", ("TLSv1.2",)))
_add("mtls12", "Mutual TLS over TLS 1.2", "the same certificate phase; CertificateRequest's DN list is a TLS 1.2 field, not an extension",
     _mtls("mtls12", ("TLSv1.2",)))
_add("tls12-session-id", "TLS 1.2 resumption by session ID", "an abbreviated handshake: no certificate, no key exchange",
     _resumption("tls12-session-id", ("TLSv1.2",), session_tickets=False))
_add("tls12-ticket", "TLS 1.2 resumption by session ticket", "RFC 5077: the server's state travels in the ticket",
     _resumption("tls12-ticket", ("TLSv1.2",)))
_add("tls13-psk", "TLS 1.3 resumption with a PSK", "the ticket as pre_shared_key, its binder, psk_dhe_ke: a fresh ECDHE too",
     _resumption("tls13-psk", ("TLSv1.3",)))
_add("no-reuse", "disable_session_reuse", "after kong.client.tls.disable_session_reuse() the next connection is a full handshake",
     _resumption("no-reuse", ("TLSv1.3",), reuse=False))
_add("key-update", "KeyUpdate both ways", "TLS 1.3 traffic secrets roll forward; update_requested makes the peer follow",
     _key_update)
_add("bad-certificate-verify", "A failing handshake: a bad CertificateVerify", "the client signs with the wrong key; the server's check and its alert",
     _bad_certificate_verify)


def transfer_capture(size: int, seed: int = 0) -> Capture:
    """A TLS 1.3 connection whose client sends ``size`` bytes (for the rendering benchmark)."""
    seed_bytes = f"purekong-inspect-transfer-{seed}".encode()
    capture, pki = Capture(f"a {size:,}-byte transfer", meta={"source": "scenario", "seed_number": seed}), scenario_pki(seed_bytes)
    with frozen_clock():
        pair = _Pair(capture, seed_bytes, _server_config(pki, seed_bytes, versions=("TLSv1.3",)), _client_config(pki))
        pair.handshake()
        block = bytes(range(256)) * 256
        for start in range(0, size, len(block)):
            pair.client.send_data(block[:size - start])
            pair.pump()
        pair.close()
    if len(pair.received["server"]) != size:
        raise ScenarioError("the transfer lost data")
    return capture


def run_scenario(name: str, seed: int = 0) -> Capture:
    """Run one built-in scenario; the same ``seed`` gives the same bytes."""
    if name not in SCENARIOS:
        raise KeyError(name)
    capture = SCENARIOS[name].run(f"purekong-inspect-{seed}".encode())
    capture.meta["seed_number"] = seed
    return capture
