"""Everything a scenario draws at random, drawn from a seed instead.

Same seed, same bytes: the keys, the certificates (fixed dates, serials from
the seed, RFC 6979 ECDSA signatures), the engines' randomness and the clock
that tickets read. This is for teaching and tests only; never for a real
connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass
from typing import Iterator
from unittest import mock

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from purekong._deterministic import seeded_random_source

#: The instant every scenario happens at (tickets carry their creation time).
SCENARIO_TIME = 1_767_225_600.0  # 2026-01-01T00:00:00Z
_NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
_NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.timezone.utc)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derive_bytes(seed: bytes, label: str, n: int = 32) -> bytes:
    return seeded_random_source(seed + b"/" + label.encode())(n)


def p256_key(seed: bytes, label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(derive_bytes(seed, label, 40), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ScenarioPKI:
    ca: Issued  # signs the server and the client
    other_ca: Issued  # a second CA named in the CertificateRequest's DN list
    server: Issued  # CN localhost
    client: Issued  # CN inspect client, clientAuth


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "purekong inspect"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(seed: bytes, cn: str, key: ec.EllipticCurvePrivateKey, issuer: Issued | None, *, ca: bool = False,
           usage: x509.ObjectIdentifier | None = None, san: str | None = None) -> Issued:
    issuer_name = issuer.cert.subject if issuer else _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(derive_bytes(seed, "serial " + cn, 16), "big") >> 1 | 1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=True), key)


def scenario_pki(seed: bytes) -> ScenarioPKI:
    ca = _issue(seed, "purekong inspect CA", p256_key(seed, "ca"), None, ca=True)
    other = _issue(seed, "another CA", p256_key(seed, "other ca"), None, ca=True)
    server = _issue(seed, "localhost", p256_key(seed, "server"), ca, usage=ExtendedKeyUsageOID.SERVER_AUTH, san="localhost")
    client = _issue(seed, "inspect client", p256_key(seed, "client"), ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return ScenarioPKI(ca, other, server, client)


@contextlib.contextmanager
def frozen_clock() -> Iterator[None]:
    """``time.time()`` reads SCENARIO_TIME while a scenario runs.

    Tickets carry their creation time and age, so without this two runs
    with one seed would differ in the NewSessionTicket. Only the scenarios
    (run by one command, in one thread) use it.
    """
    with mock.patch.object(time, "time", lambda: SCENARIO_TIME):
        yield
