"""A small X.509 factory for tests: CAs, intermediates and leaves.

    root = make_ca("Kong Testing Root CA")
    inter = make_intermediate(root, "Kong Testing Intermidiate CA")
    leaf = make_leaf(inter, "foo@example.com")

Each returns an ``Issued`` (certificate + private key). Defaults follow what
``openssl req``/``openssl x509`` produce with the usual CA configuration
(basicConstraints, keyUsage, subject/authority key identifiers); every
extension can be changed or left out (pass ``None``). Keys come from a
per-process pool because key generation is slow: ``pool_key("rsa", 3)`` is
always the same key within one test session.
"""

from __future__ import annotations

import datetime as _dt
import functools
import itertools
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_TYPES = ("rsa", "ec", "ed25519")
_DEFAULT: Any = object()  # "use the default" (None means "leave it out")
_serials = itertools.count(0x1000)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: Any

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def new_key(kind: str = "ec", bits: int = 2048) -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {kind!r}")


@functools.cache
def pool_key(kind: str = "ec", index: int = 0, bits: int = 2048) -> Any:
    """The ``index``-th pooled key of a type, generated once per process."""
    return new_key(kind, bits)


def name(value: str | x509.Name) -> x509.Name:
    """An ``x509.Name`` from a bare CN or an RFC 4514 string (``CN=x,O=y,C=US``)."""
    if isinstance(value, x509.Name):
        return value
    if "=" not in value:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])
    return x509.Name.from_rfc4514_string(value)


def make_cert(
    subject: str | x509.Name,
    issuer: Issued | None,
    *,
    key: Any = None,
    signing_key: Any = None,
    ca: bool | None = _DEFAULT,
    pathlen: int | None = None,
    key_usage: set[str] | None = _DEFAULT,
    eku: list | None = None,
    days: tuple[int, int] = (-1, 365),
    hash_alg: hashes.HashAlgorithm | None = _DEFAULT,
    key_ids: bool = True,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),
    serial: int | None = None,
) -> Issued:
    """One certificate. ``issuer=None`` makes it self-signed.

    ``days`` is (not_before, not_after) relative to now. ``signing_key``
    signs with a key other than the issuer's (a forged signature). ``ca``
    is the basicConstraints cA flag (``None``: no basicConstraints).
    ``key_usage`` holds ``x509.KeyUsage`` field names (``None``: no keyUsage).
    """
    key = key if key is not None else pool_key("ec")
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    subject_name = name(subject)
    issuer_name = issuer.cert.subject if issuer else subject_name
    issuer_key = issuer.key if issuer else key
    signer = signing_key if signing_key is not None else issuer_key
    if ca is _DEFAULT:
        ca = False
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else next(_serials))
        .not_valid_before(now + _dt.timedelta(days=days[0]))
        .not_valid_after(now + _dt.timedelta(days=days[1]))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
    if key_usage is _DEFAULT:
        key_usage = {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "key_encipherment"}
    if key_usage is not None:
        builder = builder.add_extension(_key_usage(key_usage), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    if hash_alg is _DEFAULT:
        hash_alg = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, hash_alg), key)


def make_ca(subject: str | x509.Name = "Test Root CA", **kw: Any) -> Issued:
    """A self-signed root: CA:TRUE, keyUsage keyCertSign + cRLSign."""
    kw.setdefault("ca", True)
    return make_cert(subject, None, **kw)


def make_intermediate(issuer: Issued, subject: str | x509.Name = "Test Intermediate CA", **kw: Any) -> Issued:
    kw.setdefault("ca", True)
    return make_cert(subject, issuer, **kw)


def make_leaf(issuer: Issued | None, subject: str | x509.Name = "client.example.com", **kw: Any) -> Issued:
    """A TLS client certificate: CA:FALSE, digitalSignature, EKU clientAuth."""
    kw.setdefault("eku", [ExtendedKeyUsageOID.CLIENT_AUTH])
    return make_cert(subject, issuer, **kw)


def _key_usage(bits: set[str]) -> x509.KeyUsage:
    fields = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    unknown = set(bits) - set(fields)
    if unknown:
        raise ValueError(f"unknown key usage {sorted(unknown)}")
    return x509.KeyUsage(**{f: f in bits for f in fields})
