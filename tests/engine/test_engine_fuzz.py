"""Bad input, arbitrary chunking and EOF, fed into ServerConnection (hypothesis, bounded).

The only outcomes allowed from ``next_event()``: an event, ``NEED_DATA`` /
``PAUSED``, or ``RemoteProtocolError`` with ``.alert`` set and the fatal alert
record already queued in ``data_to_send()``. After that error every call
raises ``LocalProtocolError``. Buffering stays within the configured limits.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertDescription,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    Event,
    HandshakeComplete,
    LocalProtocolError,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
    State,
)

from _engine_helpers import (
    PK,
    Hello,
    Recorder,
    det_random,
    handshake_messages,
    pk_client,
    pk_client_config,
    pump,
    records,
    server,
    std_client,
)
from _pki import make_leaf, pool_key

SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
LIMIT = 16_384


@pytest.fixture(scope="module")
def config(pki):
    return ServerConfig(certificates=(pki.server_key("ec"),))


@pytest.fixture(scope="module")
def small_config(pki):
    return ServerConfig(certificates=(pki.server_key("ec"),), max_handshake_message_size=LIMIT, request_client_certificate=True)


@pytest.fixture(scope="module")
def hellos(pki):
    """Valid ClientHello records from OpenSSL (TLS 1.3 and 1.2 only) and from purekong."""
    out = {}
    for version in ("1.3", "1.2"):
        cli = std_client(pki, version, alpn=["h2", "http/1.1"])
        cli.step()
        out[f"openssl-{version}"] = cli.out()
    out["purekong"] = pk_client(pk_client_config(pki)).out()
    return out


# ---------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------

class FuzzOutcome:
    def __init__(self) -> None:
        self.events: list = []
        self.error: RemoteProtocolError | None = None
        self.sent = bytearray()


def retained(conn: ServerConnection) -> int:
    """Bytes the engine holds on to (its own buffer, the transport, tlslite's buffers)."""
    driver = conn._driver
    held = len(conn._early) + len(driver.transport.incoming) + len(driver.tls.sock._read_buffer)
    return held + sum(len(b) for b in driver.tls._defragmenter.buffers.values())


def check_error(conn: ServerConnection, error: RemoteProtocolError, sent_before: bytes, encrypted: bool | None = None) -> bytes:
    """The error carries an alert, the alert record is queued, and the connection is dead."""
    assert error.alert is not None, error
    out = conn.data_to_send()
    recs = records(out)
    assert recs, "no alert queued"
    ctype, last = recs[-1]
    assert last[1] == 3 and last[2] in (1, 3), f"alert record with version {last[1:3].hex()}"
    if encrypted is None:
        # The alert may come out together with the ServerHello flight.
        stream = sent_before + out[: -len(recs[-1][1])]
        encrypted = bool(stream) and records(stream)[0][1][5] == 2 and _tls13(stream)
    if ctype == 21 and len(last) == 7:
        assert last[5:] == bytes([2, int(error.alert)]), (last, error.alert)
    elif ctype == 21:
        # TLS 1.2 under the session keys: explicit nonce, alert, GCM/Poly1305 tag.
        assert encrypted and len(last) - 5 in (8 + 2 + 16, 2 + 16), last
    else:
        # Only once a TLS 1.3 ServerHello went out is the alert encrypted.
        assert ctype == 23 and encrypted and len(last) - 5 == 2 + 1 + 16
    assert conn.state is State.ERROR
    for call in (conn.next_event, lambda: conn.receive_data(b"x"), lambda: conn.send_data(b"x"), conn.key_update, conn.proceed):
        with pytest.raises(LocalProtocolError):
            call()
    assert conn.data_to_send() == b""
    return out


def _tls13(sent: bytes) -> bool:
    sh = records(sent)[0][1][5:]
    return b"\x00\x2b\x00\x02\x03\x04" in sh  # supported_versions = TLS 1.3 in the ServerHello


def drive(conn: ServerConnection, chunks, *, eof: bool = False, proceed: dict | None = None, bound: int | None = None, encrypted: bool | None = None) -> FuzzOutcome:
    """Feed chunks one by one, running the connection after each; check every outcome."""
    outcome = FuzzOutcome()
    feeds = list(chunks) + ([b""] if eof else [])
    try:
        for chunk in feeds:
            conn.receive_data(chunk)
            while True:
                event = conn.next_event()
                outcome.sent += conn.data_to_send()
                if bound is not None:
                    assert retained(conn) <= bound
                if event is NEED_DATA:
                    break
                if event is PAUSED:
                    conn.proceed(**(proceed or {}))
                    continue
                assert isinstance(event, Event), event
                outcome.events.append(event)
                if isinstance(event, ConnectionClosed):
                    return outcome
    except RemoteProtocolError as error:
        outcome.error = error
        check_error(conn, error, bytes(outcome.sent), encrypted)
    return outcome


def split(data: bytes, cuts) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a]


# ---------------------------------------------------------------------------
# Random and mutated input
# ---------------------------------------------------------------------------

@SETTINGS
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8), eof=st.booleans(),
       prefix=st.sampled_from([b"", b"\x16\x03\x01", b"\x16\x03\x03\x00\x40\x01", b"\x15\x03\x03\x00\x02", b"\x17\x03\x03"]))
def test_random_bytes(config, data, cuts, eof, prefix):
    conn = ServerConnection(config)
    outcome = drive(conn, split(prefix + data, cuts), eof=eof, bound=len(prefix + data))
    assert not any(isinstance(e, (HandshakeComplete, DataReceived)) for e in outcome.events)


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.booleans()),
    st.tuples(st.just("length"), st.integers(0, 8), st.integers(0, 0xFFFF)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 8)),
)


def length_fields(rec: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the length fields of a single-record ClientHello (as far as they exist)."""
    fields = [(3, 2), (6, 3)]

    def at(i: int, width: int) -> int | None:
        return int.from_bytes(rec[i : i + width], "big") if i + width <= len(rec) else None

    sid = 9 + 34
    if at(sid, 1) is None:
        return fields
    fields.append((sid, 1))
    suites = sid + 1 + rec[sid]
    if at(suites, 2) is None:
        return fields
    fields.append((suites, 2))
    comp = suites + 2 + at(suites, 2)
    if at(comp, 1) is None:
        return fields
    fields.append((comp, 1))
    exts = comp + 1 + rec[comp]
    if at(exts, 2) is None:
        return fields
    fields.append((exts, 2))
    o = exts + 2
    for _ in range(4):  # the first few extension lengths
        if at(o + 2, 2) is None:
            break
        fields.append((o + 2, 2))
        o += 4 + at(o + 2, 2)
    return fields


def mutate(rec: bytes, mutation) -> tuple[bytes, bool]:
    kind = mutation[0]
    data = bytearray(rec)
    eof = False
    if not data:
        return b"", False
    if kind == "flip":
        i = mutation[1] % len(data)
        data[i] ^= 1 << mutation[2]
    elif kind == "truncate":
        data = data[: mutation[1] % len(data)]
        eof = mutation[2]
    elif kind == "length":
        fields = [(o, w) for o, w in length_fields(bytes(data)) if o + w <= len(data)]
        if fields:
            offset, width = fields[mutation[1] % len(fields)]
            value = mutation[2] % (1 << (8 * width))
            data[offset : offset + width] = value.to_bytes(width, "big")
    elif kind == "insert":
        i = mutation[1] % len(data)
        data[i:i] = mutation[2]
    elif kind == "delete":
        i = mutation[1] % len(data)
        del data[i : i + mutation[2]]
    return bytes(data), eof


@SETTINGS
@given(which=st.sampled_from(["openssl-1.3", "openssl-1.2", "purekong"]), mutations=st.lists(MUTATIONS, min_size=1, max_size=3),
       cuts=st.lists(st.integers(0, 3000), max_size=5), eof=st.booleans())
def test_mutated_client_hello(config, hellos, which, mutations, cuts, eof):
    data = hellos[which]
    for mutation in mutations:
        data, trunc_eof = mutate(data, mutation)
        eof = eof or trunc_eof
    conn = ServerConnection(config)
    outcome = drive(conn, split(data, cuts), eof=eof, bound=len(data))
    hellos_seen = [e for e in outcome.events if isinstance(e, ClientHelloReceived)]
    assert len(hellos_seen) <= 1
    if eof and outcome.error is None:
        # The peer went away mid-handshake: cleanly only if the mutations
        # made its first record a close_notify alert (level, description 0),
        # which a server may receive in plaintext before any keys exist.
        assert outcome.events and isinstance(outcome.events[-1], ConnectionClosed)
        assert outcome.events[-1].clean == (data[:1] == b"\x15" and data[6:7] == b"\x00")
    assert not any(isinstance(e, HandshakeComplete) for e in outcome.events)


@pytest.mark.parametrize("version,duplicate", [("1.2", 0), ("1.2", 10), ("1.2", 13), ("1.2", 16), ("1.3", 0), ("1.3", 10), ("1.3", 13), ("1.3", 16), ("1.3", 43), ("1.3", 51)])
def test_duplicate_extension_in_client_hello(config, hellos, version, duplicate):
    """Found by the fuzzer: tlslite's getExtension() raised TLSInternalError out of next_event()."""
    hello = Hello.parse(hellos[f"openssl-{version}"])
    assert hello.ext(duplicate) is not None
    hello.exts.insert(0, [duplicate, hello.ext(duplicate)])
    conn = ServerConnection(config)
    outcome = drive(conn, [hello.record()])
    assert outcome.events == []
    assert outcome.error is not None and outcome.error.alert == AlertDescription.illegal_parameter


def test_length_field_mutations_are_all_reachable(hellos):
    # Guard for the strategy above: every listed field is a real length of the message.
    rec = hellos["openssl-1.3"]
    fields = length_fields(rec)
    assert len(fields) >= 8
    assert int.from_bytes(rec[3:5], "big") == len(rec) - 5
    assert int.from_bytes(rec[6:9], "big") == len(rec) - 9


# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------

def fragment(message: bytes, size: int = 2**14) -> bytes:
    return b"".join(b"\x16\x03\x01" + len(message[i : i + size]).to_bytes(2, "big") + message[i : i + size] for i in range(0, len(message), size))


@pytest.mark.parametrize("announced", [LIMIT + 1, 0xFFFFFF])
def test_oversize_client_hello_length_refused_at_once(small_config, announced):
    conn = ServerConnection(small_config)
    conn.receive_data(b"\x16\x03\x01\x40\x00\x01" + announced.to_bytes(3, "big"))
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.alert == AlertDescription.illegal_parameter
    check_error(conn, info.value, b"")


@pytest.mark.parametrize("size,accepted", [(LIMIT - 600, True), (LIMIT + 600, False)])
def test_big_client_hello_spanning_records(small_config, hellos, size, accepted):
    """A ClientHello padded across records is accepted up to the limit, refused beyond it."""
    hello = Hello.parse(hellos["openssl-1.3"])
    hello.set_ext(21, b"")
    pad = size - len(hello.message())
    hello.set_ext(21, b"\x00" * pad)
    message = hello.message()
    assert len(message) == size
    data = fragment(message, 4000)
    conn = ServerConnection(small_config)
    outcome = drive(conn, split(data, range(0, len(data), 1000)), bound=LIMIT + 2 * (2**14 + 2048))
    if accepted:
        assert outcome.error is None
        assert isinstance(outcome.events[0], ClientHelloReceived) and outcome.events[0].raw == message
        assert outcome.sent[:1] == b"\x16"  # the ServerHello went out
    else:
        assert outcome.error is not None and outcome.error.alert == AlertDescription.illegal_parameter
        assert outcome.events == []


def test_data_while_paused_is_bounded(config, hellos):
    conn = ServerConnection(config)
    conn.receive_data(hellos["openssl-1.3"])
    assert isinstance(conn.next_event(), ClientHelloReceived)
    assert conn.next_event() is PAUSED
    fed = 0
    with pytest.raises(RemoteProtocolError) as info:
        while fed < 10 * config.max_handshake_message_size:
            conn.receive_data(b"\x17\x03\x03\x10\x00" + b"\x00" * 4096)
            fed += 4101
            assert conn.next_event() is PAUSED
    limit = config.max_handshake_message_size + 2 * (2**14 + 2048) + len(hellos["openssl-1.3"])
    assert fed <= limit + 4101
    check_error(conn, info.value, b"")


@pytest.fixture(scope="module")
def huge_client_key(pki):
    from purekong.engine import CertifiedKey

    blob = b"\x04\x82" + (40_000).to_bytes(2, "big") + b"\xab" * 40_000  # an OCTET STRING
    leaf = make_leaf(pki.client_inter, "huge client", key=pool_key("ec", 20),
                     extensions=[(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), blob), False)])
    return CertifiedKey((leaf.cert, pki.client_inter.cert), leaf.key)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_huge_client_certificate_refused_within_limit(pki, small_config, huge_client_key, version):
    srv = PK(ServerConnection(small_config))
    cli = pk_client(pk_client_config(pki, version, certificate=huge_client_key))
    srv.feed(cli.out())
    srv.step()
    cli.feed(srv.out())
    cli.step()
    flight = cli.out()
    assert len(flight) > 40_000
    fed = 0
    bound = LIMIT + 2 * (2**14 + 256)
    with pytest.raises(RemoteProtocolError) as info:
        for piece in split(flight, range(0, len(flight), 3000)):
            srv.conn.receive_data(piece)
            fed += len(piece)
            while srv.conn.next_event() not in (NEED_DATA, PAUSED):
                pass
            assert retained(srv.conn) <= bound
    assert info.value.alert is not None
    assert fed <= LIMIT + 2 * (2**14 + 2048)
    out = srv.conn.data_to_send()
    ctype = records(out)[-1][0]
    assert ctype == (21 if version == "1.2" else 23)
    assert srv.handshake is None


def test_big_client_certificate_under_the_limit_accepted(pki, huge_client_key):
    cfg = ServerConfig(certificates=(pki.server_key("ec"),), request_client_certificate=True)  # 100 KiB default
    srv = server(cfg)
    cli = pk_client(pk_client_config(pki, "1.3", certificate=huge_client_key))
    pump(cli, srv)
    assert srv.handshake.peer_certificates[0] == huge_client_key.chain[0].public_bytes(__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)


# ---------------------------------------------------------------------------
# Chunking does not change the result
# ---------------------------------------------------------------------------

def summary(pk: PK) -> list:
    return [e if not isinstance(e, ClientHelloReceived) else ("hello", e.server_name, e.raw) for e in pk.events]


@pytest.fixture(scope="module")
def chunk_config(pki):
    return ServerConfig(certificates=(pki.server_key("rsa"),), request_client_certificate=True)


@SETTINGS
@given(version=st.sampled_from(["1.2", "1.3"]), sizes=st.lists(st.integers(1, 700), min_size=1, max_size=6),
       down_sizes=st.lists(st.integers(1, 2000), min_size=1, max_size=4))
def test_chunking_does_not_change_the_result(pki, chunk_config, version, sizes, down_sizes):
    def chunker(sizes):
        def cut(data: bytes) -> list[bytes]:
            out, i, k = [], 0, 0
            while i < len(data):
                n = sizes[k % len(sizes)]
                out.append(data[i : i + n])
                i += n
                k += 1
            return out
        return cut

    srv = server(chunk_config)
    cli = std_client(pki, version, client_cert=True)
    up, down = chunker(sizes), chunker(down_sizes)

    class Split:
        """Chunks what the client sends (server input) differently from what it receives."""

        def __init__(self, inner, cut):
            self.inner, self.cut = inner, cut

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def feed(self, data):
            for piece in self.cut(data):
                self.inner.feed(piece)
                self.inner.step()

    pump(Split(cli, down), Split(srv, up))
    cli.send(b"request " * 300)
    srv.send(b"response " * 300)
    pump(Split(cli, down), Split(srv, up))
    cli.close()
    pump(Split(cli, down), Split(srv, up))

    hs = srv.handshake
    assert hs.version == {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[version]
    assert hs.peer_certificates == pki.client_chain_der and hs.resumed is False
    assert bytes(srv.received) == b"request " * 300
    assert bytes(cli.received) == b"response " * 300
    kinds = [type(e).__name__ for e in srv.events]
    assert kinds == ["ClientHelloReceived", "HandshakeComplete"] + ["DataReceived"] * (kinds.count("DataReceived")) + ["ConnectionClosed"]
    assert srv.events[-1] == ConnectionClosed(clean=True) and cli.unwrapped


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_single_bytes_and_coalesced_give_the_same_handshake(pki, chunk_config, version):
    results = []
    for mode in ("whole", "bytes"):
        srv = server(chunk_config)
        cli = std_client(pki, version, client_cert=True)
        cut = (lambda d: [d[i : i + 1] for i in range(len(d))]) if mode == "bytes" else None
        pump(cli, srv, chunker=cut)
        hs = srv.handshake
        results.append((hs.version, hs.cipher_suite, hs.peer_certificates, hs.server_name, hs.resumed, [type(e) for e in srv.events]))
    assert results[0] == results[1]
    assert results[0][2] == pki.client_chain_der


def test_finished_coalesced_with_application_data(pki, config):
    """The client's last flight and its first data in one read: both must come out."""
    srv = server(config)
    cli = std_client(pki, "1.3")
    cli.step()
    srv.feed(cli.out())
    srv.step()
    cli.feed(srv.out())
    cli.step()
    assert cli.handshake_done
    cli.send(b"GET / HTTP/1.1\r\n\r\n")
    srv.feed(cli.out())  # Finished + application data together
    srv.step()
    assert isinstance(srv.events[-2], HandshakeComplete)
    assert srv.events[-1] == DataReceived(b"GET / HTTP/1.1\r\n\r\n")


# ---------------------------------------------------------------------------
# EOF
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["nothing", "half-hello", "paused", "after-server-flight", "established"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_eof_mid_handshake_is_unclean_close(pki, config, hellos, stage, version):
    conn = ServerConnection(config)
    hello = hellos[f"openssl-{version}"]
    chunks = {"nothing": [], "half-hello": [hello[: len(hello) // 2]]}.get(stage, [hello])
    if stage == "paused":
        conn.receive_data(hello)
        assert isinstance(conn.next_event(), ClientHelloReceived)
        assert conn.next_event() is PAUSED
        conn.receive_data(b"")
        conn.proceed()
        assert conn.next_event() == ConnectionClosed(clean=False)
        return
    if stage == "established":
        srv = PK(conn)
        cli = std_client(pki, version)
        pump(cli, srv)
        assert srv.handshake is not None
        outcome = drive(conn, [], eof=True)
    else:
        outcome = drive(conn, chunks, eof=True)
    assert outcome.error is None
    assert outcome.events[-1] == ConnectionClosed(clean=False)
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"x")


def test_connection_dead_after_remote_error_in_established_state(pki, config):
    srv = PK(ServerConnection(config))
    cli = std_client(pki, "1.3")
    pump(cli, srv)
    wire = bytearray(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # an application record that fails to decrypt
    srv.conn.receive_data(bytes(wire))
    with pytest.raises(RemoteProtocolError) as info:
        srv.conn.next_event()
    assert info.value.alert == AlertDescription.bad_record_mac
    out = check_error(srv.conn, info.value, b"", encrypted=True)
    # The alert is encrypted; OpenSSL reads it as bad_record_mac.
    cli.feed(out)
    import ssl

    with pytest.raises(ssl.SSLError, match="(?i)bad.record.mac"):
        cli.step()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("stage", ["established", "handshake"])
def test_sslv2_framed_record_on_encrypted_connection(pki, config, hellos, version, stage):
    """Found by the fuzzer: tlslite framed it as SSLv2 and called a CBC-only decrypt
    on the AEAD state (AttributeError -> internal_error, alert in plaintext with version 0000)."""
    srv = PK(ServerConnection(config))
    cli = std_client(pki, version)
    if stage == "established":
        pump(cli, srv)
        assert srv.handshake is not None
    else:
        # TLS 1.3: right after the ServerHello, the server reads with handshake keys.
        # TLS 1.2: before the client's ChangeCipherSpec, there are no read keys yet.
        cli.step()
        srv.feed(cli.out())
        srv.step()
        cli.feed(srv.out())
    encrypted = stage == "established" or version == "1.3"
    outcome = drive(srv.conn, [b"\x80\x2e\x01\x03\x01" + b"\x00" * 0x2b], encrypted=encrypted)
    assert outcome.error is not None
    # SSLv2 framing is only for a first ClientHello: later, an unknown record type.
    assert outcome.error.alert == AlertDescription.unexpected_message


@pytest.mark.parametrize("record", [
    b"\x42\x00\x05\x06" + b"\x00" * 5,  # SSLv2-shaped, padding longer than the record
    b"\x42\x01\x08\x03" + b"\x00" * 5,  # SSLv2-shaped, padding with a length not a multiple of 8
    b"\x19\x03\x03\x00\x02\x00\x00",  # type 25 with a TLS header (read as a long SSLv2 one)
    b"\x00\x03\x03\x00\x02\x01\x00",  # type 0
], ids=["padding-too-long", "padding-odd-length", "type-25", "type-0"])
def test_unknown_record_type_in_plaintext_handshake(pki, config, record):
    """RFC 5246 §6: a record of unknown type gets unexpected_message, also before any
    keys exist. tlslite read these as SSLv2 headers, valid only for a first ClientHello,
    and answered illegal_parameter, record_overflow or decode_error."""
    srv = PK(ServerConnection(config))
    cli = std_client(pki, "1.2")
    cli.step()
    srv.feed(cli.out())
    srv.step()  # ClientHello read; the server waits for the client's second flight
    outcome = drive(srv.conn, [record], encrypted=False)
    assert outcome.error is not None, outcome.events
    assert outcome.error.alert == AlertDescription.unexpected_message


@pytest.mark.parametrize("sni", [b"\x00\x0c\x01\x00\x09localhost", b"", b"\x00\x00"], ids=["unknown-name-type", "empty", "empty-list"])
def test_server_name_without_host_name(config, hellos, sni):
    """Found by the fuzzer: tlslite indexed hostNames[0] of such an SNI (IndexError -> internal_error)."""
    hello = Hello.parse(hellos["openssl-1.2"])
    hello.set_ext(0, sni)
    conn = ServerConnection(config)
    outcome = drive(conn, [hello.record()])
    assert outcome.events == []
    assert outcome.error is not None and outcome.error.alert == AlertDescription.decode_error


def test_internal_error_alert_has_a_record_version(config, hellos):
    """Any tlslite crash becomes internal_error; its alert must still be a well-formed record
    (tlslite's shutdown had reset the record version to 0x0000)."""
    conn = ServerConnection(config)
    conn.receive_data(hellos["openssl-1.2"])
    assert isinstance(conn.next_event(), ClientHelloReceived)
    conn.proceed()

    def boom(*args, **kwargs):
        raise RuntimeError("simulated tlslite bug")

    tls = conn._driver.tls
    original = tls._serverCertKeyExchange
    tls._serverCertKeyExchange = boom  # a crash inside tlslite's generator
    try:
        with pytest.raises(RemoteProtocolError) as info:
            conn.next_event()
    finally:
        tls._serverCertKeyExchange = original
    assert info.value.alert == AlertDescription.internal_error
    assert records(conn.data_to_send())[-1][1] == bytes([21, 3, 3, 0, 2, 2, 80])


@pytest.fixture(scope="module")
def second_flights(pki, chunk_config):
    """(ClientHello bytes, the client's second flight) from OpenSSL with a client certificate, per version."""
    out = {}
    for version in ("1.2", "1.3"):
        srv = PK(ServerConnection(chunk_config))
        cli = std_client(pki, version, client_cert=True)
        cli.step()
        hello = cli.out()
        srv.feed(hello)
        srv.step()
        cli.feed(srv.out())
        cli.step()
        out[version] = (hello, cli.out())
    return out


@SETTINGS
@given(version=st.sampled_from(["1.2", "1.3"]), mutation=MUTATIONS, cuts=st.lists(st.integers(0, 5000), max_size=4), eof=st.booleans())
def test_mutated_second_flight(chunk_config, second_flights, version, mutation, cuts, eof):
    """Corrupt the client's Certificate/KeyExchange/CertificateVerify/Finished flight.

    The server's own random differs from the recording, so even an intact
    flight fails its Finished/CertificateVerify check; what matters is that
    every corruption ends in an alert, never in anything else.
    """
    hello, flight = second_flights[version]
    data, trunc_eof = mutate(flight, mutation if mutation[0] != "length" else ("flip", mutation[2], mutation[1] % 8))
    conn = ServerConnection(chunk_config)
    first = drive(conn, [hello])
    assert first.error is None
    outcome = drive(conn, split(data, cuts), eof=eof or trunc_eof, encrypted=version == "1.3" or None)
    assert not any(isinstance(e, HandshakeComplete) for e in outcome.events)
    assert outcome.error is not None or (outcome.events and outcome.events[-1] == ConnectionClosed(clean=False)) or not (eof or trunc_eof)


@SETTINGS
@given(version=st.sampled_from(["1.2", "1.3"]), junk=st.binary(min_size=1, max_size=600), header=st.sampled_from([b"", b"\x17\x03\x03", b"\x15\x03\x03\x00\x02", b"\x16\x03\x03", b"\x14\x03\x03\x00\x01"]))
def test_garbage_after_handshake(pki, config, version, junk, header):
    srv = PK(ServerConnection(config))
    cli = std_client(pki, version)
    pump(cli, srv)
    assert srv.handshake is not None
    before = len(srv.events)
    outcome = drive(srv.conn, [header + junk], eof=True, encrypted=True)
    assert not any(isinstance(e, DataReceived) for e in outcome.events)
    assert outcome.error is not None or outcome.events[-1] == ConnectionClosed(clean=False)
    assert len(srv.events) == before


UNPROTECTED = {
    "close_notify": b"\x15\x03\x03\x00\x02\x01\x00",
    "fatal": b"\x15\x03\x03\x00\x02\x02\x28",
    "user_canceled": b"\x15\x03\x03\x00\x02\x01\x5a",
}


@pytest.mark.parametrize("alert", list(UNPROTECTED))
@pytest.mark.parametrize("when", ["after-handshake", "after-key-update"])
@pytest.mark.parametrize("side", ["server", "client"])
def test_tls13_unprotected_alert_after_handshake_is_rejected(pki, config, alert, when, side):
    """Found by the fuzzer: tlslite took a plaintext alert as the first record under new
    read keys, so anyone on the path could fake a clean close (truncation) or any alert."""
    srv = PK(ServerConnection(config))
    cli = pk_client(pk_client_config(pki, "1.3"))
    pump(cli, srv)
    if when == "after-key-update":
        (srv if side == "client" else cli).conn.key_update()
        pump(cli, srv)
    victim = srv if side == "server" else cli
    victim.conn.receive_data(UNPROTECTED[alert])
    with pytest.raises(RemoteProtocolError) as info:
        while victim.conn.next_event() is not NEED_DATA:
            pass
    assert info.value.alert == AlertDescription.unexpected_message
    out = victim.conn.data_to_send()
    assert [c for c, _ in records(out)] == [23]  # the answer is encrypted
    assert not any(isinstance(e, (ConnectionClosed,)) for e in victim.events)


def test_tls13_unprotected_alert_during_handshake_still_accepted(pki, config, hellos):
    """A client that fails on the ServerHello has no keys yet; its plaintext alert is legitimate."""
    conn = ServerConnection(config)
    first = drive(conn, [hellos["openssl-1.3"]])
    assert first.sent[:1] == b"\x16"
    outcome = drive(conn, [UNPROTECTED["fatal"]])
    assert outcome.error is None
    assert [type(e).__name__ for e in outcome.events] == ["AlertReceived", "ConnectionClosed"]
    assert outcome.events[0].description == AlertDescription.handshake_failure


EMPTY_OK = [0, 5, 10, 11, 13, 16, 18, 21, 22, 23, 35, 41, 42, 43, 44, 45, 47, 49, 51]


@pytest.mark.parametrize("ext", EMPTY_OK)
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_empty_extension_bodies(config, hellos, version, ext):
    """Found by the fuzzer: an empty supported_versions made the engine's own
    ClientHello reading raise TypeError out of next_event()."""
    hello = Hello.parse(hellos[f"openssl-{version}"])
    hello.set_ext(ext, b"")
    conn = ServerConnection(config)
    outcome = drive(conn, [hello.record()])  # the oracle checks the outcome
    if ext == 43:
        assert outcome.error is not None and outcome.error.alert == AlertDescription.decode_error
    if outcome.error is not None:
        assert outcome.error.alert != AlertDescription.internal_error


def test_empty_signature_algorithms_cert(config, hellos):
    hello = Hello.parse(hellos["openssl-1.3"])
    hello.set_ext(50, b"")
    outcome = drive(ServerConnection(config), [hello.record()])
    assert outcome.error is not None and outcome.error.alert == AlertDescription.decode_error


class _RawHandshake:
    """A pre-serialised handshake message for tlslite's ``_sendMsg`` (test-only peer misbehaviour)."""

    def __init__(self, data: bytes) -> None:
        self.contentType = 22
        self.data = data

    def write(self) -> bytearray:
        return bytearray(self.data)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_huge_post_handshake_message_is_bounded(pki, version):
    """A peer announcing a 16 MiB handshake message after the handshake (encrypted,
    sent through the purekong client's tlslite connection) is refused within the limit."""
    cfg = ServerConfig(certificates=(pki.server_key("ec"),), max_handshake_message_size=LIMIT)
    srv = PK(ServerConnection(cfg))
    cli = pk_client(pk_client_config(pki, version))
    pump(cli, srv)
    message = bytes([24]) + (0xFFFFFF).to_bytes(3, "big") + b"\x00" * 200_000
    for _ in cli.conn._driver.tls._sendMsg(_RawHandshake(message), update_hashes=False):
        pass
    wire = cli.out()
    fed = 0
    with pytest.raises(RemoteProtocolError) as info:
        for piece in split(wire, range(0, len(wire), 4000)):
            srv.conn.receive_data(piece)
            fed += len(piece)
            while srv.conn.next_event() is not NEED_DATA:
                pass
            assert retained(srv.conn) <= LIMIT + 2 * (2**14 + 256)
    assert info.value.alert is not None
    assert fed <= LIMIT + 3 * (2**14 + 256)
    check_error(srv.conn, info.value, b"", encrypted=True)


@SETTINGS
@given(version=st.sampled_from(["1.2", "1.3"]), msg_type=st.sampled_from([0, 1, 2, 4, 5, 8, 11, 13, 15, 16, 20, 24, 25, 254, 99]),
       body=st.binary(max_size=64), then_data=st.booleans())
def test_post_handshake_messages_from_client(pki, config, version, msg_type, body, then_data):
    """Whatever handshake message a client sends after the handshake (encrypted, through
    the purekong client's tlslite connection), the server answers with events or an alert."""
    srv = PK(ServerConnection(config))
    cli = pk_client(pk_client_config(pki, version))
    pump(cli, srv)
    message = bytes([msg_type]) + len(body).to_bytes(3, "big") + body
    for _ in cli.conn._driver.tls._sendMsg(_RawHandshake(message), update_hashes=False):
        pass
    wire = cli.out()
    if then_data:
        cli.send(b"after")
        wire += cli.out()
    outcome = drive(srv.conn, [wire], encrypted=True)
    for event in outcome.events:
        assert isinstance(event, (DataReceived,)) or type(event).__name__ in ("AlertReceived", "KeyUpdated", "ConnectionClosed"), event
    if msg_type == 24 and len(body) == 1 and body[0] in (0, 1) and version == "1.3":
        if then_data:
            # The raw KeyUpdate left the client's own keys as they were, so the
            # data after it is under the old keys: the server, now on the new
            # ones (RFC 8446 §4.6.3), cannot open it.
            assert outcome.error is not None and outcome.error.alert == AlertDescription.bad_record_mac
        else:
            assert outcome.error is None  # a well-formed KeyUpdate


@pytest.mark.parametrize("size", [1, 7, 100])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_hello_in_tiny_records(pki, config, version, size):
    """A ClientHello fragmented over many small records (RFC 8446 §5.1 allows it) completes."""
    cli = std_client(pki, version)
    cli.step()
    message = handshake_messages(cli.out())[0]
    srv = PK(ServerConnection(config))
    srv.feed(fragment(message, size))
    srv.step()
    assert srv.hellos and srv.hellos[0].raw == message
    cli.feed(srv.out())
    pump(cli, srv)
    assert srv.handshake is not None and srv.handshake.version == {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[version]


@pytest.fixture(scope="module")
def hrr_config(pki):
    return ServerConfig(certificates=(pki.server_key("ec"),), groups=("secp256r1",))


@pytest.fixture(scope="module")
def hrr_flights(pki, hrr_config):
    """OpenSSL's first ClientHello and, after our HelloRetryRequest, its second one."""
    cli = std_client(pki, "1.3")
    cli.step()
    first = cli.out()
    srv = PK(ServerConnection(hrr_config, random=det_random(b"hrr")))  # the same cookie every time
    srv.feed(first)
    srv.step()
    cli.feed(srv.out())
    cli.step()
    return first, cli.out()


@SETTINGS
@given(mutations=st.lists(MUTATIONS, min_size=1, max_size=2), cuts=st.lists(st.integers(0, 600), max_size=4), eof=st.booleans())
def test_mutated_second_client_hello_after_hrr(hrr_config, hrr_flights, mutations, cuts, eof):
    first, second = hrr_flights
    ccs, hello = second[:6], second[6:]
    assert ccs[0] == 20 and hello[0] == 22
    for mutation in mutations:
        hello, trunc_eof = mutate(hello, mutation)
        eof = eof or trunc_eof
    conn = ServerConnection(hrr_config, random=det_random(b"hrr"))
    assert drive(conn, [first]).error is None
    outcome = drive(conn, split(ccs + hello, cuts), eof=eof)
    assert not any(isinstance(e, ClientHelloReceived) for e in outcome.events)  # one pause per connection


def test_second_client_hello_unmutated_completes(pki, hrr_config, hrr_flights):
    # Control for the test above: the recorded flight itself is accepted.
    first, second = hrr_flights
    conn = ServerConnection(hrr_config, random=det_random(b"hrr"))
    drive(conn, [first])
    outcome = drive(conn, [second])
    assert outcome.error is None and outcome.sent[:1] == b"\x16"


@SETTINGS
@given(which=st.sampled_from(["openssl-1.3", "openssl-1.2", "purekong"]), junk=st.binary(min_size=1, max_size=400),
       header=st.sampled_from([b"", b"\x16\x03\x03", b"\x14\x03\x03\x00\x01", b"\x17\x03\x03", b"\x15\x03\x03\x00\x02"]),
       cuts=st.lists(st.integers(0, 1500), max_size=4), eof=st.booleans())
def test_valid_client_hello_then_junk(config, hellos, which, junk, header, cuts, eof):
    """Junk arriving with the ClientHello waits through the pause, then is judged by tlslite."""
    conn = ServerConnection(config)
    outcome = drive(conn, split(hellos[which] + header + junk, cuts), eof=eof)
    assert sum(isinstance(e, ClientHelloReceived) for e in outcome.events) == 1
    assert not any(isinstance(e, (HandshakeComplete, DataReceived)) for e in outcome.events)


class _RawRecord:
    def __init__(self, content_type: int, data: bytes) -> None:
        self.contentType = content_type
        self.data = data

    def write(self) -> bytearray:
        return bytearray(self.data)


@pytest.mark.parametrize("content_type", [24, 25, 99])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_unexpected_record_types_after_handshake(pki, config, version, content_type):
    """Heartbeat (24; tlslite would answer it) and unknown content types, encrypted by
    the purekong client's tlslite connection, are unexpected_message."""
    srv = PK(ServerConnection(config))
    cli = pk_client(pk_client_config(pki, version))
    pump(cli, srv)
    payload = b"\x01\x00\x10" + b"A" * 16 + b"\x00" * 16 if content_type == 24 else b"\x00\x00"
    for _ in cli.conn._driver.tls._sendMsg(_RawRecord(content_type, payload), update_hashes=False):
        pass
    outcome = drive(srv.conn, [cli.out()], encrypted=True)
    assert outcome.error is not None, outcome.events
    assert outcome.error.alert == AlertDescription.unexpected_message  # RFC 5246 §6, RFC 8446 §5


def _big_client_key(pki, size: int, index: int, filler: bytes = b"\xab"):
    from purekong.engine import CertifiedKey

    blob = b"\x04\x83" + size.to_bytes(3, "big") + filler * size  # an OCTET STRING
    leaf = make_leaf(pki.client_inter, f"client {size}", key=pool_key("ec", index),
                     extensions=[(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.3"), blob), False)])
    return CertifiedKey((leaf.cert, pki.client_inter.cert), leaf.key)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_chain_over_64k_with_tickets(pki, version):
    """Found here: tlslite put the client chain into the session ticket (2-byte length),
    so a chain between 64 KiB and the 100 KiB default limit ended in internal_error."""
    key = _big_client_key(pki, 70_000, 22)
    cfg = ServerConfig(certificates=(pki.server_key("ec"),), request_client_certificate=True)
    srv = server(cfg)
    cli = pk_client(pk_client_config(pki, version, certificate=key))
    pump(cli, srv)
    assert srv.handshake.peer_certificates[0] == key.chain[0].public_bytes(__import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.DER)
    # The ticket still resumes (without the chain, which resumption does not report).
    srv2 = server(cfg)
    cli2 = pk_client(pk_client_config(pki, version, certificate=key), session=cli.conn.session)
    pump(cli2, srv2)
    assert srv2.handshake.resumed is True and srv2.handshake.peer_certificates is None


@pytest.fixture
def compressing_client():
    """A factory of purekong clients that send zlib-compressed certificates (RFC 8879),
    as OpenSSL 3.2+ can. Only the client's settings change; the server's stay."""
    from purekong.engine._tlslite import _driver

    def make(config) -> PK:
        original = _driver.handshake_settings

        def settings(plan):
            result = original(plan)
            result.certificate_compression_send = ["zlib"]
            return result

        _driver.handshake_settings = settings
        try:
            return pk_client(config)  # the ClientHello and settings are made here
        finally:
            _driver.handshake_settings = original

    return make


def test_compressed_client_certificate_accepted(pki, compressing_client):
    rec = Recorder()
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),), request_client_certificate=True), trace=rec)
    cli = compressing_client(pk_client_config(pki, "1.3", certificate=pki.client_key))
    pump(cli, srv)
    assert [m.msg_type for m in rec.messages("received")].count(25) == 1  # compressed_certificate
    assert srv.handshake.peer_certificates == pki.client_chain_der


def test_compressed_client_certificate_bounded_by_the_limit(pki, compressing_client):
    """Found here: the limit applied to the compressed message only, so a few KiB could
    inflate to a multi-MiB chain."""
    key = _big_client_key(pki, 1_000_000, 23, filler=b"\x00")
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),), request_client_certificate=True, max_handshake_message_size=LIMIT))
    cli = compressing_client(pk_client_config(pki, "1.3", certificate=key))
    with pytest.raises(RemoteProtocolError) as info:
        pump(cli, srv)
    assert info.value.alert == AlertDescription.bad_certificate  # RFC 8879 §4
    assert srv.conn.state is State.ERROR and srv.handshake is None


def test_compressed_certificate_bomb_is_not_inflated(pki, compressing_client, monkeypatch):
    """A CompressedCertificate whose zlib stream inflates far beyond its announced length:
    tlslite passed the length to zlib.decompress as bufsize (not a limit) and inflated it all."""
    import tracemalloc
    import zlib

    from tlslite.messages import CompressedCertificate

    bomb = zlib.compress(b"\x00" * 50_000_000, 9)
    assert len(bomb) < 102_400
    monkeypatch.setattr(CompressedCertificate, "_compress", lambda self, msg: bomb)
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),), request_client_certificate=True))
    cli = compressing_client(pk_client_config(pki, "1.3", certificate=pki.client_key))
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError) as info:
            pump(cli, srv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.alert == AlertDescription.bad_certificate
    assert srv.conn.state is State.ERROR
    assert peak < 10_000_000, f"{peak} bytes allocated"
