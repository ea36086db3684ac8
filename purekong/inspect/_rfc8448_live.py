"""RFC 8448 §3 live: purekong's server replays the RFC's server, value by value.

The offline reading (``_rfc8448``) checks the *inspector* against the RFC.
This checks the *engine*: a purekong ``ServerConnection`` is given exactly
the inputs RFC 8448 §3's server had, and each value it produces is put
beside the RFC's:

- the RFC's ClientHello record, byte for byte, as what the client sent;
- the RFC's server certificate (from its Certificate message) and RSA key
  (§2, ``rfc8448/section2.txt``), signing with rsa_pss_rsae_sha256 as the
  RFC's server does (``ServerConfig.signature_schemes``);
- through :class:`purekong.engine.LabelledRandom`, the RFC's
  ``server_random``, its server ``x25519_private`` key, and the RSA-PSS
  ``pss_salt`` the RFC's server used (recovered here from the RFC's own
  signature: PSS is reversible with the public key, RFC 8017 §9.1.2);
- the RFC server's preferences: TLS_AES_128_GCM_SHA256 first.

What matches (the ServerHello, the shared secret, both handshake traffic
secrets) shows purekong computes what the RFC computes; what differs is
explained: the RFC's server lists supported_groups (with FFDHE groups
purekong does not implement) in EncryptedExtensions, so from there on the
transcript, and everything hashed over it, diverges.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    CertifiedKey,
    ClientHelloReceived,
    HandshakeMessageTrace,
    LabelledRandom,
    SecretTrace,
    ServerConfig,
    ServerConnection,
)

from ._capture import Capture
from ._dissect import dissect_handshake
from ._rfc8448 import RFC8448Error, Step, steps_of

LIVE_SECTIONS = (3,)


@dataclass(frozen=True)
class LiveCheck:
    """One value of the RFC's server beside purekong's, and why they differ when they do."""

    name: str
    rfc: bytes
    engine: bytes | None
    why: str = ""  # filled when they differ (or for an input given to the engine)
    given: bool = False  # an input the engine was handed, not a value it computed

    @property
    def ok(self) -> bool:
        return self.rfc == self.engine


@dataclass(frozen=True)
class LiveReplay:
    capture: Capture
    checks: tuple[LiveCheck, ...]
    drawn: tuple[tuple[str, int], ...]  # what the engine drew from random=, in order


def _value(steps: tuple[Step, ...], side: str, title: str, label: str) -> bytes:
    for step in steps:
        if step.side == side and step.title.startswith(title):
            value = step.value(label)
            if value is not None:
                return value
    raise RFC8448Error(f"RFC 8448 data: no {{{side}}} {title!r} step with a {label!r}")


def rfc8448_server_key() -> rsa.RSAPrivateKey:
    """RFC 8448 §2's RSA key (the server's in §3, §4, §5 and §7)."""
    text = (importlib.resources.files("purekong.inspect") / "rfc8448" / "section2.txt").read_text(encoding="utf-8")
    values: dict[str, str] = {}
    label = ""
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if m := re.match(r"^(\w[\w ]*):  (.*)$", line):
            label = m.group(1)
            values[label] = m.group(2)
        else:
            values[label] += " " + line.strip()
    n = {k: int(v.replace(" ", ""), 16) for k, v in values.items()}
    public = rsa.RSAPublicNumbers(n["public exponent"], n["modulus"])
    private = rsa.RSAPrivateNumbers(n["prime1"], n["prime2"], n["private exponent"], n["exponent1"], n["exponent2"],
                                    n["coefficient"], public)
    return private.private_key()


def pss_salt(signature: bytes, public: rsa.RSAPublicKey, salt_length: int = 32) -> bytes:
    """The salt inside an RSA-PSS-SHA256 signature (RFC 8017 §9.1.2 steps 7-10), read back with the public key."""
    numbers = public.public_numbers()
    em_len = (numbers.n.bit_length() - 1 + 7) // 8
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(em_len, "big")
    masked, h = em[: em_len - 33], em[em_len - 33 : -1]
    mask = b"".join(hashlib.sha256(h + i.to_bytes(4, "big")).digest() for i in range(len(masked) // 32 + 1))
    db = bytes(a ^ b for a, b in zip(masked, mask))
    return db[-salt_length:]


def replay(section: int = 3) -> LiveReplay:
    """Run purekong's server on RFC 8448 ``section``'s inputs and compare."""
    if section not in LIVE_SECTIONS:
        raise RFC8448Error(f"the live replay covers RFC 8448 §{', §'.join(map(str, LIVE_SECTIONS))}, not §{section}")
    steps = steps_of(section)
    hello_record = _value(steps, "client", "send handshake record", "complete record")
    server_hello = _value(steps, "server", "construct a ServerHello", "ServerHello")
    certificate_msg = _value(steps, "server", "construct a Certificate", "Certificate")
    verify_msg = _value(steps, "server", "construct a CertificateVerify", "CertificateVerify")
    server_private = next(s for s in steps if s.side == "server" and s.title.startswith("create an ephemeral")).value("private key")
    assert server_private is not None
    der = dissect_handshake(certificate_msg).find("der")
    if der is None or not isinstance(der.value, bytes):
        raise RFC8448Error("RFC 8448 data: the server's Certificate message has no certificate")
    certificate = x509.load_der_x509_certificate(der.value)
    key = rfc8448_server_key()
    salt = pss_salt(verify_msg[8:], key.public_key())
    server_random = server_hello[6:38]

    capture = Capture(f"RFC 8448 §{section} replayed by purekong's server",
                      "the RFC's ClientHello, server key, randoms and key share given to a purekong ServerConnection",
                      meta={"source": "rfc8448-live", "scenario": f"rfc8448-{section}-live",
                            "implementation": {"client": "RFC 8448's client (its ClientHello)", "server": "purekong"}})
    random = LabelledRandom({"server_random": server_random, "x25519_private": server_private, "pss_salt": salt})
    config = ServerConfig(
        certificates=(CertifiedKey((certificate,), key),),
        versions=("TLSv1.3",),
        ciphers=("AES_128_GCM", "CHACHA20_POLY1305", "AES_256_GCM"),  # the RFC's server picks AES-128-GCM
        signature_schemes=("rsa_pss_rsae_sha256",),
        tls13_tickets=0,  # the RFC's ticket comes after the client's Finished, which this replay cannot have
    )
    server = ServerConnection(config, trace=capture.traces["server"].append, random=random)
    capture.wire("client_to_server", hello_record)
    server.receive_data(hello_record)
    while True:
        event = server.next_event()
        if isinstance(event, ClientHelloReceived):
            server.proceed()
        elif event is NEED_DATA or event is PAUSED:
            break
    capture.wire("server_to_client", server.data_to_send())
    return LiveReplay(capture, tuple(_checks(steps, capture, hello_record, server_random, server_private, salt, key.public_key())), tuple(random.drawn))


_TRANSCRIPT = ("the transcript hash covers EncryptedExtensions, which differs (above): every value hashed over it "
               "differs too (RFC 8446 §4.4.1)")


def _checks(steps: tuple[Step, ...], capture: Capture, hello_record: bytes, server_random: bytes,
            server_private: bytes, salt: bytes, public: rsa.RSAPublicKey) -> list[LiveCheck]:
    trace = capture.traces["server"]
    messages = [t for t in trace if isinstance(t, HandshakeMessageTrace)]
    sent = {t.msg_type: t.raw for t in messages if t.direction == "sent"}
    secrets = {t.label: t.secret for t in trace if isinstance(t, SecretTrace)}
    received = [t.raw for t in messages if t.direction == "received"]
    rfc_records = [s.value("complete record") for s in steps if s.side == "server" and s.title.startswith("send")]
    stream = capture.stream("server_to_client")
    ours = []
    while len(stream) >= 5:
        end = 5 + int.from_bytes(stream[3:5], "big")
        ours.append(stream[:end])
        stream = stream[end:]

    def rfc(title: str, label: str) -> bytes:
        return _value(steps, "server", title, label)

    ee = rfc("construct an EncryptedExtensions", "EncryptedExtensions")
    checks = [
        LiveCheck("ClientHello (as the server parsed it)", hello_record[5:], received[0] if received else None,
                  "the RFC's record, fed to the server unchanged", given=True),
        LiveCheck("server_random (random= 'server_random')", server_random, sent.get(2, b"")[6:38] or None,
                  "injected through LabelledRandom", given=True),
        LiveCheck("server x25519 private key (random= 'x25519_private')", server_private, server_private,
                  "injected through LabelledRandom", given=True),
        LiveCheck("ServerHello", rfc("construct a ServerHello", "ServerHello"), sent.get(2)),
        LiveCheck("ServerHello record", rfc_records[0] or b"", ours[0] if ours else None),
        LiveCheck("(EC)DHE shared secret", rfc('extract secret "handshake"', "IKM"), secrets.get("ecdhe_shared_secret")),
        LiveCheck("client_handshake_traffic_secret", rfc('derive secret "tls13 c hs traffic"', "expanded"),
                  secrets.get("CLIENT_HANDSHAKE_TRAFFIC_SECRET")),
        LiveCheck("server_handshake_traffic_secret", rfc('derive secret "tls13 s hs traffic"', "expanded"),
                  secrets.get("SERVER_HANDSHAKE_TRAFFIC_SECRET")),
        LiveCheck("EncryptedExtensions", ee, sent.get(8),
                  "the RFC's server lists its supported_groups (RFC 8446 §4.2.7), among them ffdhe2048 to ffdhe8192, "
                  "which purekong does not implement (ECDHE only): purekong sends record_size_limit and server_name only"),
        LiveCheck("Certificate", rfc("construct a Certificate", "Certificate"), sent.get(11),
                  "the same certificate; a CertificateEntry extension differs"),
        LiveCheck("CertificateVerify (rsa_pss_rsae_sha256, the RFC's salt)", rfc("construct a CertificateVerify", "CertificateVerify"),
                  sent.get(15), f"same key, scheme and PSS salt ({salt[:4].hex()}..., recovered from the RFC's signature), but "
                  + _TRANSCRIPT),
        LiveCheck("the PSS salt inside purekong's signature", salt, pss_salt(sent[15][8:], public) if 15 in sent else None,
                  "the salt purekong drew ('pss_salt') is the one it signed with", given=True),
        LiveCheck("server Finished", rfc("construct a Finished", "Finished"), sent.get(20), _TRANSCRIPT),
        LiveCheck("server encrypted flight (one record)", rfc_records[1] or b"", ours[1] if len(ours) > 1 else None,
                  "its plaintext (the four messages above) differs from EncryptedExtensions on"),
        LiveCheck("client_application_traffic_secret_0", rfc('derive secret "tls13 c ap traffic"', "expanded"),
                  secrets.get("CLIENT_TRAFFIC_SECRET_0"), _TRANSCRIPT),
        LiveCheck("server_application_traffic_secret_0", rfc('derive secret "tls13 s ap traffic"', "expanded"),
                  secrets.get("SERVER_TRAFFIC_SECRET_0"), _TRANSCRIPT),
    ]
    return [c if not c.ok or c.given else LiveCheck(c.name, c.rfc, c.engine) for c in checks]
