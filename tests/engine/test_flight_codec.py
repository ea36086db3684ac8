"""The fast writer of the server's flight writes exactly what tlslite writes.

Differential, as for the ClientHello codec: for every message the engine
sends in real handshakes (TLS 1.3 and 1.2, ECDSA and RSA, with and without a
client certificate request, ALPN, SNI), for those messages parsed back and
mutated, and for hypothesis-built messages with well-formed and out-of-range
fields, the installed ``write`` (``_flight_codec.FAST_WRITE``) returns the
same bytes, of the same type, as tlslite's own ``write``, or raises the same
exception. The fast path must actually be taken for well-formed messages.
"""

from __future__ import annotations

import copy
import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import purekong.engine  # noqa: F401  (installs the writers, as in production)
from purekong.engine import ClientConfig, ClientConnection, ServerConfig, ServerConnection
from purekong.engine._tlslite import _flight_codec
from purekong.engine._tlslite._flight_codec import FAST_WRITE, TLSLITE_WRITE, WRITERS
from purekong.testing import OpenSSLClient, handshake_in_memory
from tlslite.constants import CipherSuite, ExtensionType, HandshakeType
from tlslite.extensions import (
    ALPNExtension,
    KeyShareEntry,
    ServerKeyShareExtension,
    SNIExtension,
    SrvSupportedVersionsExtension,
    TLSExtension,
)
from tlslite.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    EncryptedExtensions,
    Finished,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
)
from tlslite.utils.codec import Parser
from tlslite.x509 import X509
from tlslite.x509certchain import X509CertChain

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TLS13, TLS12 = (3, 4), (3, 3)


def outcome(write, msg):
    """What ``write(msg)`` returns (type and bytes) or raises (type and text)."""
    try:
        data = write(msg)
    except Exception as error:  # noqa: BLE001 (the exception itself is compared)
        return ("raises", type(error).__name__, str(error))
    return ("writes", type(data).__name__, bytes(data))


def assert_same(msg):
    """The installed writer and tlslite's agree on ``msg``; returns the outcome."""
    cls = type(msg)
    twin = copy.copy(msg)
    fast = outcome(FAST_WRITE[cls], msg)
    assert fast == outcome(TLSLITE_WRITE[cls], twin), msg
    assert list(vars(msg)) == list(vars(twin))  # the same attributes left behind (tlslite caches some)
    return fast


def vouched(msg) -> bool:
    """The fast path (not tlslite's fallback) writes ``msg``."""
    try:
        WRITERS[type(msg)](msg)
    except _flight_codec._Unsure:
        return False
    return True


def test_the_writers_are_installed_on_tlslites_classes():
    for cls, write in FAST_WRITE.items():
        assert vars(cls)["write"] is write
        assert TLSLITE_WRITE[cls].__module__ == "tlslite.messages"


# -- the messages of real handshakes -----------------------------------------

def _record_sent(monkeypatch):
    sent = []
    for cls, write in FAST_WRITE.items():
        def recording(self, write=write):
            sent.append(self)
            return write(self)
        monkeypatch.setattr(cls, "write", recording)
    return sent


CASES = [
    pytest.param(version, kind, request_cert, alpn, id=f"{version}-{kind}-{'cr' if request_cert else 'nocr'}-{'alpn' if alpn else 'noalpn'}")
    for version in ("TLSv1.3", "TLSv1.2") for kind in ("ec", "rsa") for request_cert in (False, True) for alpn in (False, True)
]


@pytest.mark.parametrize(("version", "kind", "request_cert", "alpn"), CASES)
def test_every_message_of_a_real_handshake(monkeypatch, pki, version, kind, request_cert, alpn):
    sent = _record_sent(monkeypatch)
    server = ServerConnection(ServerConfig(
        certificates=(pki.server_key(kind),), versions=(version,), alpn_protocols=("h2", "http/1.1") if alpn else (),
        request_client_certificate=request_cert, client_ca_certificates=(pki.client_root.cert,) if request_cert else (),
        session_resumption=False, ticket_keys=()))
    client = ClientConnection(ClientConfig(verify_server=False, versions=(version,), alpn_protocols=("http/1.1",) if alpn else (),
                                           certificate=pki.client_key if request_cert else None), "localhost")
    result = handshake_in_memory(client, server)
    assert result.completed, result.error
    monkeypatch.undo()
    server_side = [msg for msg in sent if type(msg) in (ServerHello, EncryptedExtensions, CertificateRequest, ServerKeyExchange, ServerHelloDone)]
    assert server_side, "no server message was written"
    for msg in sent:
        assert assert_same(msg)[0] == "writes"
        assert vouched(msg) or (type(msg) is CertificateRequest and msg.version <= TLS12), msg
        _check_parsed_back(msg)


def test_a_stdlib_client_handshake_writes_through_the_fast_path(monkeypatch, pki):
    sent = _record_sent(monkeypatch)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    server = ServerConnection(ServerConfig(certificates=(pki.server_key("ec"),), session_resumption=False, ticket_keys=()))
    assert handshake_in_memory(OpenSSLClient(context), server).completed
    monkeypatch.undo()
    assert {type(msg) for msg in sent} >= {ServerHello, EncryptedExtensions, Certificate, CertificateVerify, Finished}
    assert all(vouched(msg) and assert_same(msg)[0] == "writes" for msg in sent)


def _parsed(msg):
    """``msg`` written by tlslite and parsed back by tlslite (the body only)."""
    data = TLSLITE_WRITE[type(msg)](msg)
    parser = Parser(data[1:])
    if type(msg) is ServerHello:
        return ServerHello().parse(parser)
    if type(msg) is EncryptedExtensions:
        return EncryptedExtensions().parse(parser)
    if type(msg) is Certificate:
        return Certificate(msg.certificateType, msg.version).parse(parser)
    if type(msg) is CertificateRequest:
        return CertificateRequest(msg.version).parse(parser)
    if type(msg) is CertificateVerify:
        return CertificateVerify(msg.version).parse(parser)
    if type(msg) is Finished:
        return Finished(msg.version, len(msg.verify_data)).parse(parser) if msg.version > TLS12 else None
    return None  # ServerKeyExchange needs its suite; ServerHelloDone has no body


def _check_parsed_back(msg):
    """Parsed messages (bytearray slices, parser-built extensions) write the same too."""
    parsed = _parsed(msg)
    if parsed is not None:
        assert assert_same(parsed) == assert_same(msg)


# -- hypothesis-built messages --------------------------------------------------
# ``wild`` messages have some fields out of range or of another type: the
# writers must then fall back and tlslite raise (or write) as before. Tame ones
# are well formed: the fast path must write them itself.

def _int(length_bytes, wild):
    value = st.integers(0, 256 ** length_bytes - 1)
    return st.one_of(value, value, value, st.sampled_from([-1, 256 ** length_bytes, None, True])) if wild else value


def _nonzero(wild):
    return _int(1, wild) if wild else st.integers(1, 255)


def _blob(max_size, wild):
    blob = st.one_of(st.binary(max_size=max_size).map(bytearray), st.binary(max_size=max_size))
    return st.one_of(blob, st.sampled_from([None, "text", memoryview(b"ab")])) if wild else blob


def _pick(wild, tame, *others):
    return st.sampled_from([*tame, *others] if wild else tame)


def _extension(wild):
    return st.one_of(
        st.builds(lambda v: SrvSupportedVersionsExtension().create(v), st.one_of(st.tuples(_int(1, wild), _int(1, wild)), st.none())),
        st.builds(lambda g, k: ServerKeyShareExtension().create(KeyShareEntry().create(g, k)), _int(2, wild), _blob(100, wild)),
        st.builds(lambda names: ALPNExtension().create(names), st.lists(_blob(20, wild), max_size=3)),
        st.builds(lambda t, d: TLSExtension(extType=t).create(d), _int(2, wild), _blob(40, wild)),
        st.just(SNIExtension().create()),
        st.just(ServerKeyShareExtension()),
    )


def _extensions(wild):
    return st.one_of(st.lists(_extension(wild), max_size=5), st.none())


@st.composite
def server_hellos(draw, wild=True):
    msg = ServerHello()
    msg.server_version = draw(st.one_of(st.tuples(_int(1, wild), _int(1, wild)), st.just((3, 3))))
    msg.random = draw(_blob(40, wild))
    msg.session_id = draw(st.one_of(_blob(32, wild), st.binary(min_size=256, max_size=300).map(bytearray)) if wild else _blob(32, wild))
    msg.cipher_suite = draw(_int(2, wild))
    msg.compression_method = draw(_int(1, wild))
    msg.extensions = draw(_extensions(wild))
    return msg


@st.composite
def encrypted_extensions(draw, wild=True):
    return EncryptedExtensions().create(draw(_extensions(wild) if wild else st.lists(_extension(wild), max_size=5)))


@st.composite
def certificates(draw, wild=True):
    version = draw(st.sampled_from([TLS12, TLS13]))
    x509s = []
    for der in draw(st.lists(st.binary(min_size=1, max_size=60), max_size=3)):
        x509 = X509()
        x509.bytes = bytearray(der)
        x509s.append(x509)
    msg = Certificate(draw(_pick(wild, [0], 1)), version)
    msg.create(X509CertChain(x509s) if draw(st.booleans()) else None, draw(_blob(5, wild)))
    for entry in msg.certificate_list:
        entry.extensions = draw(st.one_of(st.just([]), _extensions(wild)))
    return msg


@st.composite
def certificate_requests(draw, wild=True):
    msg = CertificateRequest(draw(_pick(wild, [TLS13], TLS12)))
    msg.certificate_request_context = draw(_blob(300 if wild else 255, wild))
    msg.extensions = draw(_extensions(wild))
    msg.supported_signature_algs = [(4, 3), (8, 4)]
    msg.certificate_types = [1, 64]
    return msg


@st.composite
def certificate_verifies(draw, wild=True):
    algorithm = draw(st.one_of(st.tuples(_int(1, wild), _int(1, wild)), *([st.none(), st.just((4,))] if wild else [])))
    return CertificateVerify(draw(st.sampled_from([(3, 1), TLS12, TLS13]))).create(draw(_blob(70, wild)), algorithm)


@st.composite
def finisheds(draw, wild=True):
    return Finished(draw(st.sampled_from([TLS12, TLS13])), 32).create(draw(_blob(48, wild)))


@st.composite
def server_key_exchanges(draw, wild=True):
    ecdhe = [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
             CipherSuite.TLS_ECDH_ANON_WITH_AES_128_CBC_SHA]
    suite = draw(_pick(wild, ecdhe, CipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256))
    msg = ServerKeyExchange(suite, draw(st.sampled_from([(3, 1), TLS12])))
    msg.createECDH(draw(_pick(wild, [3], 2)), draw(_int(2, wild)), draw(_blob(300 if wild else 255, wild)))
    if suite == CipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256:
        msg.createDH(23, 2, 5)
    msg.hashAlg, msg.signAlg = draw(_nonzero(wild)), draw(_nonzero(wild))
    msg.signature = draw(_blob(80, wild))
    return msg


STRATEGIES = (server_hellos, encrypted_extensions, certificates, certificate_requests, certificate_verifies,
              finisheds, server_key_exchanges)


@SETTINGS
@given(st.one_of(*(strategy() for strategy in STRATEGIES), st.just(ServerHelloDone())))
def test_generated_messages_write_the_same(msg):
    assert_same(msg)


@SETTINGS
@given(st.one_of(*(strategy(wild=False) for strategy in STRATEGIES)))
def test_well_formed_generated_messages_take_the_fast_path(msg):
    assert assert_same(msg)[0] == "writes"
    assert vouched(msg), msg


def test_a_subclass_gets_tlslites_write():
    class Custom(Finished):
        pass

    msg = Custom(TLS13, 32).create(bytearray(b"\x01" * 32))
    assert not vouched(Finished(TLS13, 32).create(memoryview(b"x")))
    assert FAST_WRITE[Finished](msg) == TLSLITE_WRITE[Finished](msg)


@pytest.mark.parametrize("mutate", [
    lambda m: setattr(m, "cipher_suite", 70000),
    lambda m: setattr(m, "session_id", bytearray(256)),
    lambda m: setattr(m, "server_version", (3, 300)),
    lambda m: setattr(m, "extensions", [TLSExtension(extType=None)]),
    lambda m: setattr(m, "extensions", [ServerKeyShareExtension().create(KeyShareEntry().create(29, bytearray(70000)))]),
    lambda m: setattr(m, "extensions", ({},)),
    lambda m: setattr(m, "compression_method", -1),
])
def test_out_of_range_fields_raise_tlslites_error(mutate):
    msg = ServerHello().create(TLS12, bytearray(32), bytearray(), 0x1301, extensions=[SrvSupportedVersionsExtension().create(TLS13)])
    assert assert_same(msg)[0] == "writes" and vouched(msg)
    mutate(msg)
    result = assert_same(msg)
    assert result[0] == "raises", result


def test_a_duplicated_extension_type_is_written_as_tlslite_writes_it():
    msg = ServerHello().create(TLS12, bytearray(32), bytearray(), 0x1301, extensions=[SrvSupportedVersionsExtension().create(TLS13)])
    msg.extensions.append(SrvSupportedVersionsExtension().create(TLS13))
    assert assert_same(msg)[0] == "writes" and vouched(msg)


def test_extension_framing_comes_from_tlslites_classes():
    assert HandshakeType.server_hello == 2 and ExtensionType.key_share == 51
    for cls in (SrvSupportedVersionsExtension, ServerKeyShareExtension, ALPNExtension, TLSExtension):
        assert cls.write is TLSExtension.write
