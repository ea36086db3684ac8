"""A development PKI made on the spot: a CA, a localhost server certificate
and a client certificate, all EC P-256.

Used by ``purekong serve``'s embedded default (written to its state
directory), ``purekong demo`` and ``purekong.testing``. Never for production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class DevPKI:
    ca: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    server: x509.Certificate  # CN/SAN localhost, 127.0.0.1, ::1
    server_key: ec.EllipticCurvePrivateKey
    client: x509.Certificate  # CN=purekong dev client, clientAuth
    client_key: ec.EllipticCurvePrivateKey


def make_dev_pki(*, ca_days: int = 3650, days: int = 365) -> DevPKI:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("purekong dev CA", ca_key, None, None, days=ca_days, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = issue(
        "localhost", server_key, ca, ca_key, days=days,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue("purekong dev client", client_key, ca, ca_key, days=days, client=True)
    return DevPKI(ca, ca_key, server, server_key, client, client_key)


def dev_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "purekong development"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject: str, key, issuer_cert, issuer_key, *, days: int, ca: bool = False, sans=(), client: bool = False) -> x509.Certificate:
    """A certificate as ``openssl`` would make it with the usual CA profile."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(dev_name(subject))
        .issuer_name(issuer_cert.subject if issuer_cert is not None else dev_name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_key_usage(ca), critical=True)
    )
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if issuer_cert is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )
