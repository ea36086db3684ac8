"""Configuration: what a server or client is willing to do.

Configs are frozen and meant to be shared by many connections: build one at
start-up (certificate parsing and key loading happen here, once) and pass it
to every connection. Per-connection choices are made at the ClientHello
pause with ``ServerConnection.proceed()``.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ._suites import CIPHERS, DEFAULT_CIPHERS, DEFAULT_GROUPS, DEFAULT_SIGNATURE_SCHEMES, GROUPS, SIGNATURE_SCHEMES, VERSIONS

MIN_RSA_BITS = 1024

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def load_pem_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order."""
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificates(data)


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate chain (end-entity first) and its private key."""

    chain: tuple[x509.Certificate, ...]
    private_key: PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError("CertifiedKey needs at least one certificate")
        if not isinstance(self.private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            raise ValueError("private key must be RSA, ECDSA (P-256/P-384) or Ed25519")
        if isinstance(self.private_key, rsa.RSAPrivateKey) and self.private_key.key_size < MIN_RSA_BITS:
            # OpenSSL's security level 1; below it no TLS 1.3 RSA-PSS scheme fits the key.
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits, not {self.private_key.key_size}")
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey) and self.private_key.curve.name not in ("secp256r1", "secp384r1"):
            raise ValueError(f"ECDSA keys must be on P-256 or P-384, not {self.private_key.curve.name}")
        leaf_key = self.chain[0].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        own_key = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if leaf_key != own_key:
            raise ValueError("the private key does not match the first certificate")

    @classmethod
    def from_pem(cls, cert_pem: str | bytes, key_pem: str | bytes, password: bytes | None = None) -> "CertifiedKey":
        key_data = key_pem.encode() if isinstance(key_pem, str) else key_pem
        key = serialization.load_pem_private_key(key_data, password)
        return cls(tuple(load_pem_certificates(cert_pem)), key)  # type: ignore[arg-type]

    @classmethod
    def load(cls, cert_path: str | os.PathLike, key_path: str | os.PathLike) -> "CertifiedKey":
        return cls.from_pem(Path(cert_path).read_bytes(), Path(key_path).read_bytes())


class SessionStore:
    """Server-side TLS 1.2 session-ID cache, bounded in size and in time.

    Entries are keyed by server name as well as session ID, so a session is
    only ever offered back for the name it was established under. The oldest
    entry goes first when full; an entry older than ``lifetime`` seconds is
    never resumed (nginx's ``ssl_session_timeout``; tickets use the same).
    """

    def __init__(self, max_entries: int = 10_000, lifetime: float = 86_400) -> None:
        self.max_entries = max_entries
        self.lifetime = lifetime
        self._entries: OrderedDict[tuple[str, bytes], tuple[float, Any]] = OrderedDict()

    def get(self, server_name: str | None, session_id: bytes) -> Any | None:
        key = (server_name or "", bytes(session_id))
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, session = entry
        if time.time() - stored_at > self.lifetime:
            del self._entries[key]
            return None
        return session

    def put(self, server_name: str | None, session_id: bytes, session: Any) -> None:
        key = (server_name or "", bytes(session_id))
        self._entries[key] = (time.time(), session)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class ServerConfig:
    """What a server offers. Defaults are conservative; see docs/manual.md.

    ``certificates``: one or more chains; for each connection the engine
    uses the first one the client can verify (key type, curve, signature
    algorithms), unless the application picks at the ClientHello pause.
    """

    certificates: tuple[CertifiedKey, ...]
    versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2")
    #: Bulk ciphers in preference order (the server's order wins).
    ciphers: tuple[str, ...] = DEFAULT_CIPHERS
    #: ECDHE groups in preference order; a TLS 1.3 client that sent no key
    #: share for any of them gets a HelloRetryRequest.
    groups: tuple[str, ...] = DEFAULT_GROUPS
    #: ALPN protocols in preference order; empty means ALPN is ignored.
    alpn_protocols: tuple[str, ...] = ()
    #: Signature schemes the server signs with (ServerKeyExchange, TLS 1.3
    #: CertificateVerify), in preference order; only schemes the client
    #: offers and the key can make are used. OpenSSL's order by default
    #: (SHA-256 first). SHA-1 and MD5 are not available (RFC 9155).
    signature_schemes: tuple[str, ...] = DEFAULT_SIGNATURE_SCHEMES
    #: Defaults for what proceed() leaves unsaid.
    request_client_certificate: bool = False
    client_ca_certificates: tuple[x509.Certificate, ...] = ()
    #: Session resumption (TLS 1.2 session IDs and tickets, TLS 1.3 tickets);
    #: ``ticket_lifetime`` bounds session IDs too.
    session_resumption: bool = True
    session_cache_size: int = 10_000
    #: Ticket encryption keys, 32 bytes each; the first encrypts, all
    #: decrypt (rotation). Random per config by default.
    ticket_keys: tuple[bytes, ...] = field(default_factory=lambda: (os.urandom(32),), repr=False)
    ticket_lifetime: int = 86_400
    tls13_tickets: int = 2
    #: Largest handshake message accepted (a ClientHello, a client
    #: certificate chain). OpenSSL's default max_cert_list is 100 KiB.
    max_handshake_message_size: int = 102_400
    #: The session store; shared by every connection using this config.
    session_store: SessionStore = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        _check_common(self.versions, self.ciphers, self.groups)
        if not self.certificates:
            raise ValueError("ServerConfig needs at least one certificate")
        certificates = tuple(self.certificates)
        object.__setattr__(self, "certificates", certificates)
        object.__setattr__(self, "client_ca_certificates", tuple(self.client_ca_certificates))
        object.__setattr__(self, "alpn_protocols", tuple(self.alpn_protocols))
        object.__setattr__(self, "signature_schemes", tuple(self.signature_schemes))
        _check_names("signature_schemes", self.signature_schemes, SIGNATURE_SCHEMES)
        check_ca_names(self.client_ca_certificates)
        for key in self.ticket_keys:
            if len(key) not in (16, 32):
                raise ValueError("ticket keys must be 16 or 32 bytes long")
        if not self.ticket_keys and self.session_resumption:
            raise ValueError("session resumption needs at least one ticket key")
        if self.session_store is None:
            object.__setattr__(self, "session_store", SessionStore(self.session_cache_size, self.ticket_lifetime))


@dataclass(frozen=True)
class ClientConfig:
    """What a client offers and whom it trusts.

    With ``verify_server`` (the default) the server's chain must verify
    against ``trusted_certificates`` and match ``server_name`` when it
    arrives; otherwise the client sends no Finished, only OpenSSL's alert
    for the failure (``unknown_ca``, ``certificate_expired`` or
    ``bad_certificate``).
    """

    trusted_certificates: tuple[x509.Certificate, ...] = ()
    verify_server: bool = True
    versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2")
    ciphers: tuple[str, ...] = DEFAULT_CIPHERS
    groups: tuple[str, ...] = DEFAULT_GROUPS
    alpn_protocols: tuple[str, ...] = ()
    #: Sent when the server asks for a client certificate.
    certificate: CertifiedKey | None = None
    #: Offer and keep TLS 1.2 session tickets (RFC 5077). Off, a TLS 1.2
    #: session comes back by session ID only; TLS 1.3 tickets are unaffected.
    session_tickets: bool = True

    def __post_init__(self) -> None:
        _check_common(self.versions, self.ciphers, self.groups)
        object.__setattr__(self, "trusted_certificates", tuple(self.trusted_certificates))
        object.__setattr__(self, "alpn_protocols", tuple(self.alpn_protocols))


# RFC 5246 §7.4.4 / RFC 8446 §4.2.4: the DN list has a 2-byte length.
MAX_CA_NAMES_BYTES = 2**16 - 1


def check_ca_names(certificates: Iterable[x509.Certificate]) -> None:
    """Refuse a client CA list whose subject DNs cannot fit in a CertificateRequest."""
    size = sum(2 + len(cert.subject.public_bytes()) for cert in certificates)
    if size > MAX_CA_NAMES_BYTES:
        raise ValueError(
            f"client_ca_certificates: their subject DNs take {size} bytes; a CertificateRequest holds at most {MAX_CA_NAMES_BYTES}"
        )


def _check_common(versions: tuple[str, ...], ciphers: tuple[str, ...], groups: tuple[str, ...]) -> None:
    _check_names("versions", versions, VERSIONS)
    _check_names("ciphers", ciphers, CIPHERS)
    _check_names("groups", groups, GROUPS)


def _check_names(name: str, values: tuple[str, ...], known: Collection[str]) -> None:
    if not values:
        raise ValueError(f"{name} must not be empty")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unsupported {name}: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
