"""``purekong probe``'s properties after the first flight: the client's second flight edited, over TCP.

A traced purekong client does the handshake with the target; the probe
holds the client's keys (the server derives the same ones), so it can cut
the client's second flight into messages, skip, duplicate, reorder or
change them, inject CCS, alerts, ClientHellos and oversized records after
the handshake, and send each piece encrypted under the epoch the *server*
is in. ``TcpAttacker`` is :class:`AttackerPeer` with the server replaced by
the socket: the same edits, the same Finished fixing (computed from the
transcript the server saw, rebuilt from the client's trace and the pieces
actually delivered). A right server answers each plan with an alert or a
close; one that goes on (a NewSessionTicket, its Finished) or stays silent
is a finding.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from purekong.engine import AlertDescription as A
from purekong.engine import ClientConfig

from ._attacker import AttackError, AttackerPeer, Edit, Item
from ._protect import suite_params
from ._wire import handshake, parse_server_hello, record, split_handshake, split_records

MAX_ANSWER = 256 * 1024


class _RemoteServer:
    """The target as AttackerPeer's ``server``: what it is sent goes to the socket; its keys are the client's."""

    def __init__(self, attacker: "TcpAttacker") -> None:
        self.attacker = attacker

    @property
    def secrets(self) -> dict[str, bytes]:
        return self.attacker.client.secrets

    def receive(self, wire: bytes) -> None:
        from purekong.inspect import CLIENT_TO_SERVER

        self.attacker.sent_wire += wire
        self.attacker.wire_log.append((CLIENT_TO_SERVER, wire))
        if self.attacker.sock is not None and not self.attacker.server_closed:
            try:
                self.attacker.sock.sendall(wire)
            except OSError:
                self.attacker.server_closed = True


class TcpAttacker(AttackerPeer):
    """A purekong client against ``(host, port)``, its second flight edited; ``after``: items sent once established."""

    def __init__(self, host: str, port: int, client_config: ClientConfig, *, server_name: str | None, edits: Sequence[Edit] = (),
                 after: Sequence[Item] = (), fix_finished: bool = True, timeout: float = 3.0) -> None:
        super().__init__(client_config=client_config, edits=edits, fix_finished=fix_finished, server_name=server_name)
        self.address, self.timeout, self.after = (host, port), timeout, tuple(after)
        self.remote = _RemoteServer(self)
        self.server = self.remote  # type: ignore[assignment]  # AttackerPeer reads the server's secrets here
        self.sock: socket.socket | None = None
        self.server_closed = False
        self.sent_wire = b""
        #: Bytes the server sent after the probe's last piece (a ticket, a Finished, an alert).
        self.answer = b""
        self._hello_buffer = b""
        #: Whether the client completed its handshake (it may fail afterwards, on the server's alert).
        self.handshook = False
        #: (direction, bytes) as they crossed the socket, and the client's trace: a recording for ``purekong inspect``.
        self.wire_log: list[tuple[str, bytes]] = []
        self.client_trace: list[Any] = self.__dict__.get("client_trace", [])  # filled from the first trace on

    def _tracer(self, side: str) -> Any:
        keep = super()._tracer(side)

        def trace(item: Any) -> None:
            keep(item)
            if side == "client":
                self.__dict__.setdefault("client_trace", []).append(item)

        return trace

    def recording(self) -> Any:
        """The connection as a ``purekong.inspect.Recording`` (bytes both ways, decrypted with the client's keys)."""
        from purekong.inspect import Recording

        return Recording.from_transcript(self.wire_log, client_trace=self.client_trace)

    def endpoint(self, side: str) -> Any:
        return self.client if side == "client" else self.remote

    def run(self, rounds: int = 64) -> "TcpAttacker":
        """Handshake, edit, inject ``after``, then read the server's answer until an alert, a close or the timeout."""
        from purekong.inspect import SERVER_TO_CLIENT

        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        direction = self.directions["to_server"]
        pending_after = list(self.after)
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline and not self.server_closed:
                data = self.client.take()
                if data:
                    direction.incoming += data
                    for item in self._read_items(direction):
                        self._handle("to_server", direction, item)
                    deadline = time.monotonic() + self.timeout
                    self.answer = b""
                self.handshook = self.handshook or self.client.established
                if self.client.established and pending_after and not data:
                    self._deliver("to_server", direction, self._resolve(pending_after.pop(0)))
                    deadline = time.monotonic() + self.timeout
                    self.answer = b""
                    continue
                if self.client.peer_alerts or (self.client.failed and self.answer):
                    break
                if self.edits and not self.applied and self.client.established and not pending_after:
                    break  # the flight is sent and no edit applied (no CertificateRequest): nothing to wait for
                ready, _, _ = select.select([self.sock], [], [], min(0.2, max(0.0, deadline - time.monotonic())))
                if not ready:
                    if direction.held:  # nothing followed a held message: it goes out as it was
                        for item in direction.held:
                            self._deliver("to_server", direction, item)
                        direction.held = []
                    continue
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.server_closed = True
                    break
                self.answer += chunk
                self.wire_log.append((SERVER_TO_CLIENT, chunk))
                if len(self.answer) > MAX_ANSWER:
                    break
                self._note_server_hello(chunk)
                self.client.receive(chunk)
        except OSError:
            self.server_closed = True
        finally:
            self.sock.close()
        return self

    def _resolve(self, item: Item) -> Item:
        if item is OVERSIZED:
            write = self.directions["to_server"].write
            data = bytes(2**14 + 1)
            return Item(23, write.seal(23, data) if write is not None else record(23, data), raw=True)
        if item is RENEGOTIATION_HELLO:
            return Item(22, next((m for m in self.transcripts["client"] if m[:1] == b"\x01"), handshake(1, b"")))
        return item

    def _note_server_hello(self, chunk: bytes) -> None:
        if self.version is not None:
            return
        self._hello_buffer += chunk
        for content_type, _, payload in split_records(self._hello_buffer):
            messages, _ = split_handshake(payload) if content_type == 22 else ([], b"")
            if messages and messages[0][0] == 2:
                fields = parse_server_hello(messages[0])
                if not fields["hello_retry_request"]:
                    self.version, self.params = fields["version"], suite_params(fields["cipher_suite"])
                    self._server_hello_sent = self.tls13

    def _deliver(self, name: str, direction: Any, item: Item) -> None:
        self.transcripts["server"] = self._server_transcript()
        super()._deliver(name, direction, item)

    def _server_transcript(self) -> list[bytes]:
        """What the server hashed: the client's transcript up to its second flight, then the pieces delivered."""
        direction = self.directions["to_server"]
        sent = {i.data for i in direction.read_items if i.content_type == 22 and i.name != "ClientHello"}
        transcript = self.transcripts["client"]
        cut = next((n for n, m in enumerate(transcript) if m in sent), len(transcript))
        delivered = [i.data for i in direction.delivered_items if i.content_type == 22 and i.name != "ClientHello"]
        return transcript[:cut] + delivered

    # -- the verdict ----------------------------------------------------------------
    def verdict(self, alerts: Sequence[A]) -> tuple[str, str | None]:
        """(what the server did, the problem or None); ``"inconclusive"`` when the plan did not apply."""
        received = [getattr(a, "name", str(a)) for a in self.client.peer_alerts]
        if received:
            return f"alert {', '.join(received)}", None
        if self.server_closed:
            return "closed", None
        if self.client.failed and self.answer:
            return f"an answer the client could not read ({self.client.failure})", None  # not a normal continuation
        expected = " or ".join(a.name for a in alerts)
        if self.answer:
            return "went on", f"expected {expected}, but the server went on ({len(self.answer)} bytes, no alert)"
        return "silent", f"expected {expected}, got no alert or close within {self.timeout:g} s"


@dataclass(frozen=True)
class FlightPlan:
    """One edit of the client's second flight (or an injection after the handshake), with the alerts it must get."""

    label: str
    version: str
    edits: tuple[Edit, ...] = ()
    after: tuple[Item, ...] = ()
    alerts: tuple[A, ...] = (A.unexpected_message,)
    clause: str = ""
    #: Needs a CertificateRequest from the server (and, for CertificateVerify, a client certificate).
    needs: str = ""
    fix_finished: bool = True


#: Placeholders in ``FlightPlan.after`` filled when sent (the keys and the hello exist only then).
OVERSIZED = Item(23, b"", raw=True)
RENEGOTIATION_HELLO = Item(22, b"")


def flight_plans(version: str) -> list[FlightPlan]:
    """The second-flight and post-handshake plans for one version, most important first (shrinking goes there)."""
    v13 = version == "TLSv1.3"
    rfc = "RFC 8446" if v13 else "RFC 5246"
    plans = [
        FlightPlan("client Certificate without its CertificateVerify", version, (Edit("skip", "client", "CertificateVerify"),),
                   clause=f"{rfc} §4.4.3; CVE-2022-25640" if v13 else "RFC 5246 §7.4.8; SMACK", needs="certificate"),
        FlightPlan("client Certificate skipped after a CertificateRequest", version, (Edit("skip", "client", "Certificate"),),
                   clause="RFC 8446 §4.4.2" if v13 else "RFC 5246 §7.4.6", needs="request"),
        FlightPlan("client CertificateVerify before its Certificate", version, (Edit("swap_with_next", "client", "Certificate"),),
                   clause="RFC 8446 §4.4" if v13 else "RFC 5246 §7.3", needs="certificate"),
        FlightPlan("client Certificate sent twice", version, (Edit("duplicate", "client", "Certificate"),),
                   clause="RFC 8446 §4.4" if v13 else "RFC 5246 §7.3", needs="request"),
        FlightPlan("client Finished sent twice", version, (Edit("duplicate", "client", "Finished"),),
                   clause="RFC 8446 §4.6" if v13 else "RFC 5246 §7.4"),
        FlightPlan("client Finished with one bit flipped", version, (Edit("flip", "client", "Finished"),),
                   alerts=(A.decrypt_error, A.bad_record_mac), clause=f"{rfc} §4.4.4" if v13 else "RFC 5246 §7.4.9",
                   fix_finished=False),
        FlightPlan("ChangeCipherSpec after the handshake", version, after=(Item(20, b"\x01"),),
                   clause="RFC 8446 §5" if v13 else "RFC 5246 §7.1"),
        FlightPlan("ClientHello after the handshake (renegotiation)", version, after=(RENEGOTIATION_HELLO,),
                   alerts=(A.unexpected_message,) if v13 else (A.no_renegotiation, A.handshake_failure, A.unexpected_message),
                   clause="RFC 8446 §4.1.2" if v13 else "RFC 5746 §4.4; CVE-2021-3449"),
        FlightPlan("application record over 2^14 bytes after the handshake", version, after=(OVERSIZED,),
                   alerts=(A.record_overflow,), clause="RFC 8446 §5.2" if v13 else "RFC 5246 §6.2.3"),
    ]
    if not v13:
        plans.insert(1, FlightPlan("client ChangeCipherSpec skipped (Finished in plaintext)", version,
                                   (Edit("skip", "client", "ChangeCipherSpec"),), clause="RFC 5246 §7.1; SMACK"))
    return plans


def run_plan(host: str, port: int, plan: FlightPlan, client_config: ClientConfig, server_name: str | None,
             timeout: float) -> tuple[TcpAttacker | None, str, str | None]:
    """Run one plan: (the attacker, what the server did, the problem or ``"inconclusive"`` or None)."""
    attacker = TcpAttacker(host, port, client_config, server_name=server_name, edits=plan.edits, after=plan.after,
                           fix_finished=plan.fix_finished, timeout=timeout)
    try:
        attacker.run()
    except (OSError, AttackError) as exc:
        return None, f"cannot run: {exc}", "inconclusive"
    if plan.edits and not attacker.applied:
        return attacker, "plan did not apply (the server asked for no such message)", "inconclusive"
    if not plan.edits and not attacker.handshook:
        return attacker, f"no handshake ({attacker.client.failure or 'refused'})", "inconclusive"
    if attacker.version is None:
        return attacker, "no ServerHello", "inconclusive"
    what, problem = attacker.verdict(plan.alerts)
    return attacker, what, problem


def run_flight_property(target: Any, client_config: ClientConfig, examples: int, deadline: float) -> Any:
    """The ``second_flight`` property: the plans for the target's versions, most important first, ``examples`` at most.

    The plans are a short finite list, so they are swept in order rather
    than drawn at random: the same run every time, and the first failing
    plan is already the simplest counterexample (the list's order is the
    shrinking order).
    """
    from ._probe import PropertyResult

    result = PropertyResult("second_flight", "the client's second flight edited (skipped, duplicated, reordered, changed "
                            "messages) and CCS, ClientHello, oversized records after the handshake get an alert or a close", True)
    by_version = [flight_plans(v) for v in target.versions]
    plans = [p for group in zip(*by_version) for p in group] + [p for group in by_version for p in group[min(map(len, by_version)):]]
    skipped = []
    for plan in plans[:examples]:
        if time.monotonic() > deadline:
            break
        result.connections += 1
        attacker, what, problem = run_plan(target.host, target.port, plan, replace(client_config, versions=(plan.version,)),
                                           target.server_name, target.timeout)
        if problem == "inconclusive":
            skipped.append(f"not applicable: {plan.label} ({plan.version}): {what}")
        elif problem is not None and attacker is not None:
            result.passed = False
            result.counterexample = f"{plan.label} ({plan.version}; {plan.clause}): {problem}"
            result.counterexample_bytes = attacker.sent_wire.hex()
            result.answer = "; ".join(attacker.log)
            result.recording = attacker.recording()
            break
    result.divergences = skipped
    return result
