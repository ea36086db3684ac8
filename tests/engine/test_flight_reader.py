"""The fast reader of the client's second flight leaves exactly what tlslite's parser leaves.

Differential: for the messages of real handshakes (TLS 1.2 and 1.3, with and
without a client certificate), every truncation and byte change of them, and
hypothesis-built bodies, the installed ``parse`` (``_flight_reader.FAST_PARSE``)
and tlslite's own either both raise the same error, or build the same object
graph (attribute names in order, values and their types) and leave the
``Parser`` in the same state. The fast path must be taken for well-formed
messages.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import purekong.engine  # noqa: F401  (installs the readers, as in production)
from purekong.engine import ClientConfig, ClientConnection, ServerConfig, ServerConnection
from purekong.engine._tlslite import _flight_reader
from purekong.engine._tlslite._flight_reader import FAST_PARSE, READERS, TLSLITE_PARSE
from purekong.testing import handshake_in_memory
from tlslite.constants import CipherSuite
from tlslite.messages import CertificateVerify, ClientKeyExchange, Finished
from tlslite.utils.codec import Parser

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TLS13, TLS12 = (3, 4), (3, 3)
ECDHE = CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256


def snapshot(value):
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return (kind.__name__, value)
    if kind in (bytes, bytearray):
        return (kind.__name__, bytes(value))
    if isinstance(value, (list, tuple)):
        return (kind.__name__, [snapshot(item) for item in value])
    return (kind.__qualname__, [(key, snapshot(item)) for key, item in vars(value).items()])


def outcome(parse, make, body: bytes):
    """What ``parse`` leaves: the message and the parser, or the error."""
    parser = Parser(bytearray(body))
    msg = make()
    try:
        result = parse(msg, parser)
    except Exception as error:  # noqa: BLE001 (the exception itself is compared)
        return ("raises", type(error).__name__, str(error))
    assert result is msg
    return ("parses", snapshot(msg), parser.index, parser.indexCheck, parser.lengthCheck)


def assert_same(make, body: bytes):
    cls = type(make())
    fast = outcome(FAST_PARSE[cls], make, body)
    assert fast == outcome(TLSLITE_PARSE[cls], make, body), body.hex()
    return fast


def vouched(make, body: bytes) -> bool:
    try:
        READERS[type(make())](make(), Parser(bytearray(body)))
    except _flight_reader._Unsure:
        return False
    return True


MAKERS = {
    "finished13": lambda: Finished(TLS13, 32),
    "finished13-48": lambda: Finished(TLS13, 48),
    "finished12": lambda: Finished(TLS12),
    "finished30": lambda: Finished((3, 0)),
    "verify13": lambda: CertificateVerify(TLS13),
    "verify12": lambda: CertificateVerify(TLS12),
    "verify11": lambda: CertificateVerify((3, 2)),
    "cke-ecdhe": lambda: ClientKeyExchange(ECDHE, TLS12),
    "cke-rsa": lambda: ClientKeyExchange(CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256, TLS12),
    "cke-dhe": lambda: ClientKeyExchange(CipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, TLS12),
}


def test_the_readers_are_installed_on_tlslites_classes():
    for cls, parse in FAST_PARSE.items():
        assert vars(cls)["parse"] is parse
        assert TLSLITE_PARSE[cls].__module__ == "tlslite.messages"


# -- the client's flight of real handshakes -----------------------------------

def _record_received(monkeypatch):
    """(maker, body) of every message tlslite parses with these classes."""
    seen = []
    for cls, parse in FAST_PARSE.items():
        def recording(self, parser, parse=parse, cls=cls):
            assert type(parser) is Parser and type(parser.bytes) is bytearray  # what the fast path takes
            body = bytes(parser.bytes[parser.index:])
            if cls is Finished:
                version, size = self.version, self.hash_length
                seen.append(((lambda: Finished(version, size)), body))
            elif cls is CertificateVerify:
                version = self.version
                seen.append(((lambda: CertificateVerify(version)), body))
            else:
                suite, version = self.cipherSuite, self.version
                seen.append(((lambda: ClientKeyExchange(suite, version)), body))
            return parse(self, parser)
        monkeypatch.setattr(cls, "parse", recording)
    return seen


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("client_cert", [False, True])
def test_the_client_flight_of_real_handshakes(monkeypatch, pki, version, client_cert):
    seen = _record_received(monkeypatch)
    server = ServerConnection(ServerConfig(
        certificates=(pki.server_key("ec"),), versions=(version,), request_client_certificate=client_cert,
        client_ca_certificates=(pki.client_root.cert,) if client_cert else (), session_resumption=False, ticket_keys=()))
    client = ClientConnection(ClientConfig(verify_server=False, versions=(version,),
                                           certificate=pki.client_key if client_cert else None), "localhost")
    assert handshake_in_memory(client, server).completed
    monkeypatch.undo()
    kinds = {type(make()) for make, _ in seen}
    # Both ends' tlslite parse with these classes (a TLS 1.3 server's CertificateVerify too).
    assert Finished in kinds and (ClientKeyExchange in kinds) == (version == "TLSv1.2")
    assert (CertificateVerify in kinds) == (client_cert or version == "TLSv1.3")
    for make, body in seen:
        assert assert_same(make, body)[0] == "parses"
        assert vouched(make, body)
        for cut in range(len(body)):  # every truncation
            assert_same(make, body[:cut])
        for index in range(min(len(body), 8)):  # the header and first fields changed
            for byte in (0x00, 0x01, 0x7F, 0xFF):
                changed = bytearray(body)
                changed[index] = byte
                assert_same(make, bytes(changed))
        assert_same(make, body + b"\x00")  # trailing bytes (tlslite leaves them to its caller)


# -- hypothesis-built bodies ----------------------------------------------------

@st.composite
def framed(draw):
    """A body behind a 3-byte length, mostly consistent, sometimes not."""
    body = draw(st.binary(max_size=80))
    if draw(st.booleans()) and body:
        body = bytes([len(body) - 1]) + body[1:]  # a consistent ECDH point vector
    length = draw(st.one_of(st.just(len(body)), st.integers(0, 100)))
    return length.to_bytes(3, "big") + body + draw(st.binary(max_size=3))


@SETTINGS
@given(st.sampled_from(sorted(MAKERS)), st.one_of(framed(), st.binary(max_size=60)))
def test_generated_bodies_parse_the_same(name, body):
    assert_same(MAKERS[name], body)


@SETTINGS
@given(st.binary(min_size=0, max_size=300), st.sampled_from([(TLS13, True), (TLS12, True), ((3, 2), False)]))
def test_well_formed_certificate_verify_takes_the_fast_path(signature, case):
    version, with_algorithm = case
    fields = (b"\x08\x04" if with_algorithm else b"") + len(signature).to_bytes(2, "big") + signature
    body = len(fields).to_bytes(3, "big") + fields
    make = MAKERS["verify13" if version == TLS13 else "verify12" if version == TLS12 else "verify11"]
    assert assert_same(make, body)[0] == "parses" and vouched(make, body)


@SETTINGS
@given(st.binary(min_size=0, max_size=255))
def test_well_formed_ecdh_key_exchange_takes_the_fast_path(point):
    body = (len(point) + 1).to_bytes(3, "big") + bytes([len(point)]) + point
    assert assert_same(MAKERS["cke-ecdhe"], body)[0] == "parses" and vouched(MAKERS["cke-ecdhe"], body)


def test_what_the_reader_leaves_to_tlslite():
    rsa = (2 + 4).to_bytes(3, "big") + b"\x00\x04abcd"
    assert assert_same(MAKERS["cke-rsa"], rsa)[0] == "parses" and not vouched(MAKERS["cke-rsa"], rsa)
    ssl3 = (36).to_bytes(3, "big") + bytes(36)
    assert assert_same(MAKERS["finished30"], ssl3)[0] == "parses" and not vouched(MAKERS["finished30"], ssl3)

    class Custom(Finished):
        pass

    twelve = (12).to_bytes(3, "big") + bytes(12)
    assert outcome(FAST_PARSE[Finished], lambda: Custom(TLS12), twelve) == outcome(TLSLITE_PARSE[Finished], lambda: Custom(TLS12), twelve)
