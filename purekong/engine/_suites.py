"""The cipher suites, groups and versions purekong speaks, and their names.

Only AEAD suites with ECDHE (or TLS 1.3) are listed: anything else is a
deliberate non-feature (see docs/manual.md).
"""

from __future__ import annotations

from typing import NamedTuple


class Suite(NamedTuple):
    code: int
    iana: str
    openssl: str
    cipher: str  # the bulk cipher, as ServerConfig.ciphers names it
    version: str  # "TLSv1.3" or "TLSv1.2"


SUITES = (
    Suite(0x1302, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", "AES_256_GCM", "TLSv1.3"),
    Suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305", "TLSv1.3"),
    Suite(0x1301, "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", "AES_128_GCM", "TLSv1.3"),
    Suite(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", "AES_256_GCM", "TLSv1.2"),
    Suite(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "AES_256_GCM", "TLSv1.2"),
    Suite(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", "CHACHA20_POLY1305", "TLSv1.2"),
    Suite(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "CHACHA20_POLY1305", "TLSv1.2"),
    Suite(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "AES_128_GCM", "TLSv1.2"),
    Suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "AES_128_GCM", "TLSv1.2"),
)

BY_CODE = {suite.code: suite for suite in SUITES}
BY_IANA = {suite.iana: suite for suite in SUITES}

# OpenSSL's default TLS 1.3 order; TLS 1.2 follows the same preference.
DEFAULT_CIPHERS = ("AES_256_GCM", "CHACHA20_POLY1305", "AES_128_GCM")
CIPHERS = frozenset(DEFAULT_CIPHERS)

DEFAULT_GROUPS = ("x25519", "secp256r1", "secp384r1")
GROUPS = {"x25519": 0x001D, "secp256r1": 0x0017, "secp384r1": 0x0018}

# Signature schemes a server signs with (RFC 8446 §4.2.3 code points), in
# OpenSSL 3's default order: SHA-256 before the longer hashes, ECDSA and
# EdDSA before RSA, PSS before PKCS#1 (which is TLS 1.2 only). SHA-1, MD5
# and SHA-224 are not here: RFC 9155 forbids the first two in TLS 1.2.
SIGNATURE_SCHEMES = {
    "ecdsa_secp256r1_sha256": 0x0403,
    "ecdsa_secp384r1_sha384": 0x0503,
    "ecdsa_secp521r1_sha512": 0x0603,
    "ed25519": 0x0807,
    "rsa_pss_rsae_sha256": 0x0804,
    "rsa_pss_rsae_sha384": 0x0805,
    "rsa_pss_rsae_sha512": 0x0806,
    "rsa_pss_pss_sha256": 0x0809,
    "rsa_pss_pss_sha384": 0x080A,
    "rsa_pss_pss_sha512": 0x080B,
    "rsa_pkcs1_sha256": 0x0401,
    "rsa_pkcs1_sha384": 0x0501,
    "rsa_pkcs1_sha512": 0x0601,
}
DEFAULT_SIGNATURE_SCHEMES = tuple(SIGNATURE_SCHEMES)

VERSIONS = {"TLSv1.2": (3, 3), "TLSv1.3": (3, 4)}
VERSION_NAMES = {
    (3, 0): "SSLv3",
    (3, 1): "TLSv1",
    (3, 2): "TLSv1.1",
    (3, 3): "TLSv1.2",
    (3, 4): "TLSv1.3",
}


def openssl_name(iana: str) -> str:
    return BY_IANA[iana].openssl
