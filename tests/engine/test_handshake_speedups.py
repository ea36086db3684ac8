"""The handshake speed-ups of issue 15, round 2, give tlslite's own answers.

Each replaced computation is compared with the tlslite code it stands in
for: RFC 8448's key-schedule values and hypothesis-built inputs for the
constant TLS 1.3 secrets, tlslite's ``RecordSocket.recv`` over the same
buffered bytes for the one-slice record read, the decorated methods for the
``deprecated_params`` fast path, dns_utils for the hostname cache.
"""

from __future__ import annotations

import gc
import warnings
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tlslite.bufferedsocket import BufferedSocket
from tlslite.defragmenter import Defragmenter
from tlslite.errors import TLSAbruptCloseError, TLSRecordOverflow
from tlslite.recordlayer import RecordSocket
from tlslite.tlsconnection import TLSConnection
from tlslite.utils import cryptomath
from tlslite.utils.dns_utils import is_valid_hostname as tlslite_is_valid_hostname

from purekong.engine import NEED_DATA, PAUSED, ClientConfig, ClientConnection, ServerConfig, ServerConnection
from purekong.engine._tlslite import _hooked, _patches, _record_read, _speedups
from purekong.engine._tlslite._transport import MemoryTransport


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


# RFC 8448 §3 (TLS_AES_128_GCM_SHA256, no PSK): the early secret and the
# "derived" secret the handshake secret is extracted from.
RFC8448_EARLY = _hex("33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a")
RFC8448_DERIVED = _hex("6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba")
EMPTY_SHA256 = _hex("e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55")


def _tlslite(name: str):
    return _patches.original(cryptomath, name)


def test_no_psk_constants_are_rfc8448s_and_tlslites():
    assert cryptomath.secureHMAC(bytearray(32), bytearray(32), "sha256") == RFC8448_EARLY
    assert cryptomath.HKDF_expand_label(RFC8448_EARLY, b"derived", EMPTY_SHA256, 32, "sha256") == RFC8448_DERIVED
    for name, size in (("sha256", 32), ("sha384", 48)):
        early = cryptomath.secureHMAC(bytearray(size), bytearray(size), name)
        assert type(early) is bytearray
        assert early == _tlslite("secureHMAC")(bytearray(size), bytearray(size), name)
        empty = cryptomath.secureHash(bytearray(), name)
        derived = cryptomath.HKDF_expand_label(early, bytearray(b"derived"), empty, size, name)
        assert type(derived) is bytearray
        assert derived == _tlslite("HKDF_expand_label")(early, bytearray(b"derived"), empty, size, name)
        # tlslite's own call: derive_secret with no transcript
        assert cryptomath.derive_secret(early, bytearray(b"derived"), None, name) == derived


@given(
    secret=st.sampled_from([bytes(32), bytes(48), RFC8448_EARLY]) | st.binary(min_size=1, max_size=64),
    label=st.sampled_from([b"derived", b"c hs traffic", b"key"]) | st.binary(max_size=20),
    context=st.sampled_from([b"", EMPTY_SHA256]) | st.binary(max_size=48),
    length=st.sampled_from([12, 16, 32, 48]),
    name=st.sampled_from(["sha256", "sha384"]),
)
def test_key_schedule_matches_tlslite_on_any_input(secret, label, context, length, name):
    assert cryptomath.HKDF_expand_label(secret, label, context, length, name) == _tlslite("HKDF_expand_label")(
        bytearray(secret), bytearray(label), bytearray(context), length, name)
    assert cryptomath.secureHMAC(secret, secret, name) == _tlslite("secureHMAC")(secret, secret, name)
    assert cryptomath.secureHMAC(secret, context, name) == _tlslite("secureHMAC")(secret, context, name)


@given(st.text(max_size=40) | st.sampled_from(["localhost", "example.com", "a-b.c", "-a.b", "1.2.3.4", "x" * 64]))
def test_hostname_answers_are_dns_utils(name):
    def answer(check, value):
        try:
            return check(value)
        except Exception as exc:  # noqa: BLE001 - dns_utils raises IndexError on ""
            return type(exc)

    raw = name.encode("utf-8")
    for value in (name, raw, bytearray(raw), name, raw):  # the second time from the cache
        assert answer(_speedups._is_valid_hostname, value) == answer(tlslite_is_valid_hostname, value)


def test_deprecated_params_fast_path_keeps_keyword_renaming():
    fast, slow = Defragmenter(), Defragmenter()
    fast.add_static_size(20, 1)
    _patches.original(Defragmenter, "add_static_size")(slow, 20, 1)
    fast.add_dynamic_size(22, 1, 3)
    _patches.original(Defragmenter, "add_dynamic_size")(slow, 22, 1, 3)
    for frag in (b"\x01", b"\x01\x02", b"\x16\x00\x00\x01\x09"):
        fast.add_data(20, bytearray(frag))
        _patches.original(Defragmenter, "add_data")(slow, 20, bytearray(frag))
    assert fast.priorities == slow.priorities and fast.buffers == slow.buffers
    assert fast.decoders.keys() == slow.decoders.keys()
    assert fast.get_message() == slow.get_message() == (20, bytearray(b"\x01"))
    # an old keyword name is still renamed, with tlslite's warning
    with pytest.warns(DeprecationWarning, match="msgType"):
        fast.add_data(msgType=22, data=bytearray(b"\x01\x00\x00\x00"))
    with pytest.raises(TypeError), pytest.warns(DeprecationWarning):
        fast.add_data(22, bytearray(), msgType=22)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast.add_data(msg_type=22, data=bytearray())  # current names: no warning


# -- the one-slice record read ------------------------------------------------

def _record_socket(chunks: list[bytes], tls13: bool) -> tuple[RecordSocket, MemoryTransport]:
    transport = MemoryTransport()
    records = RecordSocket(BufferedSocket(transport))
    records.tls13record = tls13
    for chunk in chunks:
        transport.incoming += chunk
    return records, transport


def _outcome(result):
    if isinstance(result, BaseException):
        return type(result)
    header, body = result
    return (type(header), header.type, header.version, header.length, header.ssl2, type(body), bytes(body))


def _read(records: RecordSocket, fast: bool):
    """One record as tlslite's recv() would yield it (None: it needs input)."""
    try:
        if fast:
            whole = _record_read.take_buffered_record(records)
            if whole is not None:
                return _outcome(whole)
            if _record_read.would_block(records):
                return None  # the hook yields 0 and consumes nothing, as recv() would
        for result in records.recv():
            if result in (0, 1):
                return None
            return _outcome(result)
    except Exception as exc:  # noqa: BLE001 - the exception type is the outcome
        return _outcome(exc)
    return None


def _left(records: RecordSocket, transport: MemoryTransport) -> bytes:
    return bytes(records.sock._read_buffer) + bytes(transport.incoming)


record_bytes = st.builds(
    lambda kind, version, body, length: bytes((kind, *version)) + (len(body) if length is None else length).to_bytes(2, "big") + body,
    kind=st.sampled_from([20, 21, 22, 23, 24, 0x80, 0x16, 0x01, 0x99]),
    version=st.sampled_from([(3, 3), (3, 1), (3, 4), (0, 0)]),
    body=st.binary(max_size=300),
    length=st.none() | st.sampled_from([0, 1, 2**14 + 256, 2**14 + 257, 2**14 + 2049, 65535]),
)


@given(st.lists(record_bytes, min_size=1, max_size=4), st.data(), st.booleans())
def test_record_read_matches_tlslites_recv(stream, data, tls13):
    """Same records, same errors, same bytes left behind, fed whole or cut."""
    wire = b"".join(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=3)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)])]
    fast, fast_transport = _record_socket([chunks[0]], tls13)
    slow, slow_transport = _record_socket([chunks[0]], tls13)
    pending = chunks[1:]
    for _ in range(12):
        got, expected = _read(fast, True), _read(slow, False)
        assert got == expected
        assert _left(fast, fast_transport) == _left(slow, slow_transport)
        if isinstance(expected, type):  # an error ends tlslite's connection
            return
        if expected is None:
            if not pending:
                return
            fast_transport.incoming += pending[0]
            slow_transport.incoming += pending.pop(0)


def test_record_read_leaves_eof_and_overflow_to_tlslite():
    records, transport = _record_socket([], False)
    assert _record_read.would_block(records)
    transport.peer_eof = True
    assert _record_read.take_buffered_record(records) is None
    assert not _record_read.would_block(records)
    with pytest.raises(TLSAbruptCloseError):
        next(records.recv())
    records, _ = _record_socket([b"\x16\x03\x03\xff\xff"], True)
    assert _record_read.take_buffered_record(records) is None
    with pytest.raises(TLSRecordOverflow):
        next(records.recv())


def _count_fast_reads(monkeypatch) -> list[bool]:
    """Per record read by tlslite: whether the one-slice read took it."""
    taken: list[bool] = []
    original = _record_read.take_buffered_record

    def counting(records):
        whole = original(records)
        taken.append(whole is not None)
        return whole

    monkeypatch.setattr(_hooked, "take_buffered_record", counting)
    return taken


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_engine_handshakes_read_their_records_in_one_slice(version, monkeypatch, pki):
    taken = _count_fast_reads(monkeypatch)
    server = ServerConnection(ServerConfig(certificates=(pki.server_key("ec"),), versions=(version,)))
    client = ClientConnection(ClientConfig(trusted_certificates=(pki.root.cert,), versions=(version,)), "localhost")
    for _ in range(6):
        for sender, receiver in ((client, server), (server, client)):
            data = sender.data_to_send()
            if data:
                receiver.receive_data(data)
            while (event := receiver.next_event()) is not NEED_DATA:
                if event is PAUSED:
                    receiver.proceed()
    assert server.handshake is not None and client.handshake is not None
    assert server.handshake.version == client.handshake.version
    assert any(taken)  # the fast path is exercised, not only the fallback


def _join(server: ServerConnection, client: ClientConnection) -> None:
    """Run a handshake in memory, with the TLS 1.3 tickets that follow it."""
    for _ in range(6):
        for sender, receiver in ((client, server), (server, client)):
            data = sender.data_to_send()
            if data:
                receiver.receive_data(data)
            while (event := receiver.next_event()) is not NEED_DATA:
                if event is PAUSED:
                    receiver.proceed()
    assert server.handshake is not None and client.handshake is not None


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("resume", [False, True])
def test_finished_connections_are_freed_without_the_cycle_collector(version, resume, pki):
    """No reference cycle per connection: the record-layer hooks reach their
    connection through a weak reference, so dropping a connection frees its
    tlslite objects at once (before, ~50 objects a connection waited for
    the cyclic garbage collector)."""

    server_config = ServerConfig(certificates=(pki.server_key("ec"),), versions=(version,))
    client_config = ClientConfig(trusted_certificates=(pki.root.cert,), versions=(version,))
    session = None
    if resume:
        server, client = ServerConnection(server_config), ClientConnection(client_config, "localhost")
        _join(server, client)
        session = client.session
    server = ServerConnection(server_config)
    client = ClientConnection(client_config, "localhost", session=session)
    _join(server, client)
    assert server.handshake.resumed is resume
    tls = weakref.ref(server._driver.tls)
    layer = weakref.ref(server._driver.tls._recordLayer)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del server
        assert tls() is None and layer() is None
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_a_resumed_ticket_is_opened_once_with_tlslites_answer(version, pki, monkeypatch):
    """Driver.choose opens the offered ticket, then tlslite's handshake asks
    again: the second answer is the first one, and equals what tlslite's own
    _tryDecrypt gives on the same arguments."""
    opened: list[int] = []
    answers: list[tuple] = []
    tlslite_try = TLSConnection._tryDecrypt
    hooked_try = _hooked.HookedTLSConnection._tryDecrypt

    def counting(self, settings, identity=None, ticket=None):
        opened.append(1)
        return tlslite_try(self, settings, identity, ticket)

    def compared(self, settings, identity=None, ticket=None):
        answer = hooked_try(self, settings, identity, ticket)
        answers.append((answer, tlslite_try(self, settings, identity, ticket)))
        return answer

    server_config = ServerConfig(certificates=(pki.server_key("ec"),), versions=(version,))
    client_config = ClientConfig(trusted_certificates=(pki.root.cert,), versions=(version,))
    first_server, first_client = ServerConnection(server_config), ClientConnection(client_config, "localhost")
    _join(first_server, first_client)
    monkeypatch.setattr(TLSConnection, "_tryDecrypt", counting)
    monkeypatch.setattr(_hooked.HookedTLSConnection, "_tryDecrypt", compared)
    server = ServerConnection(server_config)
    client = ClientConnection(client_config, "localhost", session=first_client.session)
    _join(server, client)
    assert server.handshake.resumed and client.handshake.resumed
    assert len(answers) == 2  # the engine's choice, then tlslite's handshake
    assert answers[1][0] == answers[0][0]
    assert len(opened) == 1  # the hooked method opened it once (the comparisons call tlslite directly)
    for (match, payload), (tlslite_match, tlslite_payload) in answers:
        assert match == tlslite_match
        assert vars(payload) == vars(tlslite_payload)
