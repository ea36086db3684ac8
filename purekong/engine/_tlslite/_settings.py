"""purekong's configuration, turned into tlslite ``HandshakeSettings``.

tlslite's defaults are permissive (TLS 1.0, CBC, static RSA, SHA-1,
heartbeat, certificate compression); every setting here narrows them to
purekong's documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cryptography import x509
from tlslite.handshakesettings import HandshakeSettings, Keypair, VirtualHost

from .._config import CertifiedKey, SessionStore
from .._suites import DEFAULT_SIGNATURE_SCHEMES, VERSIONS
from ._backend import load_certificate_chain
from ._keys import load_private_key

TLSLITE_CIPHER = {
    "AES_128_GCM": "aes128gcm",
    "AES_256_GCM": "aes256gcm",
    "CHACHA20_POLY1305": "chacha20-poly1305",
}
SIGNATURE_HASHES = ["sha512", "sha384", "sha256"]  # never SHA-1 or SHA-224


@dataclass
class Plan:
    """Everything one connection's handshake needs, in purekong's terms."""

    versions: tuple[str, ...]
    ciphers: tuple[str, ...]  # in preference order
    groups: tuple[str, ...]
    certificates: tuple[CertifiedKey, ...] = ()
    alpn_protocols: tuple[str, ...] = ()
    # Server only.
    signature_schemes: tuple[str, ...] = DEFAULT_SIGNATURE_SCHEMES
    session_data: Callable[[tuple[bytes, ...] | None], bytes] | None = None
    request_client_certificate: bool = False
    client_ca_certificates: tuple[x509.Certificate, ...] = ()
    issue_tickets: bool = False
    tls13_tickets: int = 0
    ticket_keys: tuple[bytes, ...] = ()
    ticket_lifetime: int = 0
    session_store: SessionStore | None = None
    cache_session: bool = False
    # Client only.
    session_tickets: bool = True


class _Validated(HandshakeSettings):
    """Settings that went through tlslite's ``validate()`` already.

    tlslite validates its settings argument at the start of every handshake
    (and the engine once more when it looks for a resumable session): about
    8 us of checks whose answer depends only on the values. Here
    ``validate()`` returns a copy, as tlslite's does, without checking again.
    """

    def validate(self) -> HandshakeSettings:
        return _copy(self, HandshakeSettings)


def _copy(settings: HandshakeSettings, cls: Any) -> HandshakeSettings:
    # A new object and new lists, as tlslite's validate() hands back, so that
    # nothing a connection does to its settings reaches another connection.
    fields = settings.__dict__.copy()
    for name, value in fields.items():
        if type(value) is list:
            fields[name] = value[:]
    other = cls.__new__(cls)
    other.__dict__ = fields
    return other


_VALIDATED: dict[tuple, HandshakeSettings] = {}


def handshake_settings(plan: Plan) -> HandshakeSettings:
    """This connection's tlslite settings, already validated: its own copy."""
    return _copy(shared_settings(plan), _Validated)


def shared_settings(plan: Plan) -> HandshakeSettings:
    """The validated tlslite settings for ``plan``, shared by every connection
    with the same values: read them or hand them to a tlslite handshake
    (which starts with ``validate()``, a copy), never change them.

    They depend on a few configuration values, so each combination is built
    and validated once (bounded: the keys come from configurations). Extra
    certificates become tlslite virtual hosts, which are built per
    connection instead.
    """
    if len(plan.certificates) > 1:
        settings = _build(plan).validate()
        settings.__class__ = _Validated  # validated just now: tlslite's validate() only copies
        return settings
    key = (plan.versions, plan.ciphers, plan.groups, plan.issue_tickets, plan.tls13_tickets,
           plan.ticket_keys, plan.ticket_lifetime)
    template = _VALIDATED.get(key)
    if template is None:
        if len(_VALIDATED) >= 64:
            _VALIDATED.clear()
        template = _VALIDATED[key] = _copy(_build(plan).validate(), _Validated)
    return template


def with_ticket_keys(settings: HandshakeSettings, keys: tuple[bytes, ...]) -> HandshakeSettings:
    """``settings`` with these ticket keys: itself when it has them already, else a copy."""
    if settings.ticketKeys == list(keys):
        return settings
    other = _copy(settings, _Validated)
    other.ticketKeys = list(keys)
    return other


def _build(plan: Plan) -> HandshakeSettings:
    settings = HandshakeSettings()
    wire_versions = sorted((VERSIONS[v] for v in plan.versions), reverse=True)
    settings.versions = wire_versions
    settings.minVersion = wire_versions[-1]
    settings.maxVersion = wire_versions[0]
    settings.cipherNames = [TLSLITE_CIPHER[c] for c in plan.ciphers]
    settings.macNames = ["aead"]
    settings.keyExchangeNames = ["ecdhe_ecdsa", "ecdhe_rsa"]
    settings.eccCurves = list(plan.groups)
    settings.keyShares = list(plan.groups[:1])
    settings.dhGroups = []
    settings.defaultCurve = plan.groups[0]
    settings.rsaSigHashes = list(SIGNATURE_HASHES)
    settings.ecdsaSigHashes = list(SIGNATURE_HASHES)
    settings.dsaSigHashes = []
    settings.more_sig_schemes = ["Ed25519"]
    settings.use_heartbeat_extension = False
    settings.certificate_compression_send = []
    settings.certificate_compression_receive = ["zlib"]
    settings.psk_modes = ["psk_dhe_ke"]  # resumption keeps forward secrecy
    settings.ticketKeys = list(plan.ticket_keys) if plan.issue_tickets else []
    settings.ticket_count = plan.tls13_tickets if plan.issue_tickets else 0
    settings.ticketLifetime = plan.ticket_lifetime or settings.ticketLifetime
    if len(plan.certificates) > 1:
        settings.virtual_hosts = [_virtual_host(plan.certificates[1:])]
    return settings


def _virtual_host(certificates: tuple[CertifiedKey, ...]) -> VirtualHost:
    # Only VirtualHost.keys is read by tlslite; it tries them in order after
    # the default pair, taking the first one the client can use.
    host = VirtualHost()
    host.keys = [Keypair(tlslite_key(c), tlslite_chain(c).x509List) for c in certificates]
    return host


def tlslite_key(certified: CertifiedKey) -> Any:
    return _tlslite_pair(certified)[1]


def tlslite_chain(certified: CertifiedKey) -> Any:
    return _tlslite_pair(certified)[0]


def _tlslite_pair(certified: CertifiedKey) -> tuple[Any, Any]:
    # Converting a chain and a key costs ~50 us; a CertifiedKey serves many
    # connections, so the tlslite objects are made once and kept on it.
    pair = certified.__dict__.get("_tlslite_pair")
    if pair is None:
        pair = (load_certificate_chain(certified.chain), load_private_key(certified.private_key))
        object.__setattr__(certified, "_tlslite_pair", pair)
    return pair
