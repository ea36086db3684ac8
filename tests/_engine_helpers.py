"""Shared helpers for the engine tests: certificates, in-memory endpoints, pump().

Everything here is real: real keys, real crypto, and the stdlib ``ssl``
module driven over ``MemoryBIO`` pairs. ``pump(a, b)`` joins two endpoints in
memory (like h11's ConnectionPair) and shuttles bytes until both are quiet.

Endpoints:

- ``PK``: a purekong ``ServerConnection`` or ``ClientConnection``. A server
  answers ``ClientHelloReceived`` with ``proceed(**proceed_kwargs)`` (or the
  result of ``on_hello(event)`` when given).
- ``Std``: a stdlib ``ssl.SSLObject`` over two ``MemoryBIO``.
"""

from __future__ import annotations

import hashlib
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    HandshakeMessageTrace,
    ServerConnection,
)
from purekong.engine import CertifiedKey

from _pki import Issued, make_ca, make_cert, make_intermediate, make_leaf, pool_key

HOST = "localhost"


# ---------------------------------------------------------------------------
# PKI
# ---------------------------------------------------------------------------

@dataclass
class PKI:
    """Everything the engine tests need, generated once per session."""

    root: Issued  # server-side trust anchor (ECDSA)
    server_inter: Issued
    rsa_leaf: Issued  # RSA-2048, signed by server_inter
    ec_leaf: Issued  # ECDSA P-256, signed by server_inter
    client_root: Issued
    client_inter: Issued
    client_leaf: Issued  # ECDSA, signed by client_inter
    other_ca: Issued  # a CA whose DN is also listed in CertificateRequests
    files: dict[str, str] = field(default_factory=dict)

    def server_key(self, kind: str) -> CertifiedKey:
        leaf = self.rsa_leaf if kind == "rsa" else self.ec_leaf
        return CertifiedKey((leaf.cert, self.server_inter.cert), leaf.key)

    def server_chain_der(self, kind: str) -> tuple[bytes, ...]:
        leaf = self.rsa_leaf if kind == "rsa" else self.ec_leaf
        return (leaf.der, self.server_inter.der)

    @property
    def client_key(self) -> CertifiedKey:
        return CertifiedKey((self.client_leaf.cert, self.client_inter.cert), self.client_leaf.key)

    @property
    def client_chain_der(self) -> tuple[bytes, ...]:
        return (self.client_leaf.der, self.client_inter.der)


def _server_leaf(issuer: Issued, cn: str, key: Any) -> Issued:
    return make_cert(
        cn,
        issuer,
        key=key,
        key_usage={"digital_signature", "key_encipherment"},
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        extensions=[(x509.SubjectAlternativeName([x509.DNSName(HOST), x509.DNSName("a.example"), x509.DNSName("b.example")]), False)],
    )


def make_pki(directory) -> PKI:
    root = make_ca("purekong engine test root", key=pool_key("ec", 10))
    server_inter = make_intermediate(root, "purekong engine test server CA", key=pool_key("ec", 11))
    rsa_leaf = _server_leaf(server_inter, "rsa.localhost", pool_key("rsa", 10, 2048))
    ec_leaf = _server_leaf(server_inter, "ec.localhost", pool_key("ec", 12))
    client_root = make_ca("CN=purekong client root,O=purekong tests,C=US", key=pool_key("ec", 13))
    client_inter = make_intermediate(client_root, "CN=purekong client issuing CA,O=purekong tests", key=pool_key("ec", 14))
    client_leaf = make_leaf(client_inter, "client.example.com", key=pool_key("ec", 15))
    other_ca = make_ca("CN=Another CA,OU=elsewhere", key=pool_key("ec", 16))
    pki = PKI(root, server_inter, rsa_leaf, ec_leaf, client_root, client_inter, client_leaf, other_ca)

    def write(name: str, text: str) -> str:
        path = directory / name
        path.write_text(text)
        return str(path)

    def key_pem(key) -> str:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()

    pki.files = {
        "root": write("root.pem", root.pem),
        "rsa_chain": write("rsa_chain.pem", rsa_leaf.pem + server_inter.pem),
        "rsa_key": write("rsa_key.pem", key_pem(rsa_leaf.key)),
        "ec_chain": write("ec_chain.pem", ec_leaf.pem + server_inter.pem),
        "ec_key": write("ec_key.pem", key_pem(ec_leaf.key)),
        "client_chain": write("client_chain.pem", client_leaf.pem + client_inter.pem),
        "client_key": write("client_key.pem", key_pem(client_leaf.key)),
        "client_root": write("client_root.pem", client_root.pem),
    }
    return pki


# ---------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------

class PK:
    """A purekong connection as a pump endpoint."""

    def __init__(self, conn, *, on_hello: Callable[[ClientHelloReceived], dict] | None = None, **proceed_kwargs: Any) -> None:
        self.conn = conn
        self.on_hello = on_hello
        self.proceed_kwargs = proceed_kwargs
        self.events: list = []
        self.hellos: list[ClientHelloReceived] = []
        self.received = bytearray()
        self.error: Exception | None = None
        self.auto_proceed = True

    # the pump interface
    def feed(self, data: bytes) -> None:
        if data and self.error is None:
            self.conn.receive_data(data)

    def out(self) -> bytes:
        return self.conn.data_to_send()

    def step(self) -> None:
        if self.error is not None:
            return
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                return
            if event is PAUSED:
                if not self.auto_proceed:
                    return
                hello = self.hellos[-1]
                kwargs = self.on_hello(hello) if self.on_hello else self.proceed_kwargs
                self.conn.proceed(**kwargs)
                continue
            self.events.append(event)
            if isinstance(event, ClientHelloReceived):
                self.hellos.append(event)
            elif isinstance(event, DataReceived):
                self.received += event.data
            if isinstance(event, ConnectionClosed):
                return

    # conveniences
    @property
    def handshake(self) -> HandshakeComplete | None:
        return next((e for e in self.events if isinstance(e, HandshakeComplete)), None)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def send(self, data: bytes) -> None:
        self.conn.send_data(data)

    def close(self) -> None:
        self.conn.close()


class Std:
    """A stdlib ``ssl.SSLObject`` over MemoryBIOs as a pump endpoint."""

    def __init__(self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = None, session: ssl.SSLSession | None = None) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=server_side, server_hostname=server_hostname, session=session)
        self.handshake_done = False
        self.received = bytearray()
        self.closed_by_peer = False
        self.unwrapped = False
        self.want_unwrap = False
        self.eof = False

    def feed(self, data: bytes) -> None:
        if data:
            self.incoming.write(data)

    def out(self) -> bytes:
        return self.outgoing.read()

    def step(self) -> None:
        if self.unwrapped:
            return
        if not self.handshake_done:
            try:
                self.obj.do_handshake()
            except ssl.SSLWantReadError:
                return
            self.handshake_done = True
        if self.want_unwrap:
            try:
                self.obj.unwrap()
                self.unwrapped = True
            except ssl.SSLWantReadError:
                pass
            return
        while True:
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:
                self.closed_by_peer = True
                return
            if not chunk:
                self.closed_by_peer = True
                return
            self.received += chunk

    def send(self, data: bytes) -> None:
        self.obj.write(data)

    def close(self) -> None:
        """Start unwrap(): send close_notify, then wait for the peer's."""
        self.want_unwrap = True
        try:
            self.obj.unwrap()
            self.unwrapped = True
        except ssl.SSLWantReadError:
            pass


def pump(a, b, *, rounds: int = 200, chunker: Callable[[bytes], list[bytes]] | None = None) -> int:
    """Move bytes between two endpoints until neither has anything to say.

    Returns the number of bytes moved. ``chunker`` splits every transfer
    into pieces fed one at a time (each followed by a step of the receiver).
    """
    moved = 0
    a.step()
    b.step()
    for _ in range(rounds):
        progress = False
        for src, dst in ((a, b), (b, a)):
            data = src.out()
            if data:
                progress = True
                moved += len(data)
                for piece in (chunker(data) if chunker else [data]):
                    dst.feed(piece)
                    dst.step()
            else:
                dst.step()
        if not progress:
            return moved
    raise AssertionError("pump did not settle")


# ---------------------------------------------------------------------------
# Contexts and connection factories
# ---------------------------------------------------------------------------

TLS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
VERSION_NAME = {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}


def std_client_context(pki: PKI, version: str | None = None, *, client_cert: bool = False, alpn: list[str] | None = None, tickets: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=pki.files["root"])
    if version:
        ctx.minimum_version = ctx.maximum_version = TLS[version]
    if client_cert:
        ctx.load_cert_chain(pki.files["client_chain"], pki.files["client_key"])
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def std_server_context(pki: PKI, kind: str = "rsa", version: str | None = None, *, request_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.files[f"{kind}_chain"], pki.files[f"{kind}_key"])
    if version:
        ctx.minimum_version = ctx.maximum_version = TLS[version]
    if request_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=pki.files["client_root"])
    return ctx


def pk_client_config(pki: PKI, version: str | None = None, **kw: Any) -> ClientConfig:
    kw.setdefault("trusted_certificates", (pki.root.cert,))
    if version:
        kw.setdefault("versions", (VERSION_NAME[version],))
    return ClientConfig(**kw)


def std_client(pki: PKI, version: str | None = None, *, session=None, server_hostname: str = HOST, **kw: Any) -> Std:
    return Std(std_client_context(pki, version, **kw), server_side=False, server_hostname=server_hostname, session=session)


class Recorder:
    """A ``trace=`` callable that keeps everything."""

    def __init__(self) -> None:
        self.items: list = []

    def __call__(self, item) -> None:
        self.items.append(item)

    def messages(self, direction: str | None = None, msg_type: int | None = None) -> list[HandshakeMessageTrace]:
        return [
            m for m in self.items
            if isinstance(m, HandshakeMessageTrace)
            and (direction is None or m.direction == direction)
            and (msg_type is None or m.msg_type == msg_type)
        ]


def server(config, *, trace=None, random=None, **proceed_kwargs: Any) -> PK:
    return PK(ServerConnection(config, trace=trace, random=random), **proceed_kwargs)


def pk_client(config, server_name: str | None = HOST, **kw: Any) -> PK:
    return PK(ClientConnection(config, server_name, **kw))


# ---------------------------------------------------------------------------
# Wire parsing helpers
# ---------------------------------------------------------------------------

HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def records(data: bytes) -> list[tuple[int, bytes]]:
    """Split a byte stream into (content type, fragment) records."""
    out = []
    offset = 0
    while offset < len(data):
        assert len(data) - offset >= 5, f"truncated record header at {offset}"
        ctype = data[offset]
        length = struct.unpack(">H", data[offset + 3 : offset + 5])[0]
        fragment = data[offset + 5 : offset + 5 + length]
        assert len(fragment) == length, "truncated record"
        out.append((ctype, data[offset : offset + 5], fragment))
        offset += 5 + length
    return [(c, h + f) for c, h, f in out]


def handshake_messages(data: bytes) -> list[bytes]:
    """Plaintext handshake messages (header included) from handshake records."""
    buf = b"".join(rec[5:] for ctype, rec in records(data) if ctype == 22)
    out = []
    while len(buf) >= 4:
        size = 4 + int.from_bytes(buf[1:4], "big")
        out.append(buf[:size])
        buf = buf[size:]
    return out


def extensions(body: bytes) -> dict[int, bytes]:
    """Parse a TLS extensions block (2-byte total length first)."""
    total = int.from_bytes(body[:2], "big")
    data = body[2 : 2 + total]
    assert len(data) == total
    out = {}
    while data:
        etype, elen = struct.unpack(">HH", data[:4])
        out[etype] = data[4 : 4 + elen]
        data = data[4 + elen :]
    return out


def server_hello_fields(raw: bytes) -> dict:
    """random, session_id, cipher and extensions of a ServerHello message."""
    assert raw[0] == 2
    body = raw[4:]
    random = body[2:34]
    sid_len = body[34]
    session_id = body[35 : 35 + sid_len]
    rest = body[35 + sid_len :]
    cipher = int.from_bytes(rest[:2], "big")
    exts = extensions(rest[3:]) if len(rest) > 3 else {}
    return {"random": random, "session_id": session_id, "cipher": cipher, "extensions": exts}


def dn_list(data: bytes) -> list[bytes]:
    """A DistinguishedName<...> vector: 2-byte total length, then 2-byte-prefixed DER names."""
    total = int.from_bytes(data[:2], "big")
    data = data[2 : 2 + total]
    names = []
    while data:
        n = int.from_bytes(data[:2], "big")
        names.append(data[2 : 2 + n])
        data = data[2 + n :]
    return names


def certificate_request_dns(raw: bytes, version: str) -> tuple[list[bytes] | None, dict[int, bytes]]:
    """(DER DNs or None, extensions) from a CertificateRequest message."""
    assert raw[0] == 13
    body = raw[4:]
    if version == "1.3":
        ctx_len = body[0]
        exts = extensions(body[1 + ctx_len :])
        return (dn_list(exts[47]) if 47 in exts else None), exts
    ntypes = body[0]
    rest = body[1 + ntypes :]
    sig_len = int.from_bytes(rest[:2], "big")
    rest = rest[2 + sig_len :]
    return dn_list(rest), {}


def det_random(seed: bytes) -> Callable[[int], bytes]:
    """A fixed deterministic byte source (SHA-256 counter mode), independent of the engine's."""
    counter = [0]
    buf = [b""]

    def take(n: int) -> bytes:
        while len(buf[0]) < n:
            buf[0] += hashlib.sha256(seed + counter[0].to_bytes(8, "big")).digest()
            counter[0] += 1
        out, buf[0] = buf[0][:n], buf[0][n:]
        return out

    return take


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


# ---------------------------------------------------------------------------
# ClientHello surgery (for refusals and fuzzing)
# ---------------------------------------------------------------------------

@dataclass
class Hello:
    """A ClientHello split into its fields; ``record()`` serialises it again."""

    version: bytes
    random: bytes
    session_id: bytes
    suites: list[int]
    compression: bytes
    exts: list[list]  # [type, data]

    @classmethod
    def parse(cls, raw: bytes) -> "Hello":
        """From a handshake message (header included) or a record stream."""
        if raw[0] == 22:
            raw = handshake_messages(raw)[0]
        assert raw[0] == 1
        b = raw[4:]
        version, random = b[:2], b[2:34]
        sid = b[35 : 35 + b[34]]
        o = 35 + b[34]
        n = int.from_bytes(b[o : o + 2], "big")
        suites = [int.from_bytes(b[o + 2 + i : o + 4 + i], "big") for i in range(0, n, 2)]
        o += 2 + n
        comp = b[o + 1 : o + 1 + b[o]]
        o += 1 + b[o]
        exts = [[t, d] for t, d in _ext_list(b[o:])]
        return cls(version, random, sid, suites, comp, exts)

    def ext(self, etype: int) -> bytes | None:
        return next((d for t, d in self.exts if t == etype), None)

    def set_ext(self, etype: int, data: bytes | None) -> "Hello":
        self.exts = [e for e in self.exts if e[0] != etype]
        if data is not None:
            # pre_shared_key must stay last
            at = len(self.exts) - (1 if self.exts and self.exts[-1][0] == 41 else 0)
            self.exts.insert(at, [etype, data])
        return self

    def message(self) -> bytes:
        body = (
            self.version + self.random + bytes([len(self.session_id)]) + self.session_id
            + (2 * len(self.suites)).to_bytes(2, "big") + b"".join(s.to_bytes(2, "big") for s in self.suites)
            + bytes([len(self.compression)]) + self.compression
        )
        ext_bytes = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in self.exts)
        body += len(ext_bytes).to_bytes(2, "big") + ext_bytes
        return b"\x01" + len(body).to_bytes(3, "big") + body

    def record(self) -> bytes:
        msg = self.message()
        return b"\x16\x03\x01" + len(msg).to_bytes(2, "big") + msg


def _ext_list(block: bytes) -> list[tuple[int, bytes]]:
    total = int.from_bytes(block[:2], "big")
    data = block[2 : 2 + total]
    out = []
    while data:
        etype, elen = struct.unpack(">HH", data[:4])
        out.append((etype, data[4 : 4 + elen]))
        data = data[4 + elen :]
    return out


def u16_list(values) -> bytes:
    body = b"".join(v.to_bytes(2, "big") for v in values)
    return len(body).to_bytes(2, "big") + body


def alert_records(data: bytes) -> list[bytes]:
    return [rec for ctype, rec in records(data) if ctype == 21]
