"""The SSL-client purpose check (X509_PURPOSE_SSL_CLIENT, crypto/x509/v3_purp.c).

A server verifying a client certificate checks each certificate of the chain
for the "SSL client" purpose: the leaf must allow TLS client authentication,
every certificate above it must be a CA that may issue such certificates.
"""

from __future__ import annotations

from cryptography.x509.oid import ExtendedKeyUsageOID

from ._cert import Cert


def check_ca(cert: Cert) -> int:
    """X509_check_ca(): 0 not a CA, 1 a CA; without basicConstraints, 3 for a
    self-signed v1 certificate and 4 when keyUsage allows keyCertSign.

    (OpenSSL's 5, for Netscape cert types, is not supported: ``cryptography``
    does not decode that extension.)
    """
    if cert.invalid:
        return 0
    if cert.key_usage is not None and "key_cert_sign" not in cert.key_usage:
        return 0
    if cert.has_bc:
        return 1 if cert.ca else 0
    if cert.v1 and cert.self_signed() > 0:  # "We support V1 roots for... uh, I don't really know why."
        return 3
    if cert.key_usage is not None:
        return 4
    return 0


def check_ssl_client(cert: Cert, require_ca: bool) -> int:
    """X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, require_ca).

    Returns 1 allowed, 0 not allowed, -1 when OpenSSL cannot decide because
    the certificate's extensions are invalid (then only strict mode fails it).
    """
    if cert.invalid:
        return -1
    eku = cert.ext_key_usage
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        return 0
    if require_ca:
        return 1 if check_ca(cert) else 0
    # The client signs (or agrees a key) with its key during the handshake.
    ku = cert.key_usage
    if ku is not None and not ku & {"digital_signature", "key_agreement"}:
        return 0
    return 1
