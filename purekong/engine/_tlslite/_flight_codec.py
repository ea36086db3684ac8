"""A faster writer of the server's first flight, for the messages tlslite sends.

The rule, as in ``_hello_codec``: each writer below returns exactly the bytes
tlslite's own ``write()`` returns for the same message (a ``bytearray``), and
anything it does not vouch for (a subclass, a value out of range, a type
tlslite would handle differently, an unknown field) falls back to tlslite's
``write()``, so an error is raised by tlslite as before. ``_patches`` installs
them as the ``write`` of tlslite's message classes.

tlslite builds every message through ``Writer`` objects, one call per field
and a second ``Writer`` for each length prefix; here the fields are
concatenated into one bytearray. Extensions go through ``_extension`` for the
classes it knows, and through their own ``write()`` otherwise (their codec is
tlslite's either way).
"""

from __future__ import annotations

from typing import Any, Callable

from tlslite.constants import CertificateType, CipherSuite
from tlslite.extensions import (
    ALPNExtension,
    KeyShareEntry,
    ServerKeyShareExtension,
    SrvSupportedVersionsExtension,
    TLSExtension,
)
from tlslite.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    EncryptedExtensions,
    Finished,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
)

WriteFn = Callable[[Any], bytearray]

_BYTES = (bytes, bytearray)
_X509 = CertificateType.x509
_ECDHE = frozenset(CipherSuite.ecdhAllSuites) - frozenset(CipherSuite.srpAllSuites) - frozenset(CipherSuite.dhAllSuites)
_SIGNED = frozenset(CipherSuite.certAllSuites) | frozenset(CipherSuite.ecdheEcdsaSuites) | frozenset(CipherSuite.dheDsaSuites)


class _Unsure(Exception):
    """This message is not what the fast path vouches for: tlslite writes it."""


def _u8(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 0xFF:
        raise _Unsure
    return value


def _u16(value: Any) -> bytes:
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        raise _Unsure
    return value.to_bytes(2, "big")


def _raw(value: Any) -> Any:
    if type(value) not in _BYTES:
        raise _Unsure
    return value


def _vector(data: Any, length_bytes: int) -> bytes:
    """``data`` behind its length, as tlslite's ``addVarSeq(data, 1, n)``."""
    if type(data) not in _BYTES or len(data) >> (8 * length_bytes):
        raise _Unsure
    framed: bytes = len(data).to_bytes(length_bytes, "big") + data
    return framed


def _handshake(msg: Any, body: bytearray) -> bytearray:
    """tlslite's ``postWrite``: the handshake header, then the body."""
    if len(body) >> 24:
        raise _Unsure
    header = bytearray((_u8(msg.handshakeType),))
    header += len(body).to_bytes(3, "big")
    header += body
    return header


# -- extensions ---------------------------------------------------------------


def _supported_version(ext: Any) -> Any:
    if ext.version is None:
        return b""
    if type(ext.version) is not tuple:
        raise _Unsure
    return bytes(_u8(part) for part in ext.version)


def _server_key_share(ext: Any) -> Any:
    share = ext.server_share
    if share is None:
        return b""
    if type(share) is not KeyShareEntry:
        raise _Unsure
    return _u16(share.group) + _vector(share.key_exchange, 2)


def _alpn(ext: Any) -> Any:
    if ext.protocol_names is None:
        return b""
    if type(ext.protocol_names) is not list:
        raise _Unsure
    names = b"".join(_vector(name, 1) for name in ext.protocol_names)
    return _vector(names, 2)


def _opaque(ext: Any) -> Any:
    return _raw(ext.extData)


#: Extension classes whose payload is written here; tlslite's generic
#: ``TLSExtension.write`` frames it (checked at import below).
_PAYLOADS: dict[type, Callable[[Any], Any]] = {
    SrvSupportedVersionsExtension: _supported_version,
    ServerKeyShareExtension: _server_key_share,
    ALPNExtension: _alpn,
    TLSExtension: _opaque,
}
for _cls in _PAYLOADS:
    assert getattr(_cls, "write") is TLSExtension.write, _cls  # a class with its own framing is not ours to write


def _extension(ext: Any) -> Any:
    payload = _PAYLOADS.get(type(ext))
    if payload is None:
        data = ext.write()  # tlslite's codec for every other extension
        if type(data) not in _BYTES:
            raise _Unsure
        return data
    if ext.extType is None:
        raise _Unsure  # tlslite: AssertionError
    return _u16(ext.extType) + _vector(payload(ext), 2)


def _extension_block(extensions: Any) -> bytes:
    if type(extensions) is not list:
        raise _Unsure
    return _vector(b"".join([_extension(ext) for ext in extensions]), 2)


# -- messages -----------------------------------------------------------------


def _server_hello(msg: Any) -> bytearray:
    if type(msg.server_version) is not tuple or len(msg.server_version) != 2:
        raise _Unsure
    major, minor = msg.server_version
    body = bytearray((_u8(major), _u8(minor)))
    body += _raw(msg.random)
    body += _vector(msg.session_id, 1)
    body += _u16(msg.cipher_suite)
    body.append(_u8(msg.compression_method))
    if msg.extensions is not None:
        body += _extension_block(msg.extensions)
        # Read where tlslite reads it: it may look the extension up (and
        # refuse duplicated types) even when there is no TACK.
        if msg.tackExt:
            raise _Unsure
    return _handshake(msg, body)


def _encrypted_extensions(msg: Any) -> bytearray:
    return _handshake(msg, bytearray(_extension_block(msg.extensions)))


def _tls13(msg: Any) -> bool:
    if type(msg.version) is not tuple:
        raise _Unsure
    return bool(msg.version > (3, 3))


def _certificate(msg: Any) -> bytearray:
    if msg.certificateType != _X509:
        raise _Unsure  # tlslite: AssertionError or ValueError
    if not _tls13(msg):
        chain = msg._cert_chain
        certs = [_raw(cert.writeBytes()) for cert in chain.x509List] if chain else []
        return _handshake(msg, bytearray(_vector(b"".join([_vector(der, 3) for der in certs]), 3)))
    entries = []
    if type(msg.certificate_list) is not list:
        raise _Unsure
    for entry in msg.certificate_list:
        if type(entry) is not CertificateEntry or entry.certificateType != _X509:
            raise _Unsure
        entries.append(_vector(_raw(entry.certificate.writeBytes()), 3))
        if entry.extensions is not None:
            entries.append(_extension_block(entry.extensions))
    body = bytearray(_vector(msg.certificate_request_context, 1))
    body += _vector(b"".join(entries), 3)
    return _handshake(msg, body)


def _certificate_request(msg: Any) -> bytearray:
    if not _tls13(msg):
        raise _Unsure  # the TLS 1.2 form stays tlslite's
    body = bytearray(_vector(msg.certificate_request_context, 1))
    body += _extension_block(msg.extensions or [])
    return _handshake(msg, body)


def _certificate_verify(msg: Any) -> bytearray:
    body = bytearray()
    if type(msg.version) is not tuple:
        raise _Unsure
    if msg.version >= (3, 3):
        algorithm = msg.signatureAlgorithm
        if type(algorithm) is not tuple or len(algorithm) != 2:
            raise _Unsure
        body += bytes((_u8(algorithm[0]), _u8(algorithm[1])))
    body += _vector(msg.signature, 2)
    return _handshake(msg, body)


def _finished(msg: Any) -> bytearray:
    return _handshake(msg, bytearray(_raw(msg.verify_data)))


def _server_key_exchange(msg: Any) -> bytearray:
    suite = msg.cipherSuite
    if type(suite) is not int or suite not in _ECDHE or type(msg.curve_type) is not int or msg.curve_type != 3 or type(msg.version) is not tuple:
        raise _Unsure  # SRP, FFDHE and bad curve types stay tlslite's
    body = bytearray((3,))
    body += _u16(msg.named_curve)
    body += _vector(msg.ecdh_Ys, 1)
    if suite in _SIGNED:
        if msg.version >= (3, 3):
            if not msg.hashAlg or not msg.signAlg:
                raise _Unsure  # tlslite: AssertionError
            body += bytes((_u8(msg.hashAlg), _u8(msg.signAlg)))
        body += _vector(msg.signature, 2)
    return _handshake(msg, body)


def _server_hello_done(msg: Any) -> bytearray:
    return _handshake(msg, bytearray())


#: tlslite's class -> the writer here. Subclasses are not included: they get
#: tlslite's ``write`` (they may add fields).
WRITERS: dict[type, WriteFn] = {
    ServerHello: _server_hello,
    EncryptedExtensions: _encrypted_extensions,
    Certificate: _certificate,
    CertificateRequest: _certificate_request,
    CertificateVerify: _certificate_verify,
    Finished: _finished,
    ServerKeyExchange: _server_key_exchange,
    ServerHelloDone: _server_hello_done,
}

#: tlslite's own ``write`` of each class, taken before ``_patches`` installs ours.
TLSLITE_WRITE: dict[type, WriteFn] = {cls: getattr(cls, "write") for cls in WRITERS}


def _fast_write(cls: type, fast: WriteFn, tlslite_write: WriteFn) -> WriteFn:
    def write(self: Any) -> bytearray:
        if type(self) is cls:
            try:
                return fast(self)
            except _Unsure:
                pass
        return tlslite_write(self)

    write.__name__ = write.__qualname__ = f"{cls.__name__}_write"
    write.__doc__ = f"tlslite's {cls.__name__}.write, by the fast writer when it vouches for the message."
    return write


#: What ``_patches`` installs as ``<class>.write``.
FAST_WRITE: dict[type, WriteFn] = {cls: _fast_write(cls, WRITERS[cls], TLSLITE_WRITE[cls]) for cls in WRITERS}
