"""Famous TLS state-machine attacks, reproduced against purekong with the attacker peer.

Each :class:`Attack` builds the attack, runs it, and says whether purekong
refused it as the RFC requires::

    from purekong.testing.attacks import ATTACKS

    result = ATTACKS["skip_server_key_exchange"].run()
    assert result.refused, result.summary
    print(result.summary)   # the client refused with unexpected_message (...)

``python -m purekong.testing.attacks`` runs them all and prints one line each.
Sources: CVE-2014-0224 (early CCS), SMACK ("A Messy State of the Union",
IEEE S&P 2015), CVE-2022-25640 / CVE-2022-25638 (wolfSSL, found by
tlspuffin), CVE-2021-3449 (renegotiation without signature_algorithms),
RFC 8446 §4.1.3 (downgrade sentinel), §4.1.4 and §4.2.8 (HelloRetryRequest).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Callable

from purekong.engine import AlertDescription as A

from ._attacker import AttackerPeer, Edit
from ._pair import purekong_pair
from ._pki import kit_client_config, kit_pki, kit_server_config
from ._wire import GROUP_CODES, change_cipher_spec, handshake, key_share_extension, parse_client_hello


@dataclass(frozen=True)
class AttackResult:
    name: str
    refused: bool
    #: One sentence: who refused with what, or what went wrong.
    summary: str
    log: tuple[str, ...] = ()
    #: "refused", "held" (a property without an alert held), "wrong alert", "accepted" or "no answer".
    verdict: str = ""

    def __post_init__(self) -> None:
        if not self.verdict:
            object.__setattr__(self, "verdict", "refused" if self.refused else "accepted")


@dataclass(frozen=True)
class Attack:
    """An attack, what purekong must answer, and where the rule comes from."""

    name: str
    title: str
    reference: str
    #: Who must refuse and with which alerts (empty: see ``expect``).
    refuser: str
    alerts: tuple[A, ...]
    build: Callable[[], AttackerPeer | AttackResult]
    expect: str = ""

    def run(self) -> AttackResult:
        outcome = self.build()
        if isinstance(outcome, AttackResult):
            return outcome
        return judge(self, outcome)


def judge(attack: Attack, peer: AttackerPeer) -> AttackResult:
    refuser = peer.endpoint(attack.refuser)
    other = peer.endpoint("server" if attack.refuser == "client" else "client")
    log = tuple(peer.log)
    expected = " or ".join(a.name for a in attack.alerts)
    if refuser.alert is not None and refuser.alert in attack.alerts:
        return AttackResult(attack.name, True, f"the {attack.refuser} refused with {refuser.alert.name} ({refuser.failure})", log)
    warned = [a for a in other.peer_alerts if isinstance(a, A) and a in attack.alerts]
    if warned:
        return AttackResult(attack.name, True, f"the {attack.refuser} answered with a {warned[0].name} alert", log)
    if refuser.alert is not None:
        what, verdict = f"refused with {refuser.alert.name} ({refuser.failure}), not {expected}", "wrong alert"
    elif refuser.established:
        what, verdict = "accepted it and completed the handshake", "accepted"
    else:
        what, verdict = f"neither refused nor completed (expected {expected})", "no answer"
    return AttackResult(attack.name, False, f"the {attack.refuser} {what}", log, verdict)


def _configs(version: str, **server: object) -> tuple:
    return kit_server_config(versions=(version,), **server), kit_client_config(versions=(version,))


def _mtls(version: str) -> tuple:
    pki = kit_pki()
    return (kit_server_config(versions=(version,), request_client_certificate=True, client_ca_certificates=(pki.ca,)),
            kit_client_config(versions=(version,), certificate=pki.client))


def _peer(configs: tuple, *edits: Edit) -> Callable[[], AttackerPeer]:
    return lambda: AttackerPeer(*configs, edits=edits).run()


def _hello_with(ext_type: int, body: bytes | None) -> Callable[[bytes], bytes]:
    return lambda raw: parse_client_hello(raw).with_extension(ext_type, body).encode()


def _renegotiation(without_signature_algorithms: bool) -> Callable[[], AttackerPeer]:
    def build() -> AttackerPeer:
        peer = AttackerPeer(*_configs("TLSv1.2")).run()
        hello = parse_client_hello(peer.transcripts["client"][0])
        if without_signature_algorithms:
            hello = hello.with_extension(13, None)
        return peer.inject("client", 22, hello.encode())

    return build


def _after_handshake(version: str, data: bytes) -> Callable[[], AttackerPeer]:
    return lambda: AttackerPeer(*_configs(version)).run().inject_raw("client", data)


def _encrypted_after_handshake(version: str, content_type: int, data: bytes) -> Callable[[], AttackerPeer]:
    return lambda: AttackerPeer(*_configs(version)).run().inject("client", content_type, data)


HEARTBEAT_REQUEST = b"\x01\x00\x10" + b"purekong testing" + bytes(16)  # RFC 6520 §4


def _drop_tls13(raw: bytes) -> bytes:
    hello = parse_client_hello(raw).with_extension(43, None).with_extension(51, None)
    return replace(hello, cipher_suites=tuple(s for s in hello.cipher_suites if s not in (0x1301, 0x1302, 0x1303))).encode()


def _hrr_configs() -> tuple:
    # The client's first key share is x25519; the server wants P-256 only.
    return (kit_server_config(versions=("TLSv1.3",), groups=("secp256r1",)),
            kit_client_config(versions=("TLSv1.3",), groups=("x25519", "secp256r1")))


def _x25519_share(raw: bytes) -> bytes:
    share = bytes(range(1, 33))
    return _hello_with(51, key_share_extension([(GROUP_CODES["x25519"], share)]))(raw)


def _other_suite(raw: bytes) -> bytes:
    hello = parse_client_hello(raw)
    return replace(hello, cipher_suites=tuple(s for s in hello.cipher_suites if s != 0x1302) or (0x1301,)).encode()


def _ticket_for_another_name(version: str) -> Callable[[], AttackResult]:
    def build() -> AttackResult:
        name = f"ticket_for_another_sni_{version[-3:].replace('.', '')}"
        server = kit_server_config(versions=(version,))
        first = purekong_pair(server, kit_client_config(versions=(version,)), server_name="localhost").handshake()
        first.pump()
        session = first.client.connection.session  # type: ignore[attr-defined]
        assert session is not None
        # The client offers the localhost session under another name.
        stolen = session.offered_to("b.example")
        peer = AttackerPeer(server, kit_client_config(versions=(version,), verify_server=False), server_name="b.example", session=stolen).run()
        # Judged on what the server sent: a full handshake has its Certificate.
        server_sent = [line.split(": ", 1)[1] for line in peer.log if line.startswith("server -> client")]
        if "ServerHello" not in " ".join(server_sent):
            return AttackResult(name, False, f"the server sent no ServerHello ({peer.server.failure})", tuple(peer.log))
        if not any(m.startswith("Certificate") for m in server_sent):
            return AttackResult(name, False, "the server resumed a localhost session for b.example", tuple(peer.log))
        return AttackResult(name, True, "the server ignored the session and ran a full handshake", tuple(peer.log), "held")

    return build


def _resumed_exposes_no_chain(version: str) -> Callable[[], AttackResult]:
    def build() -> AttackResult:
        server, client = _mtls(version)
        first = purekong_pair(server, client).handshake()
        first.pump()
        second = purekong_pair(server, client, session=first.client.connection.session).handshake()  # type: ignore[attr-defined]
        name = f"resumed_connection_exposes_no_chain_{version}"
        handshake = second.server.handshake  # type: ignore[attr-defined]
        if first.server.handshake.peer_certificates is None:  # type: ignore[attr-defined]
            return AttackResult(name, False, "the full handshake carried no client chain: nothing was tested")
        if not handshake.resumed:
            return AttackResult(name, False, "the second connection did not resume")
        if handshake.peer_certificates is not None:
            return AttackResult(name, False, "the resumed connection exposes the client chain")
        hellos = second.server.hellos  # type: ignore[attr-defined]
        if not hellos or not all(hello.resumes_session for hello in hellos):
            return AttackResult(name, False, "the certificate phase ran on a resumed connection")
        return AttackResult(name, True, "resumed: no chain on the server, certificate phase skipped", verdict="held")

    return build


_CV_UNOFFERED = b"\x0f\x00\x00\x44" + b"\x02\x03" + b"\x00\x40" + bytes(64)  # ecdsa_sha1, 64 zero bytes

ATTACK_LIST = (
    Attack("ccs_injection_to_server", "CCS injection: a ChangeCipherSpec right after the ClientHello", "CVE-2014-0224",
           "server", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("inject_after", "client", "ClientHello", data=b"\x01", content_type=20))),
    Attack("ccs_injection_to_client", "CCS injection: a ChangeCipherSpec right after the ServerHello", "CVE-2014-0224",
           "client", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("inject_after", "server", "ServerHello", data=b"\x01", content_type=20))),
    Attack("skip_server_key_exchange", "SMACK: the server skips ServerKeyExchange", "SMACK §V; RFC 5246 §7.4.3",
           "client", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("skip", "server", "ServerKeyExchange"))),
    Attack("skip_server_certificate_verify", "SMACK: the server skips CertificateVerify (TLS 1.3)", "SMACK; RFC 8446 §4.4.3",
           "client", (A.unexpected_message,), _peer(_configs("TLSv1.3"), Edit("skip", "server", "CertificateVerify"))),
    Attack("skip_client_certificate_verify_tls12", "SMACK: the client sends a certificate and skips CertificateVerify (TLS 1.2)",
           "SMACK; RFC 5246 §7.4.8", "server", (A.unexpected_message,), _peer(_mtls("TLSv1.2"), Edit("skip", "client", "CertificateVerify"))),
    Attack("client_certificate_without_verify_tls13", "a TLS 1.3 client Certificate with no CertificateVerify",
           "CVE-2022-25640; RFC 8446 §4.4.3", "server", (A.unexpected_message,), _peer(_mtls("TLSv1.3"), Edit("skip", "client", "CertificateVerify"))),
    Attack("skip_client_ccs", "SMACK: the client skips ChangeCipherSpec (its Finished goes in plaintext)", "SMACK; RFC 5246 §7.1",
           "server", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("skip", "client", "ChangeCipherSpec"))),
    Attack("skip_server_ccs", "SMACK: the server skips ChangeCipherSpec", "SMACK; RFC 5246 §7.1",
           "client", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("skip", "server", "ChangeCipherSpec"))),
    Attack("early_server_finished", "SMACK: the server sends Finished right after ServerHello", "SMACK (early Finished); RFC 5246 §7.4",
           "client", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("replace", "server", "Certificate", data=handshake(20, bytes(12))))),
    Attack("early_client_finished", "SMACK: the client sends Finished without ClientKeyExchange and CCS", "SMACK (early Finished); RFC 5246 §7.4",
           "server", (A.unexpected_message,), _peer(_configs("TLSv1.2"), Edit("skip", "client", "ClientKeyExchange"), Edit("skip", "client", "ChangeCipherSpec"))),
    Attack("server_verify_with_unoffered_scheme", "the server's CertificateVerify uses a scheme the client did not offer (ecdsa_sha1)",
           "CVE-2022-25638 (mirrored); RFC 8446 §4.4.3", "client", (A.illegal_parameter, A.decrypt_error),
           _peer(_configs("TLSv1.3"), Edit("replace", "server", "CertificateVerify", data=_CV_UNOFFERED))),
    Attack("server_verify_bad_signature", "the server's CertificateVerify has the right scheme and a wrong signature",
           "RFC 8446 §4.4.3", "client", (A.decrypt_error,),
           _peer(_configs("TLSv1.3"), Edit("replace", "server", "CertificateVerify", data=b"\x0f\x00\x00\x44\x04\x03\x00\x40" + bytes(64)))),
    Attack("client_verify_with_unoffered_scheme", "the client's CertificateVerify uses a scheme the CertificateRequest did not offer",
           "CVE-2022-25638; RFC 8446 §4.4.3", "server", (A.illegal_parameter, A.decrypt_error),
           _peer(_mtls("TLSv1.3"), Edit("replace", "client", "CertificateVerify", data=_CV_UNOFFERED))),
    Attack("renegotiation", "the client starts a renegotiation (a ClientHello after the handshake)", "RFC 5746; purekong manual (no renegotiation)",
           "server", (A.no_renegotiation, A.unexpected_message), _renegotiation(False)),
    Attack("renegotiation_without_signature_algorithms", "renegotiation with a ClientHello lacking signature_algorithms",
           "CVE-2021-3449", "server", (A.no_renegotiation, A.unexpected_message), _renegotiation(True)),
    Attack("heartbeat_before_handshake", "a heartbeat request record before the ClientHello", "RFC 6520; CVE-2014-0160 shape",
           "server", (A.unexpected_message,), _peer(_configs("TLSv1.3"), Edit("inject_before", "client", "ClientHello", data=HEARTBEAT_REQUEST, content_type=24))),
    Attack("heartbeat_after_handshake_tls13", "an encrypted heartbeat request after a TLS 1.3 handshake", "RFC 6520; RFC 8446 §5",
           "server", (A.unexpected_message,), _encrypted_after_handshake("TLSv1.3", 24, HEARTBEAT_REQUEST)),
    Attack("heartbeat_after_handshake_tls12", "an encrypted heartbeat request after a TLS 1.2 handshake", "RFC 6520; RFC 5246 §6",
           "server", (A.unexpected_message,), _encrypted_after_handshake("TLSv1.2", 24, HEARTBEAT_REQUEST)),
    Attack("downgrade_sentinel", "a man in the middle strips TLS 1.3 from the ClientHello; the ServerHello carries DOWNGRD\\x01",
           "RFC 8446 §4.1.3", "client", (A.illegal_parameter,),
           lambda: AttackerPeer(kit_server_config(), kit_client_config(),
                                edits=[Edit("rewrite", "client", "ClientHello", rewrite=_drop_tls13, description="TLS 1.3 removed")]).run()),
    Attack("hrr_second_hello_changes_group", "after a HelloRetryRequest for P-256 the second ClientHello shares x25519 again",
           "RFC 8446 §4.2.8", "server", (A.illegal_parameter,),
           lambda: AttackerPeer(*_hrr_configs(), edits=[Edit("rewrite", "client", "ClientHello", occurrence=2, rewrite=_x25519_share,
                                                              description="key_share for x25519, not the group the HRR asked for")]).run()),
    Attack("hrr_second_hello_changes_suite", "after a HelloRetryRequest the second ClientHello no longer offers the HRR's cipher suite",
           "RFC 8446 §4.1.2, §4.1.4", "server", (A.illegal_parameter, A.handshake_failure),
           lambda: AttackerPeer(*_hrr_configs(), edits=[Edit("rewrite", "client", "ClientHello", occurrence=2, rewrite=_other_suite,
                                                              description="TLS_AES_256_GCM_SHA384 removed")]).run()),
    Attack("ccs_after_finished_tls13", "a ChangeCipherSpec after the TLS 1.3 handshake", "RFC 8446 §5; issue 10 defect 2",
           "server", (A.unexpected_message,), _after_handshake("TLSv1.3", change_cipher_spec())),
    Attack("second_ccs_tls13", "two ChangeCipherSpec records from a TLS 1.3 client", "RFC 8446 §5; issue 10 defect 2",
           "server", (A.unexpected_message,), _peer(_configs("TLSv1.3"), Edit("duplicate", "client", "ChangeCipherSpec"))),
    Attack("ticket_for_another_sni_tls13", "a TLS 1.3 ticket from localhost offered for b.example", "RFC 8446 §4.6.1, RFC 6066 §3",
           "server", (), _ticket_for_another_name("TLSv1.3"), expect="a full handshake, no resumption"),
    Attack("ticket_for_another_sni_tls12", "a TLS 1.2 session from localhost offered for b.example", "RFC 6066 §3",
           "server", (), _ticket_for_another_name("TLSv1.2"), expect="a full handshake, no resumption"),
    Attack("resumed_exposes_no_chain_tls13", "a resumed mTLS connection exposes no client chain (TLS 1.3)", "Kong: kong.client.tls on resumption",
           "server", (), _resumed_exposes_no_chain("TLSv1.3"), expect="resumed, peer_certificates None"),
    Attack("resumed_exposes_no_chain_tls12", "a resumed mTLS connection exposes no client chain (TLS 1.2)", "Kong: kong.client.tls on resumption",
           "server", (), _resumed_exposes_no_chain("TLSv1.2"), expect="resumed, peer_certificates None"),
)
ATTACKS = {attack.name: attack for attack in ATTACK_LIST}

#: Attacks purekong does not refuse yet, and the known defect that makes it so.
KNOWN_DEFECTS: dict[str, str] = {}

__all__ = ["ATTACKS", "ATTACK_LIST", "Attack", "AttackResult", "KNOWN_DEFECTS", "judge"]


def main() -> int:
    failed = 0
    for attack in ATTACK_LIST:
        result = attack.run()
        failed += not result.refused
        known = f"  [known defect: {KNOWN_DEFECTS[attack.name]}]" if attack.name in KNOWN_DEFECTS else ""
        print(f"{result.verdict.upper():11}  {attack.name}: {attack.title} [{attack.reference}] -> {result.summary}{known}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
