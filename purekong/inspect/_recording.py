"""The recording: everything one TLS connection showed, as frozen dataclasses.

A :class:`Recording` is what every view of ``purekong inspect`` reads: the
records each side sent (raw, and once decrypted the inner type, padding,
sequence number, nonce, additional data, tag and plaintext), the handshake
messages they carried, the secrets (NSS key-log names and every other value
of the key schedule), the key schedule as a tree of derivations, the
decisions with their reasons, the certificate phase, the alerts, and the
inspector's own findings (mismatches, missing keys, undecryptable records).

It round-trips through JSON (``to_json()`` / ``Recording.from_json()``) with
the versioned schema of ``docs/inspect-schema.md``: bytes are lowercase hex,
tuples are lists, absent optional values are ``null``.

>>> rec = Recording(client=Peer("client"), server=Peer("server"))
>>> Recording.from_json(rec.to_json()) == rec
True

Recordings are built by :meth:`Recording.from_transcript` from the bytes each
side sent plus a key log, without the engine's help.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ._registry import alert_name, handshake_type_name

SCHEMA_VERSION = 2
"""Bumped on any change a reader of older recordings would misread.

2 added ``Decision.details``; a version-1 recording is read as one whose
decisions have none (and is written back as version 2)."""
READABLE_SCHEMA_VERSIONS = (1, 2)

CLIENT_TO_SERVER = "client_to_server"
SERVER_TO_CLIENT = "server_to_client"
DIRECTIONS = (CLIENT_TO_SERVER, SERVER_TO_CLIENT)

EPOCH_PLAINTEXT = "plaintext"
EPOCH_EARLY = "early"
EPOCH_HANDSHAKE = "handshake"
EPOCH_APPLICATION = "application"
EPOCH_UNKNOWN = "unknown"
"""An encrypted record no known key opened."""


def application_epoch(generation: int) -> str:
    """The epoch name of application data after ``generation`` KeyUpdates.

    >>> application_epoch(0), application_epoch(2)
    ('application', 'application_2')
    """
    return EPOCH_APPLICATION if generation == 0 else f"{EPOCH_APPLICATION}_{generation}"


@dataclass(frozen=True)
class Peer:
    """One end of the connection: ``role`` is "client" or "server" (JSON: ``endpoint``)."""

    role: str
    address: str | None = None  # "host:port" when known
    implementation: str | None = None  # e.g. "purekong 0.1.0", "openssl s_server"


@dataclass(frozen=True)
class Decryption:
    """What opening one protected record showed (RFC 8446 §5.2, RFC 5288 §3).

    ``padding_length`` counts the zero bytes after the inner content type
    (always 0 in TLS 1.2, where ``inner_content_type`` is the outer type).
    """

    inner_content_type: int
    padding_length: int
    sequence_number: int
    nonce: bytes
    additional_data: bytes
    tag: bytes
    plaintext: bytes
    key_label: str = ""  # the secret whose keys opened it, e.g. "SERVER_HANDSHAKE_TRAFFIC_SECRET"


@dataclass(frozen=True)
class Record:
    """One TLS record as it crossed the wire (RFC 8446 §5.1).

    ``index`` is its position among all records of the connection in the
    order they were seen; ``offset`` is where it starts in the byte stream
    of its direction. ``raw`` includes the 5-byte header. A record cut short
    by the end of the capture has ``truncated`` set and keeps what arrived.
    """

    index: int
    direction: str
    offset: int
    raw: bytes
    epoch: str = EPOCH_PLAINTEXT
    decrypted: Decryption | None = None
    truncated: bool = False

    @property
    def content_type(self) -> int:
        """The outer content type (23 for every protected TLS 1.3 record)."""
        return self.raw[0] if self.raw else 0

    @property
    def legacy_version(self) -> int:
        return int.from_bytes(self.raw[1:3], "big") if len(self.raw) >= 3 else 0

    @property
    def fragment(self) -> bytes:
        """The record body after the header (ciphertext when protected)."""
        return self.raw[5:]

    @property
    def content(self) -> bytes:
        """The record's content: the plaintext once decrypted, else the body."""
        return self.decrypted.plaintext if self.decrypted is not None else self.fragment

    @property
    def inner_content_type(self) -> int:
        """The real content type: the inner one once decrypted, else the outer."""
        return self.decrypted.inner_content_type if self.decrypted is not None else self.content_type


@dataclass(frozen=True)
class HandshakeMessage:
    """One handshake message, reassembled from the records in ``records``.

    ``raw`` includes the 4-byte handshake header (RFC 8446 §4).
    """

    direction: str
    msg_type: int
    raw: bytes
    epoch: str
    records: tuple[int, ...] = ()  # Record.index of each record carrying part of it

    @property
    def name(self) -> str:
        """Example:

        >>> HandshakeMessage(CLIENT_TO_SERVER, 1, b"", "plaintext").name
        'client_hello'
        """
        return handshake_type_name(self.msg_type)

    @property
    def body(self) -> bytes:
        return self.raw[4:]


@dataclass(frozen=True)
class Secret:
    """One value of the key schedule.

    ``label`` is the NSS key-log name for the values a key log carries
    ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_RANDOM" for the TLS 1.2
    master secret, "CLIENT_TRAFFIC_SECRET_1" after a KeyUpdate), and a
    lowercase name for every other value ("ecdhe_shared_secret",
    "handshake_secret", "server_handshake_key", ...). ``source`` says who
    reported it: "engine", "keylog", "rfc8448" or "inspector" (recomputed).
    """

    label: str
    value: bytes
    client_random: bytes = b""
    source: str = "keylog"

    def keylog_line(self) -> str:
        """Example:

        >>> Secret("EXPORTER_SECRET", b"\\x01", b"\\x02").keylog_line()
        'EXPORTER_SECRET 02 01'
        """
        return f"{self.label} {self.client_random.hex()} {self.value.hex()}"


@dataclass(frozen=True)
class KeyDerivation:
    """One step of the key schedule, in RFC 8448's style.

    ``function`` is "input" (a value the schedule starts from), "ECDHE",
    "HKDF-Extract", "Derive-Secret", "HKDF-Expand-Label", "HMAC", or for
    TLS 1.2 "PRF", "Hash" and "slice" (a part of the key block). ``inputs`` names the values it was
    computed from (each another derivation's ``name`` or a secret's
    ``label``), so the views can link every value to what it came from.
    ``label`` and ``context`` are the HKDF label and context (the transcript
    hash for Derive-Secret); ``context_description`` says what was hashed.
    """

    name: str
    function: str
    inputs: tuple[str, ...]
    output: bytes
    label: str = ""
    context: bytes = b""
    context_description: str = ""
    rfc: str = ""


@dataclass(frozen=True)
class Decision:
    """A choice one side made, why, and the rule behind it.

    >>> Decision("cipher_suite", "TLS_AES_128_GCM_SHA256",
    ...          "first of the server's preferences the client offered", "RFC 8446 §4.1.1").value
    'TLS_AES_128_GCM_SHA256'
    """

    what: str
    value: str
    reason: str
    rfc: str = ""
    side: str = "server"
    #: Structured values behind the reason (JSON scalars, lists and objects):
    #: the lists the client offered, the CA DNs requested, the engine's error.
    details: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class CertificatePhase:
    """What the server application chose at ``proceed()`` (Kong's certificate phase)."""

    certificate_chain: tuple[bytes, ...] = ()  # DER, leaf first
    request_client_certificate: bool = False
    client_ca_names: tuple[bytes, ...] = ()  # DER-encoded subject DNs, in order
    session_reuse: bool = True
    alpn_protocols: tuple[str, ...] = ()
    server_name: str | None = None  # the SNI the application saw


@dataclass(frozen=True)
class Alert:
    """An alert one side sent (RFC 8446 §6), and the rule it enforces when known."""

    direction: str
    level: int
    description: int
    epoch: str = EPOCH_PLAINTEXT
    record: int | None = None
    reason: str = ""
    rfc: str = ""

    @property
    def name(self) -> str:
        """Example:

        >>> Alert(SERVER_TO_CLIENT, 2, 40).name
        'handshake_failure'
        """
        return alert_name(self.description)


@dataclass(frozen=True)
class Finding:
    """Something the inspector found wrong or missing, shown loudly.

    ``kind`` is one of "mismatch", "missing_key", "undecryptable",
    "malformed", "truncated", "bad_finished", "bad_signature", "keylog". ``subject`` names
    what it is about ("record 7", "SERVER_HANDSHAKE_TRAFFIC_SECRET", ...).
    """

    kind: str
    message: str
    subject: str = ""
    severity: str = "error"  # "error" or "warning"
    expected: bytes | None = None
    actual: bytes | None = None


@dataclass(frozen=True)
class Recording:
    """Everything one TLS connection showed. See the module docstring."""

    client: Peer
    server: Peer
    scenario: str | None = None
    seed: int | None = None
    purekong_version: str = ""
    tls_version: int | None = None  # negotiated, e.g. 0x0304
    cipher_suite: int | None = None
    records: tuple[Record, ...] = ()
    handshake_messages: tuple[HandshakeMessage, ...] = ()
    secrets: tuple[Secret, ...] = ()
    key_schedule: tuple[KeyDerivation, ...] = ()
    decisions: tuple[Decision, ...] = ()
    certificate_phase: CertificatePhase | None = None
    alerts: tuple[Alert, ...] = ()
    findings: tuple[Finding, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def records_in(self, direction: str) -> tuple[Record, ...]:
        """The records one side sent, in order."""
        return tuple(r for r in self.records if r.direction == direction)

    def secret(self, label: str) -> bytes | None:
        """The value of a secret by label (the first one reported), or None."""
        for s in self.secrets:
            if s.label == label:
                return s.value
        for d in self.key_schedule:
            if d.name == label:
                return d.output
        return None

    def keylog(self) -> str:
        """The NSS key-log lines (SSLKEYLOGFILE format) of this recording."""
        seen: set[str] = set()
        lines = []
        for s in self.secrets:
            if s.label.isupper() and s.client_random and s.keylog_line() not in seen:
                seen.add(s.keylog_line())
                lines.append(s.keylog_line())
        return "".join(line + "\n" for line in lines)

    def with_findings(self, findings: Iterable[Finding]) -> Recording:
        return dataclasses.replace(self, findings=self.findings + tuple(findings))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as hex)."""
        result = _encode(self)
        assert isinstance(result, dict)
        return result

    def to_json(self, *, indent: int | None = 1) -> str:
        """This recording as JSON text, per ``docs/inspect-schema.md``."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recording:
        """Read a dict made by ``to_dict()``; a wrong shape raises :class:`RecordingFormatError`."""
        if not isinstance(data, Mapping):
            raise RecordingFormatError("a recording is a JSON object")
        version = data.get("schema_version")
        if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
            readable = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
            raise RecordingFormatError(f"schema_version {version!r} is not supported (this purekong reads {readable})")
        if version == 1 and any(isinstance(d, Mapping) and "details" in d for d in data.get("decisions") or ()):
            raise RecordingFormatError("recording.decisions: 'details' is a schema_version 2 field, in a version 1 recording")
        result = _decode(cls, {**data, "schema_version": SCHEMA_VERSION}, "recording")
        assert isinstance(result, Recording)
        return result

    @classmethod
    def from_json(cls, text: str | bytes) -> Recording:
        """Load a recording written by ``to_json()``.

        >>> Recording.from_json('{"schema_version": 99}')
        Traceback (most recent call last):
        ...
        purekong.inspect._recording.RecordingFormatError: schema_version 99 is not supported (this purekong reads 1, 2)
        """
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordingFormatError(f"not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_transcript(
        cls,
        transcript: Iterable[tuple[str, bytes]],
        keylog: str | Iterable[str] = (),
        *,
        client_trace: Iterable[object] = (),
        server_trace: Iterable[object] = (),
        secrets: Iterable[Secret] = (),
        decisions: Iterable[Decision] = (),
        certificate_phase: CertificatePhase | None = None,
        scenario: str | None = None,
        seed: int | None = None,
        client: Peer | None = None,
        server: Peer | None = None,
        previous: Recording | None = None,
    ) -> Recording:
        """Build a recording from the bytes each side sent, and a key log.

        ``transcript`` is the byte chunks in the order they were sent, each
        as ``(direction, data)`` with direction :data:`CLIENT_TO_SERVER` or
        :data:`SERVER_TO_CLIENT` (what an in-memory pump or a socket saw;
        chunks need not align with records). ``keylog`` is NSS key-log text
        or lines. ``client_trace`` / ``server_trace`` are the events the
        engine's ``trace=`` callback gave each side (handshake messages and
        secrets): their secrets are used too, and any message that differs
        from what the wire shows becomes a finding. ``secrets`` adds values
        from elsewhere (e.g. the (EC)DHE shared secret). ``previous`` is the
        recording of the connection whose ticket a TLS 1.3 ClientHello
        offers: the ticket it names gives the PSK, so a resumed handshake's
        key schedule is recomputed in full and its binder checked.

        The records are split, decrypted with keys recomputed from the
        secrets (every record no key opens is a finding), the handshake
        messages reassembled, the alerts read, the key schedule
        recomputed as far as the secrets allow, and the negotiation read
        from the hellos: after ``decisions`` come the choices the wire shows
        (version, suite, group, HelloRetryRequest, signature schemes, ALPN,
        SNI, resumption, client certificate), each with its rule, for every
        ``what`` the given decisions do not already cover.

        >>> alert = bytes.fromhex("15030300020228")  # a fatal handshake_failure
        >>> rec = Recording.from_transcript([(SERVER_TO_CLIENT, alert[:3]), (SERVER_TO_CLIENT, alert[3:])])
        >>> [(r.index, r.epoch, r.raw.hex()) for r in rec.records], rec.alerts[0].name
        ([(0, 'plaintext', '15030300020228')], 'handshake_failure')
        """
        from ._transcript import build_recording

        return build_recording(
            transcript,
            keylog,
            client_trace=client_trace,
            server_trace=server_trace,
            secrets=secrets,
            decisions=decisions,
            certificate_phase=certificate_phase,
            scenario=scenario,
            seed=seed,
            client=client or Peer("client"),
            server=server or Peer("server"),
            previous=previous,
        )


class RecordingFormatError(ValueError):
    """A JSON recording that does not follow the schema; the message says where."""


# -- JSON codec, driven by the dataclasses' type hints ----------------------


def _encode(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _decode(hint: Any, value: object, where: str) -> object:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _decode(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise RecordingFormatError(f"{where}: expected a list")
        (item,) = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bytes:
        if not isinstance(value, str):
            raise RecordingFormatError(f"{where}: expected a hex string")
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise RecordingFormatError(f"{where}: not hex") from None
    if typing.get_origin(hint) is dict:  # Decision.details: any JSON object
        if not isinstance(value, Mapping):
            raise RecordingFormatError(f"{where}: expected an object")
        return {str(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    if hint is bool or hint is int or hint is str:
        # bool is an int in Python; keep them apart so a schema slip shows.
        if type(value) is not hint:
            raise RecordingFormatError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise RecordingFormatError(f"{where}: expected an object")
        hints = _hints(hint)
        fields = {f.name: f for f in dataclasses.fields(hint)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise RecordingFormatError(f"{where}: unknown field {unknown[0]!r}")
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _decode(hints[name], value[name], f"{where}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordingFormatError(f"{where}: missing field {name!r}")
        return hint(**kwargs)
    raise TypeError(f"no JSON codec for {hint!r}")  # a programming error, not bad input


def _json_value(value: object, where: str) -> object:
    """A JSON value as json.loads gives it (a dict written by hand is checked the same way)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, list):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    raise RecordingFormatError(f"{where}: not a JSON value")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]

