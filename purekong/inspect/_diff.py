"""``purekong inspect diff A.json B.json``: what differs between two handshakes.

A semantic diff, not a byte diff: randoms, keys and ciphertext always
differ and say nothing. Compared are the outcome (version, suite,
resumption), the flow of messages each way (aligned like ``diff`` aligns
lines), the extensions of the hellos, the decisions, the certificate
phase, the alerts and the findings. Each difference is one line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterator

from ._recording import CLIENT_TO_SERVER, HandshakeMessage, Recording
from ._registry import cipher_suite_name, extension_name, version_name
from ._summary import message_title


@dataclass(frozen=True)
class Difference:
    aspect: str  # "outcome", "flow", "records", "extensions", "decision", "certificate_phase", "alerts", "findings"
    a: str
    b: str

    def line(self) -> str:
        return f"{self.aspect}: {self.a}  ->  {self.b}"


def diff(a: Recording, b: Recording) -> list[Difference]:
    """Every semantic difference between ``a`` and ``b`` (empty: the same handshake, up to randomness)."""
    aspects = (_outcome, _flow, _records, _extensions, _decisions, _phase, _alerts, _findings)
    return [difference for aspect in aspects for difference in aspect(a, b)]


def _outcome(a: Recording, b: Recording) -> Iterator[Difference]:
    def version(r: Recording) -> str:
        return version_name(r.tls_version) if r.tls_version is not None else "none"

    def suite(r: Recording) -> str:
        return cipher_suite_name(r.cipher_suite) if r.cipher_suite is not None else "none"

    for name, read in (("version", version), ("cipher suite", suite), ("resumed", _resumed)):
        if read(a) != read(b):
            yield Difference("outcome", f"{name} {read(a)}", f"{name} {read(b)}")


def _resumed(r: Recording) -> str:
    names = {m.name for m in r.handshake_messages}
    if "certificate" in names or "server_key_exchange" in names:
        return "no"
    return "yes" if "server_hello" in names else "unknown"


def _flow_of(r: Recording) -> list[str]:
    arrow = {True: "client -> ", False: "server -> "}
    return [arrow[m.direction == CLIENT_TO_SERVER] + message_title(m) for m in r.handshake_messages]


def _flow(a: Recording, b: Recording) -> Iterator[Difference]:
    left, right = _flow_of(a), _flow_of(b)
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        yield Difference("flow", ", ".join(left[i1:i2]) or "(nothing)", ", ".join(right[j1:j2]) or "(nothing)")


def _records(a: Recording, b: Recording) -> Iterator[Difference]:
    for direction, who in ((CLIENT_TO_SERVER, "client"), ("server_to_client", "server")):
        na, nb = len(a.records_in(direction)), len(b.records_in(direction))
        if na != nb:
            yield Difference("records", f"{who} sent {na} records", f"{who} sent {nb} records")


def _extension_types(message: HandshakeMessage) -> list[int]:
    """Extension types of a ClientHello or ServerHello, read from the bytes (RFC 8446 §4.1.2-3)."""
    body = message.body
    try:
        at = 2 + 32
        at += 1 + body[at]  # legacy_session_id
        if message.msg_type == 1:
            at += 2 + int.from_bytes(body[at:at + 2], "big")  # cipher_suites
            at += 1 + body[at]  # compression methods
        else:
            at += 3  # cipher_suite, compression method
        end = at + 2 + int.from_bytes(body[at:at + 2], "big")
        at += 2
        types = []
        while at + 4 <= min(end, len(body)):
            types.append(int.from_bytes(body[at:at + 2], "big"))
            at += 4 + int.from_bytes(body[at + 2:at + 4], "big")
        return types
    except IndexError:
        return []


def _extensions(a: Recording, b: Recording) -> Iterator[Difference]:
    for msg_type, title in ((1, "ClientHello"), (2, "ServerHello")):
        first_a = next((m for m in a.handshake_messages if m.msg_type == msg_type), None)
        first_b = next((m for m in b.handshake_messages if m.msg_type == msg_type), None)
        if first_a is None or first_b is None:
            continue
        ext_a, ext_b = set(_extension_types(first_a)), set(_extension_types(first_b))
        only_a = sorted(extension_name(t) for t in ext_a - ext_b)
        only_b = sorted(extension_name(t) for t in ext_b - ext_a)
        if only_a or only_b:
            yield Difference("extensions", f"{title} only here: {', '.join(only_a) or '-'}",
                             f"{title} only here: {', '.join(only_b) or '-'}")


def _decisions(a: Recording, b: Recording) -> Iterator[Difference]:
    def table(r: Recording) -> dict[str, str]:
        out: dict[str, str] = {}
        for d in r.decisions:
            out.setdefault(f"{d.side} {d.what}", d.value)
        return out

    left, right = table(a), table(b)
    if not left or not right:  # a capture read offline has only the wire: say so once
        if left or right:
            yield Difference("decision", f"{len(left)} recorded", f"{len(right)} recorded (a capture shows only the wire)"
                             if not right else f"{len(right)} recorded")
        return
    for key in sorted(set(left) | set(right)):
        if left.get(key) != right.get(key):
            yield Difference("decision", f"{key}: {left.get(key, '(none)')}", f"{key}: {right.get(key, '(none)')}")


def _phase(a: Recording, b: Recording) -> Iterator[Difference]:
    pa, pb = a.certificate_phase, b.certificate_phase
    if (pa is None) != (pb is None):
        yield Difference("certificate_phase", "ran" if pa else "did not run", "ran" if pb else "did not run")
        return
    if pa is None or pb is None:
        return
    for name in ("request_client_certificate", "session_reuse", "alpn_protocols", "server_name"):
        if getattr(pa, name) != getattr(pb, name):
            yield Difference("certificate_phase", f"{name}={getattr(pa, name)!r}", f"{name}={getattr(pb, name)!r}")
    if pa.client_ca_names != pb.client_ca_names:
        yield Difference("certificate_phase", f"{len(pa.client_ca_names)} CA name(s)", f"{len(pb.client_ca_names)} CA name(s)")
    if pa.certificate_chain != pb.certificate_chain:
        yield Difference("certificate_phase", f"chain of {len(pa.certificate_chain)}", f"another chain of {len(pb.certificate_chain)}")


def _alerts(a: Recording, b: Recording) -> Iterator[Difference]:
    def names(r: Recording) -> list[str]:
        return [("client " if al.direction == CLIENT_TO_SERVER else "server ") + al.name for al in r.alerts]

    if names(a) != names(b):
        yield Difference("alerts", ", ".join(names(a)) or "(none)", ", ".join(names(b)) or "(none)")


def _findings(a: Recording, b: Recording) -> Iterator[Difference]:
    fa, fb = sorted({f.kind for f in a.findings}), sorted({f.kind for f in b.findings})
    if fa != fb:
        yield Difference("findings", ", ".join(fa) or "(none)", ", ".join(fb) or "(none)")
