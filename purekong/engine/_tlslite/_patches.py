"""Every change purekong makes to tlslite-ng, in one table.

The rules, which the code below carries out and
``tests/engine/test_patches.py`` checks:

1. tlslite's files are never edited. Each change is one ``Patch`` in
   ``PATCHES``: the tlslite attribute it replaces (``target``), how
   (``kind``), the replacement, why, and the tlslite version it was written
   against. ``patched()`` returns the whole table.
2. ``install()`` applies the MODULE and CLASS patches, once, when
   ``purekong.engine`` is imported (``purekong/engine/__init__.py`` calls
   it). They are process-wide: after ``import purekong.engine`` every
   tlslite user in the process runs on them. A patch marked ``everywhere``
   also replaces each tlslite module's own copy of the name (made by
   ``from .utils.cryptomath import *``).
3. SUBCLASS patches (methods of ``_hooked.HookedTLSConnection``) and
   RECORD_LAYER patches (methods of ``_hooked.HookedRecordLayer`` and
   ``HookedRecordSocket``, the classes ``HookedTLSConnection.__init__``
   gives its own record layer) change purekong's connections only; they
   are listed here so that the table is complete.
4. A new change to tlslite gets a row here, or the test fails: it scans
   tlslite's modules and classes for purekong objects, and a fresh
   connection's record layer for hooks, and compares with this table. The
   test also checks that every target still exists in the installed
   tlslite, so an upgrade that moves one fails loudly.

The replacements live with their kind of work: ``_backend`` (primitives on
``cryptography``, randomness), ``_speedups`` (the same behaviour, faster)
and ``_hooked`` (behaviour purekong changes on purpose).
"""

from __future__ import annotations

import enum
import importlib
import sys
from dataclasses import dataclass

# Loaded before install() so that the `everywhere` patches reach their copies.
import tlslite.handshakehelpers  # noqa: F401
import tlslite.mathtls  # noqa: F401
import tlslite.recordlayer  # noqa: F401
import tlslite.tlsconnection  # noqa: F401

from . import _backend, _hooked, _speedups

#: The tlslite-ng release every patch below was written against.
TLSLITE_VERSION = "0.8.2"


class Kind(enum.Enum):
    MODULE = "module attribute"  # process-wide
    CLASS = "class attribute"  # process-wide
    SUBCLASS = "HookedTLSConnection override"  # purekong's connections only
    RECORD_LAYER = "record-layer hook"  # purekong's connections only


@dataclass(frozen=True)
class Patch:
    #: "tlslite.module:attribute" or "tlslite.module:Class.attribute": what is replaced.
    target: str
    kind: Kind
    replacement: object
    reason: str
    #: Also replace every tlslite module's own copy of the attribute.
    everywhere: bool = False
    written_for: str = TLSLITE_VERSION

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.target.partition(":")[2].split("."))


_M, _C, _S, _R = Kind.MODULE, Kind.CLASS, Kind.SUBCLASS, Kind.RECORD_LAYER
_B, _P, _H = _backend, _speedups, _hooked
_CONN = _hooked.HookedTLSConnection

_CRYPTO = "the primitive on cryptography (OpenSSL) instead of pure Python or python-ecdsa; same results"
_FAST = "same behaviour, faster (docs/performance.md)"

PATCHES: tuple[Patch, ...] = (
    # -- _backend: tlslite's primitives on cryptography ----------------------
    Patch("tlslite.utils.python_aesgcm:new", _M, _B._new_aesgcm, _CRYPTO + " (AES-GCM records and tickets)"),
    Patch("tlslite.utils.python_chacha20_poly1305:new", _M, _B._new_chacha20_poly1305, _CRYPTO + " (ChaCha20-Poly1305)"),
    Patch("tlslite.utils.python_aesccm:new", _M, _B._new_aesccm, _CRYPTO + " (AES-CCM)"),
    Patch("tlslite.keyexchange:x25519", _M, _B.x25519_function, _CRYPTO + " (X25519)"),
    Patch("tlslite.keyexchange:x448", _M, _B.x448_function, _CRYPTO + " (X448)"),
    Patch("tlslite.keyexchange:ECDHKeyExchange.get_random_private_key", _C, _B._ecdh_get_random_private_key,
          _CRYPTO + " (NIST-curve ECDHE); the scalar comes from the random source"),
    Patch("tlslite.keyexchange:ECDHKeyExchange.calc_public_value", _C, _B._ecdh_calc_public_value, _CRYPTO + " (NIST-curve ECDHE)"),
    Patch("tlslite.keyexchange:ECDHKeyExchange.calc_shared_key", _C, _B._ecdh_calc_shared_key,
          _CRYPTO + " (NIST-curve ECDHE); the same points refused with the same error"),
    Patch("tlslite.utils.keyfactory:_createPublicRSAKey", _M, _B._create_public_rsa_key, _CRYPTO + " (RSA signature checks)"),
    Patch("tlslite.utils.keyfactory:_create_public_ecdsa_key", _M, _B._create_public_ecdsa_key, _CRYPTO + " (ECDSA signature checks)"),
    Patch("tlslite.utils.keyfactory:_create_public_eddsa_key", _M, _B._create_public_eddsa_key, _CRYPTO + " (EdDSA signature checks)"),
    Patch("tlslite.x509:_createPublicRSAKey", _M, _B._create_public_rsa_key, "x509.py's own copy of the keyfactory function"),
    Patch("tlslite.x509:_create_public_ecdsa_key", _M, _B._create_public_ecdsa_key, "x509.py's own copy of the keyfactory function"),
    Patch("tlslite.x509:_create_public_eddsa_key", _M, _B._create_public_eddsa_key, "x509.py's own copy of the keyfactory function"),
    Patch("tlslite.x509:X509._ecdsa_pubkey_parsing", _C, _B.x509_ecdsa_pubkey_parsing, _CRYPTO + " (certificate SPKI parsing)"),
    Patch("tlslite.x509:X509._eddsa_pubkey_parsing", _C, _B.x509_eddsa_pubkey_parsing, _CRYPTO + " (certificate SPKI parsing)"),
    Patch("tlslite.utils.cryptomath:secureHMAC", _M, _B._secure_hmac, "OpenSSL's HMAC object directly; same outputs", everywhere=True),
    Patch("tlslite.utils.cryptomath:HKDF_expand", _M, _B._hkdf_expand, "HKDF-Expand on OpenSSL's HMAC; same outputs", everywhere=True),
    Patch("tlslite.utils.cryptomath:HKDF_expand_label", _M, _B._hkdf_expand_label, "HKDF-Expand-Label on OpenSSL's HMAC; same outputs", everywhere=True),
    Patch("tlslite.mathtls:P_hash", _M, _B._p_hash, "the TLS 1.2 PRF on OpenSSL's HMAC; same outputs"),
    Patch("tlslite.utils.cryptomath:getRandomBytes", _M, _B._tlslite_random_bytes,
          "every tlslite random value from the engine's random source (seedable per connection)", everywhere=True),
    # -- _speedups: the same behaviour, faster -------------------------------
    Patch("tlslite.constants:CipherSuite._filterSuites", _C, staticmethod(_P._filter_suites), _FAST + ": answers cached per settings"),
    Patch("tlslite.tlsconnection:is_valid_hostname", _M, _P._is_valid_hostname, _FAST + ": answers cached per SNI name (bounded)"),
    Patch("tlslite.extensions:CustomNameExtension.__setattr__", _C, _P._custom_name_setattr, _FAST + ": no AttributeError per attribute"),
    Patch("tlslite.utils.codec:Parser.get", _C, _P._parser_get, _FAST + ": int.from_bytes instead of a hex string"),
    Patch("tlslite.messages:HelloMessage.getExtension", _C, _P._get_extension, _FAST + ": extensions indexed by type"),
    Patch("tlslite.constants:TLSEnum._recursiveVars", _C, classmethod(_P._cached_recursive_vars), _FAST + ": class fields gathered once"),
    Patch("tlslite.constants:TLSEnum.toRepr", _C, classmethod(_P._cached_to_repr), _FAST + ": known names remembered (bounded)"),
    Patch("tlslite.defragmenter:Defragmenter.add_data", _C, _P._defragmenter_add_data, _FAST + ": no parameter renaming without keywords"),
    Patch("tlslite.defragmenter:Defragmenter.add_static_size", _C, _P._defragmenter_add_static_size,
          _FAST + ": no parameter renaming without keywords"),
    Patch("tlslite.defragmenter:Defragmenter.add_dynamic_size", _C, _P._defragmenter_add_dynamic_size,
          _FAST + ": no parameter renaming without keywords"),
    Patch("tlslite.messages:Certificate.create", _C, _P._certificate_create, _FAST + ": no parameter renaming without keywords"),
    Patch("tlslite.tlsrecordlayer:HandshakeHashes", _M, _P.TranscriptBuffer, _FAST + ": the transcript hashed on demand, by one hash"),
    Patch("tlslite.tlsconnection:HandshakeHashes", _M, _P.TranscriptBuffer, "tlsconnection's own name for it (HelloRetryRequest)"),
    # -- _hooked: module-wide behaviour changes ------------------------------
    Patch("tlslite.tlsrecordlayer:ClientHello", _M, _hooked._ReusedClientHello,
          "the ClientHello the engine already parsed is not parsed again (same message object); a server_name that is "
          "no host name (IP literal, not ASCII) is handled as no SNI, as OpenSSL does, not refused (issue 10 #9)"),
    Patch("tlslite.tlsconnection:ClientHello", _M, _hooked.OfferedClientHello,
          "a purekong client offers exactly its configured suites in the configured order, and no TLS 1.2 suite or "
          "renegotiation SCSV when it is TLS 1.3-only (tlslite: its own order, everything its settings allow)"),
    Patch("tlslite.tlsconnection:SessionTicketPayload", _M, _hooked.TicketPayload,
          "a TLS 1.3 ticket_nonce is a per-connection counter from 00 00 (RFC 8446 §4.6.1, as RFC 8448), not 32 random bytes; "
          "the application's session data (Kong: the client verify result) inside the encrypted ticket"),
    Patch("tlslite.tlsconnection:derive_secret", _M, _hooked._derive_secret,
          "RFC 8446 §7.1: a server's exporter_master_secret hashes the transcript up to its Finished, also with a client certificate"),
    Patch("tlslite.messages:CompressedCertificate._decompress", _C, _hooked._bounded_decompress,
          "zlib decompression bounded by max_handshake_message_size (tlslite's bufsize is no limit: a zlib bomb inflated in full); "
          "over the limit is bad_certificate (RFC 8879 §4)"),
    # -- HookedTLSConnection overrides (purekong's connections only) ---------
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer._handshakeDone", _S, _CONN._handshakeDone,
          "marks the handshake done for the unprotected-alert check"),
    Patch("tlslite.tlsconnection:TLSConnection._serverSendTickets", _S, _CONN._serverSendTickets,
          "tickets issued without the client's certificate chain (a chain over ~64 KiB made the ticket unwritable: internal_error); "
          "the session data computed from that chain first"),
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer.heartbeat_supported", _S, _CONN.__dict__["heartbeat_supported"],
          "heartbeat requests are never answered: a heartbeat record is unexpected_message"),
    Patch("tlslite.tlsconnection:TLSConnection._tryDecrypt", _S, _CONN._tryDecrypt,
          "the resumption policy: a refused ticket or PSK means a full handshake (RFC 5077 §3.2, RFC 8446 §4.6.1); "
          "the resumed ticket's session data restored; a ticket opened once per handshake (the engine's choice "
          "and tlslite's handshake read the same answer)"),
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer._queue_message", _S, _CONN._queue_message,
          "certificate_authorities and signature_algorithms_cert (RFC 8446 §4.2.3) in a TLS 1.3 CertificateRequest; "
          "a 32-bit random ticket_age_add (RFC 8446 §4.6.1; tlslite drew 1..4096); "
          "the server_name acknowledgement in EncryptedExtensions (RFC 6066 §3); sent messages reported to the trace"),
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer._sendMsg", _S, _CONN._sendMsg,
          "one close_notify only; a client's random known for key-log lines; the TLS 1.2 ServerHello's server_name "
          "acknowledgement (RFC 6066 §3); sent messages traced"),
    Patch("tlslite.tlsconnection:TLSConnection._pickServerKeyExchangeSig", _S, _CONN._pickServerKeyExchangeSig,
          "no SHA-1 default without signature_algorithms (RFC 9155 §4: handshake_failure); only schemes the key can "
          "make (RSA-1024 and rsa_pss_rsae_sha512); ServerConfig.signature_schemes order (_policy)"),
    Patch("tlslite.tlsconnection:TLSConnection._handshakeWrapperAsync", _S, _CONN._handshakeWrapperAsync,
          "a protocol error tlslite raises without an alert (a bad server CertificateVerify or Finished) gets its alert "
          "(illegal_parameter, decrypt_error, ...: RFC 8446 §6.2), not internal_error"),
    Patch("tlslite.tlsconnection:TLSConnection._clientGetServerHello", _S, _CONN._clientGetServerHello,
          "a ServerHello extension the client did not offer is unsupported_extension (RFC 8446 §4.2, RFC 5246 §7.4.1.4), a "
          "pre_shared_key selecting an identity the client did not offer illegal_parameter (§4.2.11): tlslite crashed on both"),
    Patch("tlslite.tlsconnection:TLSConnection._clientGetKeyFromChain", _S, _CONN._clientGetKeyFromChain,
          "the client judges the server's chain (and a TLS 1.3 CertificateVerify's scheme, RFC 8446 §4.4.3) when it "
          "arrives, so a rejected server never sees the client's Finished"),
    Patch("tlslite.tlsconnection:TLSConnection._clientResume", _S, _CONN._clientResume,
          "a TLS 1.2 ticket counts as accepted only when the server echoes the session ID (RFC 5077 §3.4); "
          "tlslite failed a declined ticket's full handshake with unexpected_message"),
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer._calcPendingStates", _S, _CONN._calcPendingStates,
          "the TLS 1.2 CLIENT_RANDOM key-log line"),
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer._handle_keyupdate_request", _S, _CONN._handle_keyupdate_request,
          "KeyUpdated events"),
    Patch("tlslite.tlsrecordlayer:TLSRecordLayer._getNextRecord", _S, _CONN._getNextRecord,
          "warning alerts reported and skipped (the 5th in a row is fatal, as OpenSSL), not fatal; a TLS 1.3 ChangeCipherSpec is 0x01, "
          "once, before the peer's Finished, else unexpected_message (RFC 8446 §5); received messages traced"),
    # -- record-layer hooks (HookedRecordLayer/HookedRecordSocket, per connection)
    Patch("tlslite.recordlayer:RecordLayer.calcTLS1_3PendingState", _R, _hooked.log_tls13_secrets,
          "the TLS 1.3 traffic-secret key-log lines"),
    Patch("tlslite.recordlayer:RecordLayer._decryptSSL2", _R, _hooked.refuse_encrypted_ssl2,
          "an SSLv2-framed record under encryption is unexpected_message, not an internal_error"),
    Patch("tlslite.recordlayer:RecordSocket._recvHeader", _R, _hooked.refuse_late_ssl2_headers,
          "SSLv2 framing only for a server's first ClientHello; later, a record of unknown type is unexpected_message"),
    Patch("tlslite.recordlayer:RecordSocket.recv", _R, _hooked.refuse_unprotected_tls13_alerts,
          "after a TLS 1.3 handshake an unprotected alert is refused (it would let anyone on the path close the stream); "
          "a record already whole in memory is read in one slice (_record_read: same header, body, checks), else by tlslite"),
)

#: (owner, attribute name, original value) of each replacement install() made.
_applied: list[tuple[object, str, object]] = []


def patched() -> tuple[Patch, ...]:
    """Every change purekong makes to tlslite (see the rules above)."""
    return PATCHES


def installed() -> bool:
    return bool(_applied)


def applied() -> list[tuple[object, str]]:
    """(owner, name) of every attribute install() replaced, copies included."""
    return [(owner, name) for owner, name, _ in _applied]


def resolve(patch: Patch) -> tuple[object, str]:
    """The tlslite object holding the patch's target, and the attribute name."""
    owner: object = importlib.import_module(patch.module)
    *classes, name = patch.path
    for class_name in classes:
        owner = getattr(owner, class_name)
    return owner, name


def original(owner: object, name: str) -> object:
    """The tlslite attribute install() replaced (what tlslite itself has)."""
    for patched_owner, patched_name, value in _applied:
        if patched_owner is owner and patched_name == name:
            return value
    return getattr(owner, name)


def install() -> None:
    """Apply the process-wide patches. Called once, by ``purekong.engine``."""
    if _applied:
        return
    for patch in PATCHES:
        if patch.kind in (Kind.MODULE, Kind.CLASS):
            owner, name = resolve(patch)
            pure = getattr(owner, name)  # AttributeError: tlslite moved it
            _replace(owner, name, patch.replacement)
            if patch.everywhere:
                for module_name, module in sorted(sys.modules.items()):
                    if module is not owner and module_name.partition(".")[0] == "tlslite" and getattr(module, name, None) is pure:
                        _replace(module, name, patch.replacement)


def _replace(owner: object, name: str, replacement: object) -> None:
    _applied.append((owner, name, getattr(owner, name)))
    setattr(owner, name, replacement)
