"""The record fast path against tlslite's own record layer, on the same bytes.

Two servers with the same deterministic randomness and an Ed25519
certificate (deterministic signatures) see exactly the same client bytes:
one as shipped (``_records.RecordFastPath`` takes application data), one
whose fast path declines everything, so that tlslite seals and opens every
record. Whatever the client sends (records of any size, split anywhere,
flipped bytes, truncations, KeyUpdate, close_notify, EOF), both must write
the same bytes, report the same events (application data compared as one
stream: the fast path may hand over up to four records in one
``DataReceived``) and fail with the same alert.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
from hypothesis import example, given, strategies as st
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from purekong.engine import (
    NEED_DATA,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    DataReceived,
    LocalProtocolError,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)
from purekong.engine._tlslite._records import RecordFastPath
from purekong.testing import handshake_in_memory


class _Declines(RecordFastPath):
    """A fast path that takes nothing: every record goes through tlslite."""

    __slots__ = ()

    def seal(self, data: bytes, out: list[bytes], content_type: int = 23) -> bool:
        return False

    def open(self, incoming: bytearray) -> bytes | None:
        return None


def _ed25519_key() -> CertifiedKey:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(when).not_valid_after(when + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, None))
    return CertifiedKey((cert,), key)


KEY = _ed25519_key()


def _random(seed: bytes):
    counter = [0]

    def take(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter[0].to_bytes(8, "big")).digest()
            counter[0] += 1
        return out[:n]

    return take


def _pair(version: str, cipher: str):
    """A client and two established servers (fast path, tlslite only) that agree so far."""
    config = ServerConfig(certificates=(KEY,), versions=(version,), ciphers=(cipher,), session_resumption=False,
                          tls13_tickets=0, ticket_keys=())
    fast, slow = ServerConnection(config, random=_random(b"s")), ServerConnection(config, random=_random(b"s"))
    slow._driver.records = _Declines(slow._driver.tls)
    client = ClientConnection(ClientConfig(verify_server=False, versions=(version,), ciphers=(cipher,)), random=_random(b"c"))
    seen: list[bytes] = []
    result = handshake_in_memory(client, fast, observe_client_to_server=seen.append)
    assert result.completed
    # Replay the client's flights on the other server: same bytes back, flight by flight.
    for flight in seen:
        slow.receive_data(flight)
        while (event := slow.next_event()) is not NEED_DATA:
            if type(event).__name__ == "ClientHelloReceived":
                slow.proceed()
    assert slow.handshake == fast.handshake
    slow.data_to_send()
    return client, fast, slow


def _drain(conn: ServerConnection) -> tuple[list, bytes]:
    """Events until NEED_DATA (application data joined), or the error; then the output."""
    events: list = []
    data = bytearray()
    try:
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, DataReceived):
                data += event.data
                continue
            if data:
                events.append(("data", bytes(data)))
                data.clear()
            events.append(event)
            if type(event).__name__ == "ConnectionClosed":
                break
    except RemoteProtocolError as error:
        events.append(("error", error.alert if hasattr(error, "alert") else None, str(error)))
    except LocalProtocolError as error:
        events.append(("refused", str(error)))
    if data:
        events.append(("data", bytes(data)))
    return events, conn.data_to_send()


_STEP = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 40000)),
    st.tuples(st.just("flip"), st.integers(0, 3000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(1, 600)),
    st.tuples(st.just("split"), st.integers(1, 400), st.integers(0, 300)),
    st.tuples(st.just("reply"), st.integers(1, 20000)),
    st.just(("key_update",)),
    st.just(("close",)),
    st.just(("eof",)),
)


def _run(version: str, cipher: str, steps) -> None:
    client, fast, slow = _pair(version, cipher)

    def deliver(*pieces: bytes) -> bool:
        """Feed each piece to both servers and compare; False once they have ended."""
        for piece in pieces:
            for conn in (fast, slow):
                if conn.state.name in ("ERROR", "CLOSED") and not piece:
                    continue
                if conn.state.name != "ERROR":
                    conn.receive_data(piece)
            got_fast, got_slow = _drain(fast), _drain(slow)
            assert got_fast == got_slow
            assert fast.state is slow.state
            if got_fast[1] and client.state.name not in ("ERROR", "CLOSED"):
                client.receive_data(got_fast[1])
                try:
                    while client.next_event() is not NEED_DATA:
                        pass
                except RemoteProtocolError:
                    return False
            if fast.state.name in ("ERROR", "CLOSED"):
                return False
        return True

    for step in steps:
        kind = step[0]
        if client.state.name in ("ERROR", "CLOSED") or fast.state.name in ("ERROR", "CLOSED"):
            break
        try:
            if kind == "send":
                client.send_data(bytes(i % 251 for i in range(step[1])))
                going = deliver(client.data_to_send())
            elif kind == "flip":
                client.send_data(b"request " * 40)
                out = bytearray(client.data_to_send())
                out[step[1] % len(out)] ^= step[2]
                going = deliver(bytes(out))
            elif kind == "truncate":
                client.send_data(b"x" * 300)
                out = client.data_to_send()
                cut = step[1] % len(out)
                going = deliver(out[:cut]) and deliver(out[cut:])
            elif kind == "split":
                client.send_data(b"a" * step[1])
                client.send_data(b"b" * step[1])
                out = client.data_to_send()
                cut = step[2] % len(out)
                going = deliver(out[:cut], out[cut:])
            elif kind == "reply":
                payload = bytes(i % 241 for i in range(step[1]))
                fast.send_data(payload)
                slow.send_data(payload)
                out = fast.data_to_send()
                assert out == slow.data_to_send()
                client.receive_data(out)
                received = bytearray()
                while (event := client.next_event()) is not NEED_DATA:
                    received += event.data
                assert bytes(received) == payload
                going = True
            elif kind == "key_update":
                if client.handshake.version != "TLSv1.3":
                    continue
                client.key_update()
                going = deliver(client.data_to_send())
            elif kind == "close":
                client.close()
                going = deliver(client.data_to_send())
            else:
                going = deliver(b"")
        except LocalProtocolError:
            break  # the client may not do this now (after close)
        if not going:
            break
    # Whatever happened, the end state and the last words agree.
    assert fast.state is slow.state
    if fast.state.name == "ESTABLISHED":
        fast.close()
        slow.close()
        assert fast.data_to_send() == slow.data_to_send()


CASES = [("TLSv1.3", "AES_128_GCM"), ("TLSv1.3", "CHACHA20_POLY1305"), ("TLSv1.2", "AES_256_GCM"), ("TLSv1.2", "CHACHA20_POLY1305")]


@pytest.mark.parametrize("version,cipher", CASES)
def test_the_same_as_tlslite_on_a_fixed_script(version, cipher):
    _run(version, cipher, [("send", 190), ("reply", 230), ("send", 0), ("send", 40000), ("split", 100, 7), ("split", 300, 330),
                           ("key_update",), ("send", 5), ("truncate", 3), ("truncate", 200), ("reply", 17000), ("close",)])


@pytest.mark.parametrize("version,cipher", CASES)
@pytest.mark.parametrize("where", [0, 1, 2, 3, 4, 5, 20, 228])
def test_a_flipped_byte_gets_the_same_alert(version, cipher, where):
    _run(version, cipher, [("send", 10), ("flip", where, 0x40), ("send", 10)])


@pytest.mark.parametrize("version,cipher", CASES)
def test_eof_in_a_record_is_the_same(version, cipher):
    _run(version, cipher, [("send", 10), ("truncate", 100), ("eof",)])


@given(st.sampled_from(CASES), st.lists(_STEP, max_size=8))
@example(CASES[0], [("flip", 230, 1)])
@example(CASES[2], [("split", 1, 1), ("eof",)])
def test_the_same_as_tlslite_for_any_script(case, steps):
    _run(*case, steps)
