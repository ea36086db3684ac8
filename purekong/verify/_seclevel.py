"""OpenSSL's security level as it applies to certificate chains.

``ssl_verify_cert_chain`` sets the verification "auth level" to the
connection's security level. OpenSSL 3.2 raised the default level from 1 to 2,
and nginx/Kong do not change it, so chains are checked at level 2: keys and
signature digests need at least 112 bits of security.
"""

from __future__ import annotations

import math
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import SignatureAlgorithmOID

from ._cert import SIG_KEY_TYPE

SECURITY_LEVEL = 2
_MIN_BITS = {1: 80, 2: 112, 3: 128, 4: 192, 5: 256}


def min_bits(level: int = SECURITY_LEVEL) -> int:
    return _MIN_BITS.get(level, 0)


def _ifc_ffc_bits(n: int) -> int:
    """ossl_ifc_ffc_compute_security_bits(): NIST SP 800-56B estimate for RSA/DSA."""
    standard = {2048: 112, 3072: 128, 4096: 152, 6144: 176, 7680: 192, 8192: 200, 15360: 256}
    if n in standard:
        return standard[n]
    if n < 8:
        return 0
    cap = 192 if n <= 7680 else 256 if n <= 15360 else 1200
    x = n * math.log(2)
    y = (1.923 * (x * math.log(x) ** 2) ** (1 / 3) - 4.69) / math.log(2)
    return min((int(y) + 4) & ~7, cap)


def key_security_bits(key: Any) -> int:
    """EVP_PKEY_get_security_bits(); 0 for a key OpenSSL would not have."""
    if isinstance(key, rsa.RSAPublicKey):
        return _ifc_ffc_bits(key.key_size)
    if isinstance(key, dsa.DSAPublicKey):
        n = key.parameters().parameter_numbers().q.bit_length()
        return min(_ifc_ffc_bits(key.key_size), n // 2)
    if isinstance(key, ec.EllipticCurvePublicKey):
        order_bits = key.curve.key_size  # the group order has as many bits for named curves
        for limit, bits in ((512, 256), (384, 192), (256, 128), (224, 112), (160, 80)):
            if order_bits >= limit:
                return bits
        return 0
    if isinstance(key, (ed25519.Ed25519PublicKey, x25519.X25519PublicKey)):
        return 128
    if isinstance(key, (ed448.Ed448PublicKey, x448.X448PublicKey)):
        return 224
    return 0


def signature_security_bits(cert: x509.Certificate) -> int:
    """x509_init_sig_info()'s secbits: half the digest size, less for SHA-1/MD5.

    0 means OpenSSL would have no signature info, which fails any level.
    """
    oid = cert.signature_algorithm_oid
    if oid == SignatureAlgorithmOID.ED25519:
        return 128
    if oid == SignatureAlgorithmOID.ED448:
        return 224
    if oid not in SIG_KEY_TYPE:
        return 0
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:
        return 0
    if isinstance(algorithm, hashes.SHA1):
        return 63  # "SHA1 and MD5 are known to be broken"
    if isinstance(algorithm, hashes.MD5):
        return 39
    return algorithm.digest_size * 4 if algorithm is not None else 0
