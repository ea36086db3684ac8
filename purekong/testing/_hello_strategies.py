"""Strategies for configurations and ClientHellos (public through ``purekong.testing.strategies``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from hypothesis import strategies as st

from purekong.engine import AlertDescription as A, ClientConfig, ServerConfig
from purekong.engine._suites import DEFAULT_CIPHERS, DEFAULT_GROUPS

from ._labelled import Labelled, tell
from ._pki import HOST, kit_pki
from ._wire import (
    GROUP_CODES,
    SIGNATURE_CODES,
    TLS12_SUITES,
    TLS13_SUITES,
    VERSION_CODES,
    ClientHelloFields,
    alpn_extension,
    key_share_extension,
    server_name_extension,
    supported_versions_extension,
    u16,
    u16_list,
    vec,
)

VERSIONS = ("TLSv1.3", "TLSv1.2")
ALPN_CHOICES = ("h2", "http/1.1", "spdy/3", "acme-tls/1")
#: Signature schemes purekong accepts, most common first (shrinking goes there).
SCHEMES = ("ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256", "ecdsa_secp384r1_sha384", "rsa_pss_rsae_sha384",
           "rsa_pss_rsae_sha512", "ed25519", "rsa_pkcs1_sha256", "rsa_pkcs1_sha384", "rsa_pkcs1_sha512")
GREASE = tuple(0x0A0A + 0x1010 * i for i in range(16))


def _check_subset(name: str, values: Sequence[str] | None, known: Sequence[str]) -> tuple[str, ...]:
    if values is None:
        return tuple(known)
    values = tuple(values)
    unknown = [v for v in values if v not in known]
    if not values or unknown:
        raise ValueError(f"{name}: {'empty' if not values else 'unknown ' + ', '.join(unknown)} (choose from {', '.join(known)})")
    return values


def _ordered_subsets(values: Sequence[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True).map(tuple)


# -- configurations -----------------------------------------------------------

def server_configs(
    *,
    versions: Sequence[str] | None = None,
    certificates: Sequence[str] = ("ec", "rsa"),
    alpn: bool = True,
    client_auth: bool | None = None,
) -> st.SearchStrategy[ServerConfig]:
    """``ServerConfig`` objects within purekong's policy, with the kit's certificates.

    Versions, ciphers and groups are non-empty ordered subsets of what
    purekong supports; the certificate is the kit's ECDSA or RSA one (or
    both); ALPN lists and client-certificate requests vary unless fixed::

        >>> from purekong.testing import strategies as pks
        >>> config = pks.server_configs(versions=["TLSv1.3"]).example()
        >>> config.versions
        ('TLSv1.3',)
    """
    versions_ = _check_subset("versions", versions, VERSIONS)
    kinds = _check_subset("certificates", certificates, ("ec", "rsa"))
    pki = kit_pki()
    return st.builds(
        lambda v, c, g, certs, protocols, auth: ServerConfig(
            certificates=tuple(pki.servers[k] for k in certs), versions=v, ciphers=c, groups=g, alpn_protocols=protocols,
            request_client_certificate=auth, client_ca_certificates=(pki.ca,) if auth else (),
        ),
        _ordered_subsets(versions_),
        _ordered_subsets(DEFAULT_CIPHERS),
        _ordered_subsets(DEFAULT_GROUPS),
        _ordered_subsets(kinds),
        st.lists(st.sampled_from(ALPN_CHOICES), unique=True, max_size=3).map(tuple) if alpn else st.just(()),
        st.booleans() if client_auth is None else st.just(client_auth),
    )


def client_configs(
    *,
    versions: Sequence[str] | None = None,
    alpn: bool = True,
    certificate: bool | None = None,
) -> st.SearchStrategy[ClientConfig]:
    """``ClientConfig`` objects that trust the kit's CA; ``certificate`` adds the kit's client certificate::

        >>> config = pks.client_configs(certificate=True).example()
        >>> config.certificate is not None
        True
    """
    versions_ = _check_subset("versions", versions, VERSIONS)
    pki = kit_pki()
    return st.builds(
        lambda v, c, g, protocols, cert: ClientConfig(
            trusted_certificates=(pki.ca,), versions=v, ciphers=c, groups=g, alpn_protocols=protocols,
            certificate=pki.client if cert else None,
        ),
        _ordered_subsets(versions_),
        _ordered_subsets(DEFAULT_CIPHERS),
        _ordered_subsets(DEFAULT_GROUPS),
        st.lists(st.sampled_from(ALPN_CHOICES), unique=True, max_size=3).map(tuple) if alpn else st.just(()),
        st.booleans() if certificate is None else st.just(certificate),
    )


@st.composite
def _compatible_pairs(draw: st.DrawFn, versions: tuple[str, ...]) -> tuple[ServerConfig, ClientConfig]:
    server = draw(server_configs(versions=versions))
    client = draw(client_configs(versions=versions))
    # Keep the pair negotiable: at least one version, cipher and group in
    # common, and ALPN either unused or overlapping.
    common = lambda mine, theirs: tuple(x for x in mine if x in theirs) or theirs[:1]  # noqa: E731
    versions_ = common(client.versions, server.versions)
    groups = common(client.groups, server.groups)
    if "TLSv1.2" in versions_ and server.certificates == (kit_pki().server_ec,) and "secp256r1" not in groups:
        # RFC 8422 §5.1: in TLS 1.2 the client's supported_groups also limit
        # the curve of an ECDSA certificate (the kit's is P-256).
        groups += ("secp256r1",)
    if "TLSv1.2" in versions_ and server.request_client_certificate and "secp256r1" not in server.groups:
        # purekong's TLS 1.2 server (tlslite) refuses an ECDSA client
        # certificate on a curve outside its own groups (see docs/testing.md).
        server = replace(server, groups=server.groups + ("secp256r1",))
    return server, replace(
        client, versions=versions_, ciphers=common(client.ciphers, server.ciphers), groups=groups,
        alpn_protocols=common(client.alpn_protocols, server.alpn_protocols) if client.alpn_protocols and server.alpn_protocols else client.alpn_protocols,
    )


def config_pairs(*, versions: Sequence[str] | None = None) -> st.SearchStrategy[tuple[ServerConfig, ClientConfig]]:
    """(server, client) configurations that can complete a handshake with each other::

        >>> server, client = pks.config_pairs().example()
        >>> bool(set(server.versions) & set(client.versions))
        True
    """
    return _compatible_pairs(_check_subset("versions", versions, VERSIONS))


# -- ClientHellos -------------------------------------------------------------

def _public_key(group: int, seed: bytes) -> bytes:
    """A real key share for ``group`` from a 32-byte seed (shrinks towards the same key)."""
    if group == GROUP_CODES["x25519"]:
        return x25519.X25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    curve: ec.EllipticCurve = ec.SECP256R1() if group == GROUP_CODES["secp256r1"] else ec.SECP384R1()
    scalar = int.from_bytes(seed, "big") % (2**255 - 19) + 1  # below both curves' orders
    key = ec.derive_private_key(scalar, curve)
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@st.composite
def _client_hellos(draw: st.DrawFn, versions: tuple[str, ...], server_name: str | None, alpn: bool, grease: bool) -> ClientHelloFields:
    tls13 = "TLSv1.3" in versions
    suites: list[int] = []
    if tls13:
        suites += draw(st.lists(st.sampled_from(TLS13_SUITES), min_size=1, unique=True))
    if "TLSv1.2" in versions:
        suites += draw(st.lists(st.sampled_from(TLS12_SUITES), min_size=1, unique=True))
    group_names = draw(_ordered_subsets(DEFAULT_GROUPS))
    groups = [GROUP_CODES[g] for g in group_names]
    schemes = ["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"] + draw(st.lists(st.sampled_from(SCHEMES[2:]), unique=True, max_size=4))
    if grease and draw(st.booleans()):
        suites.insert(0, draw(st.sampled_from(GREASE)))
        groups.insert(0, draw(st.sampled_from(GREASE)))
    extensions: list[tuple[int, bytes]] = []
    if server_name:
        extensions.append((0, server_name_extension(server_name)))
    extensions += [(10, u16_list(groups)), (11, vec(b"\x00", 1)), (13, u16_list(SIGNATURE_CODES[s] for s in schemes))]
    if alpn:
        protocols = draw(st.lists(st.sampled_from(ALPN_CHOICES), unique=True, max_size=3))
        if protocols:
            extensions.append((16, alpn_extension(protocols)))
    if draw(st.booleans()):
        extensions.append((23, b""))  # extended_master_secret
    secrets: list[tuple[int, bytes]] = []
    if tls13:
        offered = [VERSION_CODES[v] for v in ("TLSv1.3", "TLSv1.2") if v in versions]
        extensions.append((43, supported_versions_extension(offered)))
        # Key shares for a prefix of the groups (none at all asks for an HRR).
        real_groups = [g for g in groups if g not in GREASE]
        count = draw(st.integers(0, len(real_groups)).map(lambda n: min(1, len(real_groups)) if n == 0 else n))
        count = 0 if draw(st.integers(0, 9)) == 0 else count
        for group in real_groups[:count]:
            seed = draw(st.binary(min_size=32, max_size=32))
            secrets.append((group, seed))
        extensions.append((51, key_share_extension((g, _public_key(g, s)) for g, s in secrets)))
        extensions.append((45, vec(b"\x01", 1)))  # psk_dhe_ke
    session_id = draw(st.sampled_from([b"", bytes(32)]) | st.binary(min_size=32, max_size=32)) if tls13 else b""
    return ClientHelloFields(
        random=draw(st.binary(min_size=32, max_size=32)),
        session_id=session_id,
        cipher_suites=tuple(suites),
        extensions=tuple(extensions),
        key_share_secrets=tuple(secrets),
    )


def client_hellos(
    *,
    versions: Sequence[str] | None = None,
    server_name: str | None = HOST,
    alpn: bool = True,
    grease: bool = True,
) -> st.SearchStrategy[ClientHelloFields]:
    """Valid ClientHellos (as :class:`ClientHelloFields`) that purekong's default server can answer.

    They offer ``versions`` (TLS 1.3 hellos carry supported_versions, real
    key shares for some prefix of their groups, possibly none so the server
    must send a HelloRetryRequest), purekong's suites and groups, the
    signature schemes of the kit's certificates, and sometimes GREASE
    values and ALPN. ``.encode()`` gives the handshake message,
    ``.record()`` the record::

        >>> hello = pks.client_hellos(versions=["TLSv1.2"]).example()
        >>> hello.encode()[0]   # handshake type client_hello
        1
    """
    return _client_hellos(_check_subset("versions", versions, VERSIONS), server_name, alpn, grease)


# -- ClientHellos with one defect ------------------------------------------------

Apply = Callable[[ClientHelloFields], bytes]


@dataclass(frozen=True)
class HelloDefect:
    """One way a ClientHello can be wrong, and what the RFC says a server answers."""

    name: str
    label: str
    alerts: tuple[A, ...]
    clause: str
    apply: Apply
    tls13_only: bool = True


def _encode_with(**changes: object) -> Apply:
    return lambda hello: replace(hello, **changes).encode()  # type: ignore[arg-type]


def _with(ext_type: int, body: Callable[[ClientHelloFields], bytes | None]) -> Apply:
    return lambda hello: hello.with_extension(ext_type, body(hello)).encode()


def _duplicate_first_key_share(hello: ClientHelloFields) -> bytes | None:
    body = hello.extension(51) or b""
    first = body[2 : 2 + 4 + int.from_bytes(body[4:6], "big")]
    return vec(body[2:] + first, 2)


def _stray_key_share(hello: ClientHelloFields) -> bytes | None:
    missing = next(g for g in GROUP_CODES.values() if g not in hello.groups)
    return key_share_extension([(missing, _public_key(missing, bytes(32)))])


def _short_key_share(hello: ClientHelloFields) -> bytes | None:
    return key_share_extension([(GROUP_CODES["x25519"], bytes(range(1, 32)))])


def _extension_twice(hello: ClientHelloFields) -> bytes:
    ext = next(e for e in hello.extensions if e[0] == 10)
    return replace(hello, extensions=hello.extensions + (ext,)).encode()


def _psk_first(hello: ClientHelloFields) -> bytes:
    identity = vec(vec(b"not a ticket", 2) + bytes(4), 2)
    psk = (41, identity + vec(vec(bytes(32), 1), 2))
    return replace(hello, extensions=(psk,) + hello.extensions).encode()


def _one_byte_short(hello: ClientHelloFields) -> bytes:
    message = hello.encode()
    return message[:1] + (len(message) - 5).to_bytes(3, "big") + message[4:-1]


def _extensions_length_plus_one(hello: ClientHelloFields) -> bytes:
    message = bytearray(hello.encode())
    block = 4 + 2 + 32 + 1 + len(hello.session_id) + 2 + 2 * len(hello.cipher_suites) + 1 + len(hello.compression_methods)
    message[block : block + 2] = u16(int.from_bytes(message[block : block + 2], "big") + 1)
    return bytes(message)


def _needs_key_share(hello: ClientHelloFields) -> bool:
    return bool(hello.key_share_groups)


#: Every named ClientHello defect. Each changes one thing in a valid hello.
HELLO_DEFECTS: dict[str, HelloDefect] = {d.name: d for d in (
    HelloDefect("duplicate_key_share_group", "ClientHello with a duplicate key_share group", (A.illegal_parameter,),
                "RFC 8446 §4.2.8", _with(51, _duplicate_first_key_share)),
    HelloDefect("key_share_for_unoffered_group", "ClientHello with a key_share for a group not in supported_groups",
                (A.illegal_parameter,), "RFC 8446 §4.2.8", _with(51, _stray_key_share)),
    HelloDefect("short_x25519_key_share", "ClientHello with a 31-byte x25519 key share", (A.illegal_parameter, A.decode_error),
                "RFC 8446 §4.2.8.2", lambda h: h.with_extension(10, u16_list([GROUP_CODES["x25519"]]))
                .with_extension(51, _short_key_share(h)).encode()),
    HelloDefect("duplicate_extension", "ClientHello with the supported_groups extension twice",
                (A.illegal_parameter, A.decode_error), "RFC 8446 §4.2", _extension_twice, tls13_only=False),
    HelloDefect("no_common_cipher_suite", "ClientHello offering only cipher suites purekong refuses (RSA key exchange, CBC)",
                (A.handshake_failure, A.insufficient_security), "RFC 8446 §4.1.1",
                _encode_with(cipher_suites=(0x009C, 0x002F)), tls13_only=False),
    HelloDefect("empty_cipher_suites", "ClientHello with an empty cipher_suites list", (A.decode_error, A.illegal_parameter, A.handshake_failure),
                "RFC 8446 §4.1.2 (cipher_suites<2..2^16-2>)", _encode_with(cipher_suites=()), tls13_only=False),
    HelloDefect("no_null_compression", "TLS 1.3 ClientHello whose compression methods lack null",
                (A.illegal_parameter,), "RFC 8446 §4.1.2", _encode_with(compression_methods=b"\x01")),
    HelloDefect("only_old_versions", "ClientHello whose supported_versions offers only TLS 1.0 and 1.1",
                (A.protocol_version,), "RFC 8446 §4.2.1", _with(43, lambda h: supported_versions_extension([0x0302, 0x0301]))),
    HelloDefect("ssl3_legacy_version", "ClientHello with legacy_version SSL 3.0 and no supported_versions",
                (A.protocol_version,), "RFC 8446 §D.2 / RFC 7568",
                lambda h: replace(h.with_extension(43, None), legacy_version=0x0300).encode(), tls13_only=False),
    HelloDefect("missing_signature_algorithms", "TLS 1.3 ClientHello without signature_algorithms",
                (A.missing_extension,), "RFC 8446 §9.2", _with(13, lambda h: None)),
    HelloDefect("missing_supported_groups", "TLS 1.3 ClientHello with a key_share but no supported_groups",
                (A.missing_extension,), "RFC 8446 §9.2", _with(10, lambda h: None)),
    HelloDefect("pre_shared_key_not_last", "ClientHello whose pre_shared_key is not the last extension",
                (A.illegal_parameter,), "RFC 8446 §4.2.11", _psk_first),
    HelloDefect("session_id_too_long", "ClientHello with a 33-byte legacy_session_id", (A.decode_error, A.illegal_parameter),
                "RFC 8446 §4.1.2 (legacy_session_id<0..32>)", _encode_with(session_id=bytes(33)), tls13_only=False),
    HelloDefect("empty_alpn_name", "ClientHello with an empty ALPN protocol name", (A.decode_error, A.illegal_parameter),
                "RFC 7301 §3.1", _with(16, lambda h: vec(b"\x00", 2)), tls13_only=False),
    HelloDefect("one_byte_short", "ClientHello one byte short (its last extension cut)", (A.decode_error,),
                "RFC 8446 §6 (decode_error)", _one_byte_short, tls13_only=False),
    HelloDefect("extensions_length_plus_one", "ClientHello whose extensions length is one more than its extensions",
                (A.decode_error,), "RFC 8446 §6 (decode_error)", _extensions_length_plus_one, tls13_only=False),
)}

_NEEDS = {"duplicate_key_share_group": _needs_key_share, "missing_supported_groups": _needs_key_share,
          "key_share_for_unoffered_group": lambda h: len(set(h.groups) & set(GROUP_CODES.values())) < 3,
          "no_null_compression": lambda h: len(h.offered_versions) == 1}


@st.composite
def _defective(draw: st.DrawFn, names: tuple[str, ...]) -> Labelled:
    name = draw(st.sampled_from(names))
    defect = HELLO_DEFECTS[name]
    versions = ("TLSv1.3",) if defect.tls13_only else draw(st.sampled_from([("TLSv1.3", "TLSv1.2"), ("TLSv1.3",), ("TLSv1.2",)]))
    needs = _NEEDS.get(name, lambda h: True)
    hello = draw(client_hellos(versions=versions, grease=False).filter(needs))
    return tell(Labelled(defect.apply(hello), defect.label, defect.name, defect.alerts, defect.clause))


def defective_client_hellos(defects: Sequence[str] | None = None) -> st.SearchStrategy[Labelled]:
    """ClientHello messages with exactly one named defect (see ``HELLO_DEFECTS``).

    Each draw is a valid hello from :func:`client_hellos` with one change;
    it shrinks towards the first defect listed and the smallest valid hello.
    The label says what is wrong and ``alerts`` what the RFC answers::

        >>> bad = pks.defective_client_hellos(["duplicate_key_share_group"]).example()
        >>> bad.label
        'ClientHello with a duplicate key_share group'
        >>> [a.name for a in bad.alerts]
        ['illegal_parameter']
    """
    names = tuple(HELLO_DEFECTS) if defects is None else tuple(defects)
    unknown = [n for n in names if n not in HELLO_DEFECTS]
    if not names or unknown:
        raise ValueError(f"defects: {'empty' if not names else 'unknown ' + ', '.join(unknown)} (known: {', '.join(HELLO_DEFECTS)})")
    return _defective(names)


@st.composite
def _raw(draw: st.DrawFn, max_size: int) -> Labelled:
    if draw(st.booleans()):
        body = draw(st.binary(max_size=max_size))
        return tell(Labelled(b"\x01" + vec(body, 3), f"ClientHello header with {len(body)} random body bytes", "random_body"))
    message = bytearray(draw(client_hellos()).encode())
    edits = draw(st.lists(st.tuples(st.integers(4, len(message) - 1), st.integers(1, 255)), min_size=1, max_size=3))
    for offset, mask in edits:
        message[offset] ^= mask
    where = ", ".join(f"byte {o} xor {m:#04x}" for o, m in edits)
    return tell(Labelled(bytes(message), f"valid ClientHello with {where}", "flipped_bytes"))


def raw_client_hellos(*, max_size: int = 512) -> st.SearchStrategy[Labelled]:
    """ClientHello-shaped bytes: a right header around random bytes, or a valid hello with body bytes flipped::

        >>> raw = pks.raw_client_hellos().example()
        >>> raw.data[0]
        1
    """
    if max_size < 0:
        raise ValueError("max_size must be at least 0")
    return _raw(max_size)
