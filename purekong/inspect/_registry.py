"""IANA TLS registry names, as the registries spell them.

Sources: the IANA "Transport Layer Security (TLS) Parameters" and "TLS
ExtensionType Values" registries. Values missing here are shown as
``unknown(N)`` (or ``GREASE`` for RFC 8701's reserved values), never dropped.

>>> cipher_suite_name(0x1301), group_name(0x001d), extension_name(0x0a0a)
('TLS_AES_128_GCM_SHA256', 'x25519', 'GREASE')
"""

from __future__ import annotations

#: ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data", 24: "heartbeat"}

HANDSHAKE_TYPES = {
    0: "hello_request", 1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
    4: "new_session_ticket", 5: "end_of_early_data", 6: "hello_retry_request", 8: "encrypted_extensions",
    11: "certificate", 12: "server_key_exchange", 13: "certificate_request", 14: "server_hello_done",
    15: "certificate_verify", 16: "client_key_exchange", 20: "finished", 21: "certificate_url",
    22: "certificate_status", 23: "supplemental_data", 24: "key_update", 25: "compressed_certificate",
    254: "message_hash",
}  # fmt: skip

ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
    50: "decode_error", 51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
    111: "certificate_unobtainable", 112: "unrecognized_name", 113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}  # fmt: skip

ALERT_LEVELS = {1: "warning", 2: "fatal"}

CIPHER_SUITES = {
    0x0000: "TLS_NULL_WITH_NULL_NULL",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256", 0x1305: "TLS_AES_128_CCM_8_SHA256",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}  # fmt: skip

GROUPS = {
    0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001D: "x25519", 0x001E: "x448",
    0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x0103: "ffdhe6144", 0x0104: "ffdhe8192",
    0x001F: "brainpoolP256r1tls13", 0x0020: "brainpoolP384r1tls13", 0x0021: "brainpoolP512r1tls13",
    0x11EC: "X25519MLKEM768", 0x11EB: "SecP256r1MLKEM768", 0x6399: "X25519Kyber768Draft00",
}  # fmt: skip

SIGNATURE_SCHEMES = {
    0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0202: "dsa_sha1 (legacy)",
    0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384", 0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384", 0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256", 0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
    0x0402: "dsa_sha256 (legacy)", 0x0502: "dsa_sha384 (legacy)", 0x0602: "dsa_sha512 (legacy)",
    0x0301: "rsa_sha224 (legacy)", 0x0303: "ecdsa_sha224 (legacy)", 0x0302: "dsa_sha224 (legacy)",
}  # fmt: skip

EXTENSIONS = {
    0: "server_name", 1: "max_fragment_length", 2: "client_certificate_url", 3: "trusted_ca_keys",
    4: "truncated_hmac", 5: "status_request", 6: "user_mapping", 7: "client_authz", 8: "server_authz",
    9: "cert_type", 10: "supported_groups", 11: "ec_point_formats", 12: "srp", 13: "signature_algorithms",
    14: "use_srtp", 15: "heartbeat", 16: "application_layer_protocol_negotiation",
    17: "status_request_v2", 18: "signed_certificate_timestamp", 19: "client_certificate_type",
    20: "server_certificate_type", 21: "padding", 22: "encrypt_then_mac", 23: "extended_master_secret",
    24: "token_binding", 25: "cached_info", 27: "compress_certificate", 28: "record_size_limit",
    34: "delegated_credential", 35: "session_ticket", 41: "pre_shared_key", 42: "early_data",
    43: "supported_versions", 44: "cookie", 45: "psk_key_exchange_modes", 47: "certificate_authorities",
    48: "oid_filters", 49: "post_handshake_auth", 50: "signature_algorithms_cert", 51: "key_share",
    57: "quic_transport_parameters", 17513: "application_settings", 65037: "encrypted_client_hello",
    65281: "renegotiation_info",
}  # fmt: skip

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

PSK_KEY_EXCHANGE_MODES = {0: "psk_ke", 1: "psk_dhe_ke"}
EC_POINT_FORMATS = {0: "uncompressed", 1: "ansiX962_compressed_prime", 2: "ansiX962_compressed_char2"}
KEY_UPDATE_REQUEST = {0: "update_not_requested", 1: "update_requested"}
CERTIFICATE_TYPES = {1: "rsa_sign", 2: "dss_sign", 64: "ecdsa_sign"}
CERTIFICATE_COMPRESSION = {1: "zlib", 2: "brotli", 3: "zstd"}


def is_hello_retry_request(raw: bytes) -> bool:
    """Whether a handshake message (header included) is a HelloRetryRequest."""
    return raw[:1] == b"\x02" and raw[6:38] == HRR_RANDOM


def is_grease(value: int) -> bool:
    """RFC 8701's reserved values 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _name(table: dict[int, str], value: int) -> str:
    if value in table:
        return table[value]
    return "GREASE" if is_grease(value) else f"unknown({value})"


def cipher_suite_name(value: int) -> str:
    return _name(CIPHER_SUITES, value)


def group_name(value: int) -> str:
    return _name(GROUPS, value)


def signature_scheme_name(value: int) -> str:
    return _name(SIGNATURE_SCHEMES, value)


def extension_name(value: int) -> str:
    return _name(EXTENSIONS, value)


def alert_name(value: int) -> str:
    return _name(ALERTS, value)


def handshake_type_name(value: int) -> str:
    return _name(HANDSHAKE_TYPES, value)


def content_type_name(value: int) -> str:
    return _name(CONTENT_TYPES, value)


def version_name(value: int) -> str:
    """Example:

    >>> version_name(0x0303), version_name(0x7f1c)
    ('TLS 1.2', 'unknown(32540)')
    """
    return _name(VERSIONS, value)
