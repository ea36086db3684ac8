"""TLS alert codes (RFC 8446 §6, RFC 5246 §7.2) and the protocol errors that carry them."""

from __future__ import annotations

import enum


class AlertLevel(enum.IntEnum):
    warning = 1
    fatal = 2


class AlertDescription(enum.IntEnum):
    close_notify = 0
    unexpected_message = 10
    bad_record_mac = 20
    record_overflow = 22
    handshake_failure = 40
    bad_certificate = 42
    unsupported_certificate = 43
    certificate_revoked = 44
    certificate_expired = 45
    certificate_unknown = 46
    illegal_parameter = 47
    unknown_ca = 48
    access_denied = 49
    decode_error = 50
    decrypt_error = 51
    protocol_version = 70
    insufficient_security = 71
    internal_error = 80
    inappropriate_fallback = 86
    user_canceled = 90
    no_renegotiation = 100
    missing_extension = 109
    unsupported_extension = 110
    unrecognized_name = 112
    bad_certificate_status_response = 113
    unknown_psk_identity = 115
    certificate_required = 116
    no_application_protocol = 120

    @classmethod
    def from_code(cls, code: int) -> "AlertDescription | int":
        try:
            return cls(code)
        except ValueError:
            return code


class ProtocolError(Exception):
    """A TLS connection failed.

    ``alert`` is the fatal alert that was queued for the peer (already in
    ``data_to_send()``), or ``None`` when nothing is sent (API misuse, or the
    peer's own alert ended the connection).
    """

    def __init__(self, message: str, alert: AlertDescription | None = None) -> None:
        super().__init__(message)
        self.alert = alert


class LocalProtocolError(ProtocolError):
    """The application did something the connection's state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol (or the handshake could not be agreed)."""
