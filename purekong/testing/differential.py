"""Differential testing: the same ClientHello, and the same edited flights after it, to purekong and to OpenSSL.

OpenSSL is asked twice over: through the stdlib ``ssl`` module over
MemoryBIO and through pyOpenSSL (``pyopenssl_verdict``; pyOpenSSL is in the
``test`` extra and loads cryptography's OpenSSL, so two builds are compared).
The flights after the ClientHello are compared by :func:`compare_flight`
(``_differential_flights``): one ``FlightPlan`` (a skipped, duplicated,
reordered or changed message of the client's second flight, or a CCS,
ClientHello or oversized record after the handshake) sent to a purekong and
to a pyOpenSSL server over loopback; both must refuse it, or both go on.

Each side's answer is reduced to a :class:`Verdict` (it answered with a
ServerHello of this version, or a HelloRetryRequest, or it refused with this
alert, or it waits for more). :func:`compare` returns ``None`` when they
agree or the difference is a known, justified divergence (``DIVERGENCES``,
each with its reason and RFC clause), and a :class:`Difference` otherwise::

    from hypothesis import given
    from purekong.testing import differential, strategies as pks

    @given(pks.defective_client_hellos())
    def test_like_openssl(bad):
        difference = differential.compare(bad.record(), label=bad.defect)
        assert difference is None, difference.describe()
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from purekong.engine import AlertDescription, ServerConfig

from ._drive import server_answer
from ._pair import kit_pki_files
from ._pki import kit_server_config
from ._wire import VERSION_NAMES, parse_server_hello, split_handshake, split_records

if TYPE_CHECKING:
    from ._differential_flights import FlightDifference
    from ._probe_flight import FlightPlan


@dataclass(frozen=True)
class Verdict:
    """How a server answered: ``"server_hello"``, ``"hello_retry"``, ``"alert"`` or ``"waiting"``."""

    kind: str
    version: str | None = None
    alert: str | None = None

    def __str__(self) -> str:
        if self.kind == "alert":
            return f"alert {self.alert}"
        return f"{self.kind} {self.version}" if self.version else self.kind


def verdict_of(sent: bytes) -> Verdict:
    """Read a server's first answer from the bytes it sent."""
    for content_type, _, payload in split_records(sent):
        if content_type == 21 and len(payload) == 2:
            return Verdict("alert", alert=_alert_name(payload[1]))
        if content_type == 22:
            messages, _ = split_handshake(payload)
            if messages and messages[0][0] == 2:
                fields = parse_server_hello(messages[0])
                kind = "hello_retry" if fields["hello_retry_request"] else "server_hello"
                return Verdict(kind, VERSION_NAMES.get(fields["version"], hex(fields["version"])))
    return Verdict("waiting")


def _alert_name(code: int) -> str:
    try:
        return AlertDescription(code).name
    except ValueError:
        return f"alert {code}"


def purekong_verdict(data: bytes, config: ServerConfig | None = None) -> Verdict:
    return verdict_of(server_answer(config or kit_server_config(), data).sent)


def pyopenssl_verdict(data: bytes) -> Verdict:
    """OpenSSL's answer through pyOpenSSL (a memory BIO, TLS 1.2-1.3, the kit's ECDSA certificate)."""
    from OpenSSL import SSL

    files = kit_pki_files()
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate_chain_file(files["server_chain"])
    context.use_privatekey_file(files["server_key"])
    server = SSL.Connection(context, None)
    server.set_accept_state()
    server.bio_write(data)
    try:
        server.do_handshake()
    except SSL.Error:
        pass
    try:
        return verdict_of(server.bio_read(1 << 20))
    except SSL.Error:
        return Verdict("waiting")


def openssl_verdict(data: bytes) -> Verdict:
    """OpenSSL's answer (stdlib ``ssl``, TLS 1.2-1.3, the kit's ECDSA certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    files = kit_pki_files()
    context.load_cert_chain(files["server_chain"], files["server_key"])
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = context.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(data)
    try:
        server.do_handshake()
    except (ssl.SSLWantReadError, ssl.SSLError):
        pass
    return verdict_of(outgoing.read())


@dataclass(frozen=True)
class Divergence:
    """A known, justified difference: for inputs labelled ``label``, purekong says ``purekong``, OpenSSL ``openssl``."""

    label: str
    purekong: str
    openssl: str
    reason: str
    clause: str


#: Every difference the kit knows and accepts. Anything else is a finding.
DIVERGENCES = (
    Divergence("no_null_compression", "alert illegal_parameter", "alert decode_error",
               "the RFC names illegal_parameter for a TLS 1.3 ClientHello without null compression; OpenSSL sends decode_error",
               "RFC 8446 §4.1.2"),
    Divergence("duplicate_key_share_group", "alert illegal_parameter", "server_hello TLSv1.3",
               "servers MAY check that no group has two key shares; purekong (tlslite) checks, OpenSSL does not",
               "RFC 8446 §4.2.8"),
    Divergence("empty_cipher_suites", "alert decode_error", "alert illegal_parameter",
               "an empty vector violates cipher_suites<2..2^16-2>, a message that cannot be decoded (decode_error); "
               "OpenSSL names it illegal_parameter", "RFC 8446 §4.1.2, §6"),
    Divergence("valid", "server_hello TLSv1.3", "hello_retry TLSv1.3",
               "a TLS 1.3 hello whose only key share is secp384r1 while it also offers x25519: purekong uses the share; "
               "OpenSSL 3.5+ (pyOpenSSL's build) prefers x25519 by its key-share group tuples and asks for it with a "
               "HelloRetryRequest; the RFC allows both", "RFC 8446 §4.2.8, §4.1.4"),
    Divergence("ssl3_legacy_version", "alert protocol_version", "alert handshake_failure",
               "a client offering only SSL 3.0 gets protocol_version, the alert for an unsupported version; "
               "OpenSSL answers handshake_failure", "RFC 8446 §D.2, RFC 5246 §E.1"),
)


@dataclass(frozen=True)
class Difference:
    label: str
    purekong: Verdict
    openssl: Verdict
    data: bytes
    reference: str = "stdlib ssl"

    def describe(self) -> str:
        return f"{self.label}: purekong answered {self.purekong}, OpenSSL ({self.reference}) {self.openssl}; input {self.data[:48].hex()}..."


def known(label: str, purekong: Verdict, openssl: Verdict) -> Divergence | None:
    return next((d for d in DIVERGENCES if d.label == label and d.purekong == str(purekong) and d.openssl == str(openssl)), None)


def compare(data: bytes, *, label: str = "", config: ServerConfig | None = None) -> Difference | None:
    """``None`` if purekong and OpenSSL answer ``data`` alike (or as a listed divergence), else the difference.

    Alike means the same kind of answer: the same version for a
    ServerHello or HelloRetryRequest (preferences may pick different
    suites), the same alert for a refusal.
    """
    ours = purekong_verdict(data, config)
    for reference in (openssl_verdict, pyopenssl_verdict):
        theirs = reference(data)
        if ours != theirs and known(label, ours, theirs) is None:
            return Difference(label or "input", ours, theirs, data, "stdlib ssl" if reference is openssl_verdict else "pyOpenSSL")
    return None


def compare_flight(plan: "FlightPlan", timeout: float = 2.0) -> "FlightDifference | None":
    """The flights after the ClientHello: ``None`` when purekong and pyOpenSSL both refuse ``plan`` (or both go on)."""
    from ._differential_flights import compare_flight as compare_one

    return compare_one(plan, timeout)
