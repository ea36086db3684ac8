"""A negotiation oracle: what a purekong server must choose for a ServerConfig and a ClientHello.

:func:`predict` is a small pure model, one rule per decision, each citing the
RFC clause and purekong's documented preference (the server's order wins);
:func:`observe` runs the real engine on the same hello and reads its choices
from the messages it sends (its trace, so encrypted messages too). The
shipped property is that the two agree for any generated pair::

    from hypothesis import given
    from purekong.testing import oracle, strategies as pks

    @given(pks.server_configs(alpn=True), pks.client_hellos())
    def test_engine_agrees(config, hello):
        assert oracle.observe(config, hello) == oracle.predict(config, hello)
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from purekong.engine import AlertDescription as A, HandshakeMessageTrace, ServerConfig, ServerConnection

from ._drive import run
from ._wire import GROUP_CODES, ClientHelloFields, parse_server_hello, records

_TLS13_SUITE = {"AES_256_GCM": 0x1302, "CHACHA20_POLY1305": 0x1303, "AES_128_GCM": 0x1301}
_TLS12_SUITE = {("AES_256_GCM", "ec"): 0xC02C, ("AES_256_GCM", "rsa"): 0xC030, ("CHACHA20_POLY1305", "ec"): 0xCCA9,
                ("CHACHA20_POLY1305", "rsa"): 0xCCA8, ("AES_128_GCM", "ec"): 0xC02B, ("AES_128_GCM", "rsa"): 0xC02F}
#: The signature schemes the server signs with, by key (never SHA-1); TLS 1.3 binds ECDSA to the curve.
#: The choice among them follows the client's order.
_SCHEMES = {
    ("TLSv1.3", "ec"): (0x0403,),
    ("TLSv1.3", "rsa"): (0x0806, 0x0805, 0x0804),
    ("TLSv1.2", "ec"): (0x0603, 0x0503, 0x0403),
    ("TLSv1.2", "rsa"): (0x0806, 0x0601, 0x0805, 0x0501, 0x0804, 0x0401),
}


@dataclass(frozen=True)
class Prediction:
    """A server's choices, or the alert it refuses with (then the other fields are None)."""

    alert: A | None = None
    version: str | None = None
    cipher_suite: int | None = None
    group: int | None = None
    hello_retry: bool = False
    signature_scheme: int | None = None
    certificate: int | None = None  # index into config.certificates
    alpn: str | None = None


def _kind(config: ServerConfig, index: int) -> str:
    return "ec" if isinstance(config.certificates[index].private_key, ec.EllipticCurvePrivateKey) else "rsa"


def predict(config: ServerConfig, hello: ClientHelloFields) -> Prediction:
    """The model. ``hello`` must be well formed (from ``client_hellos()``); defects are the strategies' business."""
    # purekong settles ALPN at the ClientHello pause, before tlslite
    # negotiates anything else (RFC 7301 §3.2: no overlap is fatal).
    alpn, alert = _alpn(config, hello)
    if alert is not None:
        return Prediction(alert)
    offered = hello.offered_versions
    # RFC 8446 §4.2.1 / RFC 5246 E.1: the highest version both support.
    version = next((v for v, code in (("TLSv1.3", 0x0304), ("TLSv1.2", 0x0303)) if code in offered and v in config.versions), None)
    if version is None:
        return Prediction(A.protocol_version)
    client_groups = [g for g in hello.groups if g in GROUP_CODES.values()]
    server_groups = [GROUP_CODES[g] for g in config.groups]
    if version == "TLSv1.3":
        # RFC 8446 §4.1.1: the server's cipher order.
        suite = next((_TLS13_SUITE[c] for c in config.ciphers if _TLS13_SUITE[c] in hello.cipher_suites), None)
        common_groups = [g for g in server_groups if g in client_groups]
        if suite is None or not common_groups:
            return Prediction(A.handshake_failure)
        # §4.2.8: a share the server wants, in its order; else a HelloRetryRequest for a common group.
        shared = next((g for g in server_groups if g in hello.key_share_groups), None)
        if shared is None:
            return Prediction(version=version, cipher_suite=suite, group=common_groups[0], hello_retry=True)
        usable = [i for i in range(len(config.certificates)) if _usable(config, i, version, hello)]
        if not usable:
            return Prediction(A.handshake_failure)
        certificate = usable[0]
        # The client's scheme order (TLS 1.3 binds ECDSA to the key's curve).
        scheme = next(s for s in hello.signature_schemes if s in _SCHEMES[(version, _kind(config, certificate))])
        return Prediction(version=version, cipher_suite=suite, group=shared, signature_scheme=scheme, certificate=certificate, alpn=alpn)
    # TLS 1.2: purekong pins the bulk cipher at the ClientHello pause: the
    # server's first cipher the client offers any suite of, whatever the key
    # exchange (engine/_tlslite/_driver.py Driver.choose). Then the first
    # certificate (config order) whose suite for that cipher the client
    # offers and can use; none is handshake_failure, even when another
    # cipher would have worked (see docs/testing.md, findings).
    cipher = next((c for c in config.ciphers if any(_TLS12_SUITE[(c, k)] in hello.cipher_suites for k in ("ec", "rsa"))), None)
    choice = None if cipher is None else next(
        ((_TLS12_SUITE[(cipher, _kind(config, i))], i) for i in range(len(config.certificates))
         if _usable(config, i, version, hello) and _TLS12_SUITE[(cipher, _kind(config, i))] in hello.cipher_suites), None)
    shared_12 = next((g for g in client_groups if g in server_groups), None)
    if choice is None or shared_12 is None:
        return Prediction(A.handshake_failure)
    suite, certificate = choice
    kind = _kind(config, certificate)
    scheme = next(s for s in hello.signature_schemes if s in _SCHEMES[(version, kind)])
    return Prediction(version=version, cipher_suite=suite, group=shared_12, signature_scheme=scheme, certificate=certificate, alpn=alpn)


def _usable(config: ServerConfig, index: int, version: str, hello: ClientHelloFields) -> bool:
    kind = _kind(config, index)
    if not any(s in hello.signature_schemes for s in _SCHEMES[(version, kind)]):
        return False
    # RFC 8422 §5.1: in TLS 1.2 the client's groups also bound an ECDSA key's curve (the kit's: P-256).
    return not (version == "TLSv1.2" and kind == "ec" and GROUP_CODES["secp256r1"] not in hello.groups)


def _alpn(config: ServerConfig, hello: ClientHelloFields) -> tuple[str | None, A | None]:
    # RFC 7301 §3.2: the server's preference; no overlap is no_application_protocol.
    if not config.alpn_protocols or not hello.alpn_protocols:
        return None, None
    chosen = next((p for p in config.alpn_protocols if p in hello.alpn_protocols), None)
    return chosen, (A.no_application_protocol if chosen is None else None)


def observe(config: ServerConfig, hello: ClientHelloFields) -> Prediction:
    """What a real purekong server chose, read from the messages it sent."""
    sent: list[bytes] = []

    def trace(item: object) -> None:
        if isinstance(item, HandshakeMessageTrace) and item.direction == "sent":
            sent.append(item.raw)

    outcome = run(ServerConnection(config, trace=trace), [records(22, hello.encode(), 0x0301)])
    if outcome.alert is not None:
        return Prediction(outcome.alert)
    server_hello = parse_server_hello(next(m for m in sent if m[0] == 2))
    version = "TLSv1.3" if server_hello["version"] == 0x0304 else "TLSv1.2"
    share = server_hello["extensions"].get(51, b"")
    if server_hello["hello_retry_request"]:
        return Prediction(version=version, cipher_suite=server_hello["cipher_suite"], group=int.from_bytes(share[:2], "big"), hello_retry=True)
    by_type = {m[0]: m for m in sent}
    certificate_der = _first_certificate(by_type[11], version)
    certificate = next(i for i, c in enumerate(config.certificates) if c.chain[0].public_bytes(Encoding.DER) == certificate_der)
    if version == "TLSv1.3":
        group = int.from_bytes(share[:2], "big")
        scheme = int.from_bytes(by_type[15][4:6], "big")
        extensions = by_type[8][6:]
    else:
        key_exchange = by_type[12][4:]
        group = int.from_bytes(key_exchange[1:3], "big")
        point = key_exchange[3]
        scheme = int.from_bytes(key_exchange[4 + point : 6 + point], "big")
        extensions = b""
        alpn_body = server_hello["extensions"].get(16)
        return Prediction(version=version, cipher_suite=server_hello["cipher_suite"], group=group, signature_scheme=scheme,
                          certificate=certificate, alpn=alpn_body[3:].decode() if alpn_body else None)
    return Prediction(version=version, cipher_suite=server_hello["cipher_suite"], group=group, signature_scheme=scheme,
                      certificate=certificate, alpn=_alpn_from_extensions(extensions))


def _alpn_from_extensions(block: bytes) -> str | None:
    offset = 0
    while offset + 4 <= len(block):
        ext_type = int.from_bytes(block[offset : offset + 2], "big")
        size = int.from_bytes(block[offset + 2 : offset + 4], "big")
        if ext_type == 16:
            return block[offset + 7 : offset + 4 + size].decode()
        offset += 4 + size
    return None


def _first_certificate(message: bytes, version: str) -> bytes:
    body = message[4:]
    offset = 1 + body[0] if version == "TLSv1.3" else 0  # the TLS 1.3 request context
    offset += 3  # the list length
    size = int.from_bytes(body[offset : offset + 3], "big")
    return body[offset + 3 : offset + 3 + size]

