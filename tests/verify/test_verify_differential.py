"""client_verify against real OpenSSL, with nginx's semantics.

The oracle is a pyOpenSSL TLS server in memory that asks for a client
certificate the way Kong does (SSL_VERIFY_PEER, a callback that accepts
everything, a verify depth, a store holding exactly the trusted certs) and a
pyOpenSSL client that presents the chain. After the handshake the server's
SSL_get_verify_result() is what nginx turns into $ssl_client_verify.
"""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import event, given
from hypothesis import strategies as st

from _pki import Issued, make_ca, make_intermediate, make_leaf, pool_key
from purekong.verify import _errors, client_verify
from _verify_cases import CASES, KONG_TABLE, TOO_SHORT_TIMES, kong_inputs, plain_pki, with_time

SSL = pytest.importorskip("OpenSSL.SSL")
# The oracle hands OpenSSL its own parse of each certificate (see _x509).
pytestmark = pytest.mark.filterwarnings("ignore:Passing pyOpenSSL X509 objects is deprecated")
from OpenSSL import crypto  # noqa: E402
from OpenSSL._util import ffi, lib  # noqa: E402

# OpenSSL 3.6+ appends this to "certificate is not yet valid"; purekong
# reports OpenSSL 3.4's string (Kong's), so the oracle's is normalised.
_NEW_SUFFIX = " or the system clock is incorrect"

# Kong's verify callback (lua-nginx-module) is C code returning 1. pyOpenSSL's
# own set_verify() wrapper must not be used: when its Python callback returns
# True it *resets* the error to X509_V_OK, so every chain would look verified.
_ACCEPT_ALL = ffi.callback("int (*)(int, X509_STORE_CTX *)", lambda ok, store_ctx: 1)

_SERVER = make_ca("server.example", key=pool_key("ec", 30))


def _reason(code: int) -> str:
    return ffi.string(lib.X509_verify_cert_error_string(code)).decode().removesuffix(_NEW_SUFFIX)


def _x509(item) -> crypto.X509:
    """OpenSSL's own parse of a certificate (it accepts some cryptography refuses)."""
    if isinstance(item, x509.Certificate):
        item = item.public_bytes(serialization.Encoding.DER)
    return crypto.load_certificate(crypto.FILETYPE_ASN1, item if isinstance(item, bytes) else item.der)


def openssl_client_verify(chain: list[Issued], trusted: list, depth: int,
                          partial: bool = False) -> str:
    server_ctx = SSL.Context(SSL.TLS_METHOD)
    server_ctx.use_certificate(_SERVER.cert)
    server_ctx.use_privatekey(_SERVER.key)
    lib.SSL_CTX_set_verify(server_ctx._context, SSL.VERIFY_PEER, _ACCEPT_ALL)
    server_ctx.set_verify_depth(depth)
    store = server_ctx.get_cert_store()
    for cert in trusted:
        store.add_cert(_x509(cert))
    if partial:
        store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)

    client_ctx = SSL.Context(SSL.TLS_METHOD)
    # Let the client present weak keys at all; the server keeps the default
    # security level (2), as nginx does.
    client_ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    if chain:
        client_ctx.use_certificate(_x509(chain[0]))
        client_ctx.use_privatekey(chain[0].key)
        for extra in chain[1:]:  # sent verbatim: order and duplicates kept
            client_ctx.add_extra_chain_cert(_x509(extra))

    server = SSL.Connection(server_ctx, None)
    server.set_accept_state()
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    server_done = False
    for _ in range(10):
        for conn in (client, server):
            try:
                conn.do_handshake()
            except SSL.WantReadError:
                continue
            server_done = server_done or conn is server
        moved = False
        for src, dst in ((client, server), (server, client)):
            try:
                data = src.bio_read(1 << 17)
            except SSL.WantReadError:
                continue
            dst.bio_write(data)
            moved = True
        if not moved:
            break
    assert server_done, "handshake did not complete"
    if server.get_peer_certificate() is None:
        return "NONE"
    code = lib.SSL_get_verify_result(server._ssl)
    return "SUCCESS" if code == 0 else "FAILED:" + _reason(code)


def both(chain: list[Issued], trusted: list, depth: int, partial: bool = False):
    ours = client_verify([c.der for c in chain], trusted, depth=depth, allow_partial_chain=partial)
    return ours, openssl_client_verify(chain, trusted, depth, partial)


# --- fixed examples --------------------------------------------------------


def test_reason_strings_are_openssls():
    # Codes as in OpenSSL 3.4's x509_vfy.h (4.0 moved INVALID_CA to 79 but
    # kept the text).
    codes = {
        "UNSPECIFIED": 1, "UNABLE_TO_GET_ISSUER_CERT": 2, "CERT_SIGNATURE_FAILURE": 7,
        "CERT_NOT_YET_VALID": 9, "CERT_HAS_EXPIRED": 10, "DEPTH_ZERO_SELF_SIGNED_CERT": 18,
        "SELF_SIGNED_CERT_IN_CHAIN": 19, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": 20,
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE": 21, "CERT_CHAIN_TOO_LONG": 22, "PATH_LENGTH_EXCEEDED": 25,
        "INVALID_PURPOSE": 26, "KEYUSAGE_NO_CERTSIGN": 32, "UNHANDLED_CRITICAL_EXTENSION": 34,
        "EE_KEY_TOO_SMALL": 66, "CA_KEY_TOO_SMALL": 67, "CA_MD_TOO_WEAK": 68,
    }
    for name, code in codes.items():
        assert getattr(_errors, name) == _reason(code), name
    assert _errors.INVALID_CA in {_reason(24), _reason(79)}


@pytest.mark.parametrize("ca_list,sends,depth,expected", KONG_TABLE)
def test_kong_table_matches_openssl(ca_list, sends, depth, expected):
    chain, trusted = kong_inputs(ca_list, sends)
    assert both(chain, trusted, depth) == (expected, expected)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reason_matches_openssl(case):
    s = case.build()
    assert both(s.chain, [t.der for t in s.trusted], s.depth, s.partial) == (case.expected, case.expected)


@pytest.mark.parametrize("tag,value", TOO_SHORT_TIMES)
def test_openssl_cannot_parse_too_short_times_either(tag, value):
    root, inter, leaf = plain_pki()
    with pytest.raises(crypto.Error, match="too short"):
        crypto.load_certificate(crypto.FILETYPE_ASN1, with_time(leaf, inter.key, 0, tag, value).der)


# --- generated chains --------------------------------------------------------

_SERVER_ONLY = [ExtendedKeyUsageOID.SERVER_AUTH]
_CRITICAL = [(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x05\x00"), True)]


def _nc(permitted=None, excluded=None):
    return [(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded), True)]


def _san(*names):
    return [(x509.SubjectAlternativeName(list(names)), False)]

# Ways to spoil a certificate: make_cert keyword arguments.
_CA_FLAWS = {
    "none": {},
    "expired": {"days": (-30, -1)},
    "not yet valid": {"days": (1, 30)},
    "CA:FALSE": {"ca": False, "key_usage": {"key_cert_sign", "digital_signature"}},
    "no basicConstraints": {"ca": None, "key_usage": {"key_cert_sign"}},
    "no keyCertSign": {"key_usage": {"crl_sign"}},
    "pathlen:0": {"pathlen": 0},
    "pathlen:1": {"pathlen": 1},
    "wrong signer": {"signing_key": pool_key("ec", 29)},
    "serverAuth only": {"eku": _SERVER_ONLY},
    "critical extension": {"extensions": _CRITICAL},
    "RSA-1024": {"key": pool_key("rsa", 21, 1024)},
    "permits .example.com": {"extensions": _nc(permitted=[x509.DNSName(".example.com")])},
    "excludes bad.example.com": {"extensions": _nc(excluded=[x509.DNSName("bad.example.com")])},
    "permits 10/8": {"extensions": _nc(permitted=[x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))])},
}
# Flaws applied to the DER afterwards (field, ASN.1 tag, value): re-signed
# certificates whose time OpenSSL parses but calls a format error.
_MANGLE = {
    "malformed notBefore": (0, 0x17, b"251301000000Z"),
    "malformed notAfter": (1, 0x18, b"20400230000000Z"),
}
_ROOT_FLAWS = ["none", "expired", "not yet valid", "no keyCertSign", "serverAuth only", "RSA-1024", "pathlen:0"]
_LEAF_FLAWS = {
    "none": {},
    "expired": {"days": (-30, -1)},
    "not yet valid": {"days": (1, 30)},
    "wrong signer": {"signing_key": pool_key("ec", 29)},
    "serverAuth only": {"eku": _SERVER_ONLY},
    "no digitalSignature": {"key_usage": {"key_encipherment"}},
    "keyAgreement only": {"key_usage": {"key_agreement"}},
    "no extensions": {"eku": None, "key_usage": None, "ca": None},
    "empty keyUsage": {"key_usage": set()},
    "critical extension": {"extensions": _CRITICAL},
    "self-signed": {},
    "RSA-1024": {"key": pool_key("rsa", 20, 1024)},
    "SAN x.example.com": {"extensions": _san(x509.DNSName("x.example.com"))},
    "SAN bad.example.com": {"extensions": _san(x509.DNSName("bad.example.com"))},
    "SAN x.example.org + 10.1.2.3": {"extensions": _san(
        x509.DNSName("x.example.org"), x509.IPAddress(ipaddress.ip_address("10.1.2.3")))},
}


def _spoil(issued: Issued, issuer_key, flaw: str):
    return with_time(issued, issuer_key, *_MANGLE[flaw]) if flaw in _MANGLE else issued


def _flaw(names):
    # Half the certificates are sound, so that depth, order and the trust
    # store decide the outcome often enough.
    return st.one_of(st.just("none"), st.sampled_from(sorted(names)))


@st.composite
def client_chains(draw):
    """A PKI with flaws, what the client sends of it, and the server's store."""
    root_flaw = draw(_flaw([*_ROOT_FLAWS, *_MANGLE]))
    root_kw = {"key": pool_key("ec", 20), **_CA_FLAWS.get(root_flaw, {})}
    root = make_ca("Diff Root", **root_kw)
    cas = [root]  # to issue with
    shown = [_spoil(root, root.key, root_flaw)]  # to send or trust
    for i in range(draw(st.integers(0, 3))):
        flaw = draw(_flaw([*_CA_FLAWS, *_MANGLE]))
        kw = {"key": pool_key("ec", 21 + i), **_CA_FLAWS.get(flaw, {})}
        cas.append(make_intermediate(cas[-1], f"Diff Intermediate {i}", **kw))
        shown.append(_spoil(cas[-1], cas[-2].key, flaw))
    if len(cas) > 1 and draw(st.booleans()):
        # A twin of one CA: same name and key, maybe another flaw. Chain
        # building must pick between them as OpenSSL does.
        k = draw(st.integers(1, len(cas) - 1))
        twin_kw = {"key": pool_key("ec", 20 + k), **_CA_FLAWS[draw(_flaw(_CA_FLAWS))]}
        twins = [make_intermediate(cas[k - 1], f"Diff Intermediate {k - 1}", **twin_kw)]
    else:
        twins = []
    leaf_flaw = draw(_flaw([*_LEAF_FLAWS, *_MANGLE]))
    leaf_kw = {"key": pool_key("ec", 25), **_LEAF_FLAWS.get(leaf_flaw, {})}
    leaf = make_leaf(None if leaf_flaw == "self-signed" else cas[-1], "Diff Leaf", **leaf_kw)
    leaf = _spoil(leaf, cas[-1].key, leaf_flaw)
    # Same name as the root, another key: must never be taken for it.
    impostor = make_ca("Diff Root", key=pool_key("ec", 28))

    # Sent after the leaf: any order, duplicates, even the leaf or the impostor.
    pool = [*shown, *twins, leaf, impostor]
    extras = draw(st.lists(st.sampled_from(pool), max_size=5))
    trusted = draw(st.lists(st.sampled_from(pool), max_size=4))
    depth = draw(st.integers(0, 3))
    partial = draw(st.booleans())
    event(f"leaf: {leaf_flaw}, root: {root_flaw}")
    return [leaf, *extras], [t.der for t in trusted], depth, partial


@given(client_chains())
def test_generated_chains_match_openssl(scenario):
    chain, trusted, depth, partial = scenario
    ours, openssl = both(chain, trusted, depth, partial)
    event(openssl)
    assert ours == openssl
