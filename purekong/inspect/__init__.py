"""``purekong inspect``: read TLS handshakes, byte by byte and key by key.

The data model is :class:`Recording` (frozen dataclasses, JSON with a
versioned schema, see ``docs/inspect-schema.md``). Build one from the bytes
each side sent and a key log:

>>> from purekong.inspect import Recording, CLIENT_TO_SERVER
>>> rec = Recording.from_transcript([(CLIENT_TO_SERVER, bytes.fromhex("1503030002022800"))])
>>> rec.alerts[0].name, rec.findings[0].kind
('handshake_failure', 'truncated')

The core, in three parts, none of which imports tlslite (a second,
independent reading of what the engine put on the wire):

- the dissector: :func:`dissect_handshake` and :func:`dissect_record` give a
  tree of :class:`Field` s with byte spans, IANA names and RFC sections;
- the key schedule, recomputed with ``cryptography`` from the (EC)DHE secret
  (the engine's ``trace=`` reports it) or from a key log, as
  ``Recording.key_schedule``; every record is opened with it, the Finished
  MACs and binders are checked, and each disagreement is a ``Finding``;
- RFC 8448 read offline: ``rfc8448(3)`` is a Recording and
  ``rfc8448_checks(3)`` puts every value the RFC prints beside the
  inspector's.

>>> from purekong.inspect import rfc8448_checks
>>> all(check.ok for check in rfc8448_checks(5))
True
"""

from ._recording import (
    CLIENT_TO_SERVER,
    DIRECTIONS,
    EPOCH_APPLICATION,
    EPOCH_EARLY,
    EPOCH_HANDSHAKE,
    EPOCH_PLAINTEXT,
    EPOCH_UNKNOWN,
    SCHEMA_VERSION,
    SERVER_TO_CLIENT,
    Alert,
    CertificatePhase,
    Decision,
    Decryption,
    Endpoint,
    Finding,
    HandshakeMessage,
    KeyDerivation,
    Record,
    Recording,
    RecordingFormatError,
    Secret,
    application_epoch,
)
from ._dissect import Field, check_tiling, dissect_alert, dissect_handshake, dissect_record, encode
from ._rfc8448 import Check, RFC8448Error, rfc8448, rfc8448_checks
from ._transcript import parse_keylog

__all__ = [
    "CLIENT_TO_SERVER",
    "DIRECTIONS",
    "EPOCH_APPLICATION",
    "EPOCH_EARLY",
    "EPOCH_HANDSHAKE",
    "EPOCH_PLAINTEXT",
    "EPOCH_UNKNOWN",
    "SCHEMA_VERSION",
    "SERVER_TO_CLIENT",
    "Alert",
    "Check",
    "CertificatePhase",
    "Decision",
    "Decryption",
    "Endpoint",
    "Field",
    "Finding",
    "HandshakeMessage",
    "KeyDerivation",
    "Record",
    "Recording",
    "RFC8448Error",
    "RecordingFormatError",
    "Secret",
    "application_epoch",
    "check_tiling",
    "dissect_alert",
    "dissect_handshake",
    "dissect_record",
    "encode",
    "parse_keylog",
    "rfc8448",
    "rfc8448_checks",
]
