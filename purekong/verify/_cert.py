"""What OpenSSL caches about one certificate before it verifies a chain.

OpenSSL decodes the extensions of each certificate once
(``ossl_x509v3_cache_extensions`` in crypto/x509/v3_purp.c) into flags that
chain building and checking then consult. ``Cert`` is that cache, computed
from a ``cryptography`` certificate, plus the few predicates x509_vfy.c calls
on it (``X509_self_signed``, ``X509_check_akid``, ``X509_cmp``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from ._der import read_parts

# X509_supported_extension(): a critical extension outside this list makes
# OpenSSL report "unhandled critical extension". Note that critical
# authority/subject key identifiers are *not* in it.
_SUPPORTED_CRITICAL = frozenset(
    x509.ObjectIdentifier(oid)
    for oid in (
        "2.16.840.1.113730.1.1",  # Netscape cert type
        "2.5.29.15",  # keyUsage
        "2.5.29.17",  # subjectAltName
        "2.5.29.19",  # basicConstraints
        "2.5.29.32",  # certificatePolicies
        "2.5.29.31",  # cRLDistributionPoints
        "2.5.29.37",  # extKeyUsage
        "1.3.6.1.5.5.7.1.7",  # RFC 3779 IP address blocks
        "1.3.6.1.5.5.7.1.8",  # RFC 3779 AS identifiers
        "1.3.6.1.5.5.7.48.1.5",  # OCSP no-check
        "2.5.29.36",  # policyConstraints
        "1.3.6.1.5.5.7.1.14",  # proxyCertInfo
        "2.5.29.30",  # nameConstraints
        "2.5.29.33",  # policyMappings
        "2.5.29.54",  # inhibitAnyPolicy
    )
)

# Signature algorithm -> the public key type that makes it (OBJ_find_sigid_algs).
# RSASSA-PSS counts as "rsa": OpenSSL accepts it from an RSA key. A signature
# OID missing here is one OpenSSL cannot tie to a key type, so no certificate
# can be its issuer.
_O = SignatureAlgorithmOID
SIG_KEY_TYPE = {
    _O.RSA_WITH_MD5: "rsa", _O.RSA_WITH_SHA1: "rsa", _O.RSA_WITH_SHA224: "rsa",
    _O.RSA_WITH_SHA256: "rsa", _O.RSA_WITH_SHA384: "rsa", _O.RSA_WITH_SHA512: "rsa",
    _O.RSA_WITH_SHA3_224: "rsa", _O.RSA_WITH_SHA3_256: "rsa",
    _O.RSA_WITH_SHA3_384: "rsa", _O.RSA_WITH_SHA3_512: "rsa",
    _O.RSASSA_PSS: "rsa",
    _O.ECDSA_WITH_SHA1: "ec", _O.ECDSA_WITH_SHA224: "ec", _O.ECDSA_WITH_SHA256: "ec",
    _O.ECDSA_WITH_SHA384: "ec", _O.ECDSA_WITH_SHA512: "ec",
    _O.ECDSA_WITH_SHA3_224: "ec", _O.ECDSA_WITH_SHA3_256: "ec",
    _O.ECDSA_WITH_SHA3_384: "ec", _O.ECDSA_WITH_SHA3_512: "ec",
    _O.DSA_WITH_SHA1: "dsa", _O.DSA_WITH_SHA224: "dsa", _O.DSA_WITH_SHA256: "dsa",
    _O.DSA_WITH_SHA384: "dsa", _O.DSA_WITH_SHA512: "dsa",
    _O.ED25519: "ed25519", _O.ED448: "ed448",
}

_ASCII_SPACE = " \t\n\v\f\r"
# ASN.1 string types that X509_NAME_cmp compares case- and space-insensitively
# (ASN1_MASK_CANON): UTF8, BMP, Universal, Printable, T61, IA5, Visible.
_CANON_TYPES = frozenset({12, 30, 28, 19, 20, 22, 26})


def _canon_string(value: str) -> str:
    """asn1_string_canon(): trim, collapse whitespace runs, lower-case ASCII."""
    words = value.strip(_ASCII_SPACE)
    out, in_space = [], False
    for ch in words:
        if ch in _ASCII_SPACE:
            if not in_space:
                out.append(" ")
            in_space = True
            continue
        in_space = False
        out.append(ch.lower() if ch < "\x80" else ch)
    return "".join(out)


def canonical_name(name: x509.Name) -> tuple:
    """A key equal for two names exactly when OpenSSL's X509_NAME_cmp says so."""
    rdns = []
    for rdn in name.rdns:
        attrs: set[tuple[str, Any, Any]] = set()
        for attr in rdn:
            tag = getattr(attr, "_type", None)
            tag = getattr(tag, "value", tag)
            if isinstance(attr.value, str) and tag in _CANON_TYPES:
                attrs.add((attr.oid.dotted_string, "s", _canon_string(attr.value)))
            else:
                attrs.add((attr.oid.dotted_string, tag, attr.value))
        rdns.append(frozenset(attrs))
    return tuple(rdns)


def _key_type(key: Any) -> str | None:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return None  # X25519/X448 and friends: cannot sign anything


@dataclass(eq=False)
class Cert:
    """One certificate with what OpenSSL's extension cache knows about it."""

    cert: x509.Certificate
    der: bytes
    subject: tuple
    issuer: tuple
    tbs: bytes  # the signed part, exactly as received
    sig_oid: x509.ObjectIdentifier  # the algorithm named inside the signed part
    sig_algs_match: bool  # ...and the same as the one outside it
    not_before: datetime | None  # None: not in a form OpenSSL accepts
    not_after: datetime | None
    public_key: Any  # None when OpenSSL would have no EVP_PKEY (unsupported key)
    # --- the ex_flags / ex_* fields of OpenSSL's cache ---
    v1: bool = False  # EXFLAG_V1: an X.509 version 1 certificate
    invalid: bool = False  # EXFLAG_INVALID: an extension OpenSSL cannot use
    critical_unhandled: bool = False  # EXFLAG_CRITICAL
    has_bc: bool = False  # EXFLAG_BCONS
    ca: bool = False  # EXFLAG_CA
    pathlen: int = -1  # ex_pathlen, -1 when absent
    key_usage: frozenset[str] | None = None  # None when the extension is absent
    ext_key_usage: frozenset | None = None  # None when the extension is absent
    skid: bytes | None = None
    akid: x509.AuthorityKeyIdentifier | None = None
    name_constraints: x509.NameConstraints | None = None  # x->nc

    @classmethod
    def load(cls, item: bytes | x509.Certificate) -> Cert:
        """Parse DER (or take a parsed cert). Raises ValueError when it does
        not parse, even with malformed validity times set aside."""
        if isinstance(item, x509.Certificate):
            der = item.public_bytes(serialization.Encoding.DER)
        else:
            der = bytes(item)
        try:
            parts = read_parts(der)
        except (ValueError, IndexError):
            parts = None  # not DER we can walk: let cryptography judge
        if isinstance(item, x509.Certificate):
            cert = item
        else:
            cert = x509.load_der_x509_certificate(parts.parseable_der if parts else der)
        try:
            public_key = cert.public_key()
        except Exception:  # unsupported algorithm or malformed key
            public_key = None
        self = cls(
            cert=cert,
            der=der,
            subject=canonical_name(cert.subject),
            issuer=canonical_name(cert.issuer),
            tbs=parts.tbs if parts else cert.tbs_certificate_bytes,
            sig_oid=x509.ObjectIdentifier(parts.inner_algorithm) if parts else cert.signature_algorithm_oid,
            sig_algs_match=parts.algorithms_match if parts else True,
            not_before=cert.not_valid_before_utc if not parts or parts.not_before_ok else None,
            not_after=cert.not_valid_after_utc if not parts or parts.not_after_ok else None,
            public_key=public_key,
        )
        self._cache_extensions()
        return self

    def _cache_extensions(self) -> None:
        self.v1 = self.cert.version == x509.Version.v1
        try:
            extensions = list(self.cert.extensions)
        except Exception:
            # cryptography refuses malformed or duplicated extensions as a
            # whole; OpenSSL marks such a certificate EXFLAG_INVALID.
            self.invalid = True
            return
        for ext in extensions:
            value = ext.value
            if ext.critical and ext.oid not in _SUPPORTED_CRITICAL:
                self.critical_unhandled = True
            if ext.oid == ExtensionOID.BASIC_CONSTRAINTS:
                self.has_bc, self.ca = True, value.ca
                if value.path_length is not None:
                    self.pathlen = value.path_length
            elif ext.oid == ExtensionOID.KEY_USAGE:
                self.key_usage = _key_usage_bits(value)
                if not self.key_usage:  # RFC 5280 4.2.1.3: empty key usage
                    self.invalid = True
            elif ext.oid == ExtensionOID.EXTENDED_KEY_USAGE:
                self.ext_key_usage = frozenset(value)
            elif ext.oid == ExtensionOID.SUBJECT_KEY_IDENTIFIER:
                self.skid = value.digest
            elif ext.oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
                self.akid = value
            elif ext.oid == ExtensionOID.NAME_CONSTRAINTS:
                self.name_constraints = value

    # --- predicates of x509_vfy.c / v3_purp.c ---

    @property
    def self_issued(self) -> bool:
        """EXFLAG_SI: subject and issuer names match."""
        return self.subject == self.issuer

    @property
    def sig_key_type(self) -> str | None:
        return SIG_KEY_TYPE.get(self.sig_oid)

    def check_akid(self, akid: x509.AuthorityKeyIdentifier | None) -> bool:
        """X509_check_akid(self, akid): could ``self`` be the issuer named by akid?"""
        if akid is None:
            return True
        if akid.key_identifier is not None and self.skid is not None:
            if akid.key_identifier != self.skid:
                return False
        if akid.authority_cert_serial_number is not None:
            if akid.authority_cert_serial_number != self.cert.serial_number:
                return False
        for general_name in akid.authority_cert_issuer or ():
            if isinstance(general_name, x509.DirectoryName):
                # OpenSSL compares with the issuer's *issuer* name.
                return canonical_name(general_name.value) == self.issuer
        return True

    def sig_alg_matches_key_of(self, issuer: Cert) -> bool:
        """check_sig_alg_match(): our signature algorithm fits issuer's key type."""
        wanted = self.sig_key_type
        return wanted is not None and wanted == _key_type(issuer.public_key)

    def likely_issued_by(self, issuer: Cert) -> bool:
        """ossl_x509_likely_issued(issuer, self): names, AKID and key type agree.

        This is OpenSSL's check_issued(); it does not look at the signature.
        """
        if issuer.subject != self.issuer:
            return False
        if issuer.invalid or self.invalid:
            return False
        return issuer.check_akid(self.akid) and self.sig_alg_matches_key_of(issuer)

    def self_signed(self) -> int:
        """X509_self_signed(x, 0): 1, 0, or -1 (no key, or invalid extensions)."""
        if self.public_key is None or self.invalid:
            return -1
        ss = self.self_issued and self.check_akid(self.akid) and self.sig_alg_matches_key_of(self)
        return 1 if ss else 0

    def time_ok(self, now: datetime) -> bool:
        """ossl_x509_check_cert_time(ctx, x, -1) with OpenSSL 3.4's comparisons."""
        if self.not_before is None or self.not_after is None:
            return False
        return self.not_before <= now < self.not_after

    def expires_after(self, other: Cert) -> bool:
        """ASN1_TIME_compare(notAfter, other's notAfter) > 0; false if either is malformed."""
        if self.not_after is None or other.not_after is None:
            return False
        return self.not_after > other.not_after

    def same_as(self, other: Cert) -> bool:
        """X509_cmp(): the same encoded certificate."""
        return self.der == other.der

    def signature_verifies_with(self, issuer: Cert) -> bool:
        """X509_verify(self, issuer's key)."""
        if not self.sig_algs_match:
            return False  # X509_verify() refuses before looking at the key
        key, cert = issuer.public_key, self.cert
        data, signature = self.tbs, cert.signature
        try:
            if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
                key.verify(signature, data)
                return True
            digest = cert.signature_hash_algorithm
            if digest is None:
                return False  # only Ed25519/Ed448 sign without a digest
            if isinstance(key, rsa.RSAPublicKey):
                # PSS parameters when the algorithm says so; cryptography has
                # none for legacy digests such as SHA-1, which are PKCS #1 v1.5.
                pad = cert.signature_algorithm_parameters
                if not isinstance(pad, (padding.PSS, padding.PKCS1v15)):
                    pad = padding.PKCS1v15()
                key.verify(signature, data, pad, digest)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(digest))
            elif isinstance(key, dsa.DSAPublicKey):
                key.verify(signature, data, digest)
            else:
                return False
        except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
            return False
        return True


def _key_usage_bits(ku: x509.KeyUsage) -> frozenset[str]:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign"]
    bits = {name for name in names if getattr(ku, name)}
    # cryptography only exposes these two with keyAgreement; OpenSSL counts
    # them regardless (a keyUsage of just decipherOnly is not "empty").
    bits |= {name for name in ("encipher_only", "decipher_only") if getattr(ku, "_" + name, False)}
    return frozenset(bits)
