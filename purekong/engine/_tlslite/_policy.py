"""Where purekong's policy is stricter than tlslite-ng's: signature schemes
and TLS 1.3 ChangeCipherSpec records.

These are plain functions; ``_hooked.HookedTLSConnection`` calls them from
the tlslite methods it overrides.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from tlslite.constants import ExtensionType, HashAlgorithm, SignatureAlgorithm, SignatureScheme
from tlslite.errors import TLSHandshakeFailure
from tlslite.extensions import SignatureAlgorithmsCertExtension
from tlslite.tlsconnection import TLSConnection
from tlslite.x509certchain import X509CertChain

from .._suites import SIGNATURE_SCHEMES

# RFC 9155 §2: MD5 and SHA-1 signatures MUST NOT be used in TLS 1.2.
_FORBIDDEN_HASHES = (HashAlgorithm.md5, HashAlgorithm.sha1)

# What a TLS 1.3 CertificateRequest accepts in *certificates*
# (signature_algorithms_cert, RFC 8446 §4.2.3): PKCS#1 too, which is what CAs
# sign with. CertificateVerify stays governed by signature_algorithms.
CERTIFICATE_SIGNATURE_SCHEMES = tuple(SIGNATURE_SCHEMES.values())


def pick_server_signature(
    settings: Any,
    client_hello: Any,
    cert_chain: Any,
    private_key: Any,
    version: tuple[int, int],
    check_alt: bool,
    preference: tuple[int, ...],
) -> tuple[str | None, Any, Any]:
    """The scheme the server signs with, and the (chain, key) to sign with.

    tlslite's ``_pickServerKeyExchangeSig`` with three differences:

    - a TLS 1.2 ClientHello without ``signature_algorithms`` gets
      ``handshake_failure`` (RFC 9155 §4) instead of a SHA-1 signature (RFC
      5246 §7.4.1.4.1's old default);
    - only schemes the key can produce are considered (tlslite has the
      check but its server never passes the key: a 1024-bit RSA key was
      asked for ``rsa_pss_rsae_sha512`` and failed with internal_error);
    - the server's ``preference`` (code points) decides the order, and a
      scheme not listed there is never used.
    """
    extension = client_hello.getExtension(ExtensionType.signature_algorithms)
    if version > (3, 3) and not extension:
        return None, cert_chain, private_key  # PSK: nothing is signed
    offered = extension.sigalgs if extension is not None else None
    if not offered:
        raise TLSHandshakeFailure("the client sent no signature_algorithms; purekong never signs with SHA-1 (RFC 9155 §4)")
    rank = {code: index for index, code in enumerate(preference)}
    alternatives = (
        ((X509CertChain(pair.certificates), pair.key) for host in settings.virtual_hosts for pair in host.keys)
        if check_alt
        else ()
    )
    for certs, key in chain([(cert_chain, private_key)], alternatives):
        ours = TLSConnection._sigHashesToList(settings, privateKey=key, certList=certs, version=version)
        usable = [s for s in ours if _code(s) in rank and s[0] not in _FORBIDDEN_HASHES]
        for scheme in sorted(usable, key=lambda s: rank[_code(s)]):
            if scheme in offered:
                name = SignatureScheme.toRepr(scheme)
                if not name and scheme[1] in (SignatureAlgorithm.rsa, SignatureAlgorithm.ecdsa):
                    name = HashAlgorithm.toRepr(scheme[0])
                if name:
                    return name, certs, key
    raise TLSHandshakeFailure("No common signature algorithms")


def scheme_code(name: str | None, key: Any) -> int | None:
    """The code point of what pick_server_signature chose (TLS 1.2 RSA/ECDSA come back as a hash name)."""
    if name is None:
        return None
    if name in SIGNATURE_SCHEMES:
        return SIGNATURE_SCHEMES[name]
    signature = SignatureAlgorithm.ecdsa if getattr(key, "key_type", "") == "ecdsa" else SignatureAlgorithm.rsa
    code: int = (getattr(HashAlgorithm, name) << 8) | signature
    return code


def offered_schemes(client_hello: Any) -> tuple[int, ...]:
    extension = client_hello.getExtension(ExtensionType.signature_algorithms)
    return tuple(_code(s) for s in extension.sigalgs) if extension is not None and extension.sigalgs else ()


def certificate_request_extension() -> Any:
    """``signature_algorithms_cert`` for a TLS 1.3 CertificateRequest."""
    schemes = [(code >> 8, code & 0xFF) for code in CERTIFICATE_SIGNATURE_SCHEMES]
    return SignatureAlgorithmsCertExtension().create(schemes)


def _code(scheme: tuple[int, int]) -> int:
    return (scheme[0] << 8) | scheme[1]


def tls13_change_cipher_spec_problem(payload: bytes, already_seen: bool, handshake_done: bool) -> str | None:
    """Why a plaintext TLS 1.3 ChangeCipherSpec record must be refused, or None.

    RFC 8446 §5: the compatibility CCS is the single byte 0x01 and is
    dropped; any other value is unexpected_message, and so is a CCS after
    the peer's Finished. As in BoringSSL, only one is tolerated: tlslite
    dropped any number (and answered ``01 01`` with decode_error).
    """
    if payload != b"\x01":
        return "ChangeCipherSpec record other than the single byte 0x01"
    if handshake_done:
        return "ChangeCipherSpec after the handshake"
    if already_seen:
        return "second ChangeCipherSpec"
    return None
