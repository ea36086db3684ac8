"""Route tlslite-ng's cryptographic primitives through ``cryptography``.

tlslite-ng has no crypto plug-in point (upstream issue #303): its AEADs,
X25519, ECDH and signature checks are pure Python or python-ecdsa, about
1000x slower than OpenSSL for bulk data. The replacements here stand in for
the few module attributes tlslite looks up at call time, so that the
unmodified package runs on ``cryptography``; ``_patches`` lists each one
(what it replaces and why) and installs them. The originals a replacement
falls back to are taken when this module is imported, before any install.

Also here: the randomness seam (``random_bytes`` / ``random_source``) that
every tlslite random value and our ephemeral keys come from, so that a fixed
source gives reproducible hellos and key shares; and the loaders that turn
``cryptography`` keys and certificates into tlslite objects.

All line references are to tlslite-ng 0.8.2 (pinned in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, x448, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from tlslite import keyexchange
from tlslite import x509 as tl_x509
from tlslite.constants import GroupName
from tlslite.errors import TLSIllegalParameterException
from tlslite.utils import keyfactory
from tlslite.utils import x25519 as tl_x25519

from purekong._deterministic import seeded_random_source

from ._hooked import report_shared_secret
from ._keys import (
    CURVES,
    _Curve,
    CURVES_BY_TLSLITE_NAME,
    CryptoEdDSAKey,
    CryptoRSAKey,
    load_private_key,
    wrap_public_key,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from tlslite.x509certchain import X509CertChain

__all__ = [
    "RANDOM_SOURCE",
    "load_certificate_chain",
    "load_private_key",
    "random_bytes",
    "random_source",
    "seeded_random_source",
]


# ---------------------------------------------------------------------------
# Randomness seam
# ---------------------------------------------------------------------------

#: Optional replacement for os.urandom, e.g. a seeded generator for the
#: handshake inspector's deterministic mode. A ContextVar so that one
#: connection's deterministic run does not leak into others.
RANDOM_SOURCE: contextvars.ContextVar[Callable[[int], bytes] | None] = contextvars.ContextVar(
    "purekong_random_source", default=None)


def random_bytes(n: int) -> bytes:
    """``n`` random bytes from the current random source, else ``os.urandom``."""
    source = RANDOM_SOURCE.get()
    if source is None:
        return os.urandom(n)
    data = bytes(source(n))
    if len(data) != n:
        raise ValueError("random source returned %d bytes, wanted %d" % (len(data), n))
    return data


@contextlib.contextmanager
def random_source(fn: Callable[[int], bytes]) -> Iterator[None]:
    """Use ``fn`` instead of ``os.urandom`` for everything tlslite and this
    backend draw inside the ``with`` block (in this context)."""
    token = RANDOM_SOURCE.set(fn)
    try:
        yield
    finally:
        RANDOM_SOURCE.reset(token)


def _tlslite_random_bytes(how_many: int) -> bytearray:
    # tlslite's callers mutate the result (cryptomath.getRandomNumber), so a
    # bytearray, like the function this replaces.
    return bytearray(random_bytes(how_many))


# ---------------------------------------------------------------------------
# AEADs: AES-GCM, AES-CCM, ChaCha20-Poly1305
# ---------------------------------------------------------------------------

class _AEAD:
    """The interface of tlslite's AEAD objects (utils/aesgcm.py AESGCM):
    ``seal`` returns ciphertext||tag, ``open`` returns None on a bad tag."""

    isBlockCipher = False
    isAEAD = True
    nonceLength = 12
    implementation = "cryptography"  # only reported by getCipherImplementation()

    __slots__ = ("key", "name", "tagLength", "_aead")

    def __init__(self, aead: AESGCM | AESCCM | ChaCha20Poly1305, key: bytearray, name: str, tag_length: int = 16) -> None:
        self._aead = aead
        self.key = key
        # recordlayer.py L525/L561 branch on the name ("aes" in name /
        # "chacha20-poly1305") to build TLS 1.2 nonces: keep tlslite's names.
        self.name = name
        self.tagLength = tag_length

    def seal(self, nonce: Buffer, plaintext: Buffer, data: Buffer) -> bytearray:
        return bytearray(self._aead.encrypt(bytes(nonce), bytes(plaintext), bytes(data)))

    def open(self, nonce: Buffer, ciphertext: Buffer, data: Buffer) -> bytearray | None:
        try:
            return bytearray(self._aead.decrypt(bytes(nonce), bytes(ciphertext), bytes(data)))
        except InvalidTag:
            return None


#: The class of the AEAD objects tlslite gets from us (the record fast path
#: checks for it before using ``_aead`` directly).
AEAD_CLASS = _AEAD


def _new_aesgcm(key: bytearray) -> _AEAD:
    if len(key) not in (16, 32):
        raise AssertionError()  # what tlslite's AESGCM raises
    return _AEAD(AESGCM(bytes(key)), key, "aes128gcm" if len(key) == 16 else "aes256gcm")


def _new_chacha20_poly1305(key: bytearray) -> _AEAD:
    if len(key) != 32:
        raise ValueError("Key must be 256 bit long")
    return _AEAD(ChaCha20Poly1305(bytes(key)), key, "chacha20-poly1305")


def _new_aesccm(key: bytearray, tagLength: int = 16) -> _AEAD:
    if len(key) not in (16, 32) or tagLength not in (8, 16):
        raise AssertionError()
    name = ("aes128ccm" if len(key) == 16 else "aes256ccm") + ("_8" if tagLength == 8 else "")
    return _AEAD(AESCCM(bytes(key), tagLength), key, name, tagLength)


# ---------------------------------------------------------------------------
# X25519 / X448
# ---------------------------------------------------------------------------

# Loading a private key costs as much as the exchange itself (~30 us): keep
# the object made for the public share until the same handshake computes
# its secret. Bounded, and each entry leaves at its exchange.
_PENDING_KEYS_MAX = 1024


def _make_x_function(private_cls: Any, public_cls: Any, size: int, generator: bytes, original: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    raw, raw_pub = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    pending: dict[bytes, Any] = {}

    def x_function(k: Any, u: Any) -> Any:
        # tlslite calls fun(private, G) for its public share and
        # fun(private, peer_share) for the secret (keyexchange.py L1083/L1116).
        if not isinstance(k, (bytes, bytearray)) or len(k) != size:
            return original(k, u)  # int scalars etc.: only tlslite's own tests
        k = bytes(k)
        if bytes(u) == generator:
            private = private_cls.from_private_bytes(k)
            if len(pending) >= _PENDING_KEYS_MAX:
                try:  # drop the oldest: an abandoned handshake's
                    pending.pop(next(iter(pending)))
                except (StopIteration, RuntimeError, KeyError):  # another thread got there
                    pass
            pending[k] = private
            return bytearray(private.public_key().public_bytes(raw, raw_pub))
        private = pending.pop(k, None) or private_cls.from_private_bytes(k)
        try:
            secret = private.exchange(public_cls.from_public_bytes(bytes(u)))
        except ValueError:
            # Low-order peer point (all-zero secret). Return zeros like the
            # pure implementation so tlslite's _non_zero_check raises
            # TLSIllegalParameterException -> illegal_parameter alert.
            return bytearray(size)
        report_shared_secret(secret)
        return bytearray(secret)

    x_function.__name__ = original.__name__
    return x_function


# keyexchange imported the functions by name (L22): ``_patches`` replaces
# its references. The pure-Python ladder is ~1.4 ms per operation.
x25519_function = _make_x_function(
    x25519.X25519PrivateKey, x25519.X25519PublicKey, 32, bytes(tl_x25519.X25519_G), tl_x25519.x25519)
x448_function = _make_x_function(
    x448.X448PrivateKey, x448.X448PublicKey, 56, bytes(tl_x25519.X448_G), tl_x25519.x448)


# ---------------------------------------------------------------------------
# ECDH over NIST curves (tlslite: python-ecdsa)
# ---------------------------------------------------------------------------

# tlslite GroupName id -> curve (GroupName.toRepr walks the class on every call).
_NIST_BY_GROUP_ID: dict[int, _Curve] = {getattr(GroupName, name): curve for name, curve in CURVES.items()}
# ECDHKeyExchange's own methods, for private values that are not ours (e.g.
# a python-ecdsa key made by tlslite's own tests).
_PURE_ECDH: dict[str, Callable[..., Any]] = {
    name: getattr(keyexchange.ECDHKeyExchange, name)
    for name in ("get_random_private_key", "calc_public_value", "calc_shared_key")
}


def _ecdh_get_random_private_key(self: Any) -> Any:
    curve = _NIST_BY_GROUP_ID.get(self.group)
    if curve is None:  # x25519/x448 (tlslite draws getRandomBytes: patched) and others
        return _PURE_ECDH["get_random_private_key"](self)
    # Uniform scalar in [1, n-1] from random_bytes, so a fixed random source
    # gives fixed key shares (cryptography's generator can't be seeded).
    d = int.from_bytes(random_bytes(curve.baselen + 8), "big") % (curve.order - 1) + 1
    return ec.derive_private_key(d, curve.crypto())


def _ecdh_calc_public_value(self: Any, private: Any, point_format: str = "uncompressed") -> bytearray:
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        pure_public: Callable[..., bytearray] = _PURE_ECDH["calc_public_value"]
        return pure_public(self, private, point_format)
    if point_format == "uncompressed":
        fmt = serialization.PublicFormat.UncompressedPoint
    elif point_format == "compressed":
        fmt = serialization.PublicFormat.CompressedPoint
    else:
        raise ValueError("unsupported point format %r" % (point_format,))
    return bytearray(private.public_key().public_bytes(serialization.Encoding.X962, fmt))


def _decode_peer_point(curve: _Curve, data: bytes, valid_formats: Iterable[str]) -> bytes:
    """Peer share -> X9.62 encoding cryptography can load, accepting exactly
    what python-ecdsa's AbstractPoint.from_bytes accepts with these
    ``valid_encodings`` (an empty set means all four). Raises ValueError."""
    formats = set(valid_formats) or {"uncompressed", "compressed", "hybrid", "raw"}
    size = curve.baselen
    if len(data) == 2 * size and "raw" in formats:
        return b"\x04" + data
    if len(data) == 2 * size + 1:
        if data[0] in (6, 7) and "hybrid" in formats:
            # hybrid = uncompressed with the y parity in the prefix; python-ecdsa
            # checks it matches
            if (data[-1] & 1) != (data[0] & 1):
                raise ValueError("inconsistent hybrid encoding")
            return b"\x04" + data[1:]
        if data[0] == 4 and "uncompressed" in formats:
            return data
        raise ValueError("invalid X9.62 encoding")
    if len(data) == size + 1 and "compressed" in formats and data[0] in (2, 3):
        return data
    raise ValueError("invalid point length or format")


def _ecdh_calc_shared_key(self: Any, private: Any, peer_share: Buffer, valid_point_formats: Iterable[str] = ("uncompressed",)) -> bytearray:
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        pure_shared: Callable[..., bytearray] = _PURE_ECDH["calc_shared_key"]
        return pure_shared(self, private, peer_share, valid_point_formats)
    curve = CURVES[private.curve.name]
    try:
        encoded = _decode_peer_point(curve, bytes(peer_share), valid_point_formats)
        # from_encoded_point rejects coordinates >= p, points off the curve
        # and the point at infinity, as python-ecdsa does.
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve.crypto(), encoded)
    except ValueError:
        # Same exception and message as tlslite (keyexchange.py L1129), so the
        # caller still sends illegal_parameter.
        raise TLSIllegalParameterException("Invalid ECC point") from None
    secret = private.exchange(ec.ECDH(), peer)
    report_shared_secret(secret)
    return bytearray(secret)


# ---------------------------------------------------------------------------
# Peer public keys (certificates)
# ---------------------------------------------------------------------------

def _create_public_rsa_key(n: int, e: int, key_type: str, implementations: object = None) -> Any:
    try:
        return CryptoRSAKey(rsa.RSAPublicNumbers(e, n).public_key(), None, key_type)
    except ValueError:
        # Parameters OpenSSL refuses (even e, e >= n, ...): keep tlslite's key
        # so the failure surfaces exactly where it does today.
        return _call_original_keyfactory("_createPublicRSAKey", n, e, key_type)


def _create_public_ecdsa_key(point_x: int, point_y: int, curve_name: str, implementations: object = None) -> Any:
    curve = CURVES_BY_TLSLITE_NAME.get(curve_name)
    if curve is not None:
        try:
            return wrap_public_key(ec.EllipticCurvePublicNumbers(point_x, point_y, curve.crypto()).public_key())
        except ValueError:
            pass  # not on the curve: python-ecdsa raises its own error below
    return _call_original_keyfactory("_create_public_ecdsa_key", point_x, point_y, curve_name)


def _create_public_eddsa_key(public_key: Any, implementations: object = None) -> Any:
    # public_key is a python-ecdsa VerifyingKey here (x509.py L189).
    name = getattr(getattr(public_key, "curve", None), "name", None)
    classes: dict[object, Any] = {"Ed25519": ed25519.Ed25519PublicKey, "Ed448": ed448.Ed448PublicKey}
    cls = classes.get(name)
    if cls is not None:
        return CryptoEdDSAKey(cls.from_public_bytes(bytes(public_key.to_string())))
    return _call_original_keyfactory("_create_public_eddsa_key", public_key)


_PURE_KEYFACTORY: dict[str, Callable[..., Any]] = {
    name: getattr(keyfactory, name)
    for name in ("_createPublicRSAKey", "_create_public_ecdsa_key", "_create_public_eddsa_key")
}


def _call_original_keyfactory(name: str, *args: Any) -> Any:
    return _PURE_KEYFACTORY[name](*args)


def _x509_spki_parser(method_name: str) -> Callable[[Any, Any], None]:
    """X509._ecdsa_pubkey_parsing / _eddsa_pubkey_parsing replacement: parse
    the SubjectPublicKeyInfo with cryptography instead of python-ecdsa
    (Ed25519 point decompression alone is 0.25 ms in python-ecdsa)."""
    pure = getattr(tl_x509.X509, method_name)

    def parse(self: Any, subject_public_key_info: Any) -> None:
        try:
            key = serialization.load_der_public_key(bytes(subject_public_key_info))
            self.publicKey = wrap_public_key(key)
            return
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass  # unsupported curve or malformed: tlslite's parser decides
        pure(self, subject_public_key_info)

    parse.__name__ = method_name
    return parse


x509_ecdsa_pubkey_parsing = _x509_spki_parser("_ecdsa_pubkey_parsing")
x509_eddsa_pubkey_parsing = _x509_spki_parser("_eddsa_pubkey_parsing")


# ---------------------------------------------------------------------------
# HMAC and HKDF
# ---------------------------------------------------------------------------
# tlslite builds an hmac.HMAC object (Python-level wrapper, ~4 method calls)
# for every HMAC; a TLS 1.3 handshake does about 20 of them in HKDF, a TLS
# 1.2 one a dozen in the PRF. OpenSSL's HMAC object behind the stdlib's
# hmac module is used directly: hmac_new(...).digest() costs 1.1 us here
# against 1.5 us for the one-shot hmac_digest (which looks the digest up
# again on every call) and about 2 us through hmac.HMAC. Same outputs.
class _Mac(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def copy(self) -> _Mac: ...


_hmac_new: Callable[[bytes, bytes, str], _Mac]
try:
    from _hashlib import hmac_new as _openssl_hmac_new

    _hmac_new = _openssl_hmac_new
except ImportError:  # a Python built without OpenSSL's hashlib
    _hmac_new = hmac.new

_DIGEST_SIZES = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


def _hmac(key: bytes, msg: bytes, algorithm: str) -> bytes:
    return _hmac_new(key, msg, algorithm).digest()


def _secure_hmac(k: Buffer, b: Buffer, algorithm: str) -> bytearray:
    k, b = bytes(k), bytes(b)
    if k == b and algorithm in _NO_PSK_EARLY_SECRET and k == _ZEROS[algorithm]:
        return bytearray(_NO_PSK_EARLY_SECRET[algorithm])
    return bytearray(_hmac(k, b, algorithm))


def _hkdf_expand(prk: Buffer, info: Buffer, length: int, algorithm: str) -> bytearray:
    # RFC 5869 §2.3: T(i) = HMAC(PRK, T(i-1) | info | i)
    prk, info = bytes(prk), bytes(info)
    if length <= _DIGEST_SIZES.get(algorithm, 0):  # every TLS 1.3 key, IV and secret: T(1) alone
        return bytearray(_hmac(prk, info + b"\x01", algorithm)[:length])
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = _hmac(prk, block + info + bytes((counter,)), algorithm)
        out += block
        counter += 1
    return bytearray(out[:length])


def _p_hash(mac_name: str, secret: Buffer, seed: Buffer, length: int) -> bytearray:
    # RFC 5246 §5, the TLS 1.2 PRF: A(0) = seed, A(i) = HMAC(secret, A(i-1)),
    # output = HMAC(secret, A(1) | seed) | HMAC(secret, A(2) | seed) | ...
    # The keyed state is made once and copied, as tlslite's P_hash does.
    keyed = _hmac_new(bytes(secret), b"", mac_name)
    seed = bytes(seed)
    out, a = b"", seed
    while len(out) < length:
        step = keyed.copy()
        step.update(a)
        a = step.digest()
        step = keyed.copy()
        step.update(a + seed)
        out += step.digest()
    return bytearray(out[:length])


def _hkdf_expand_label(secret: Buffer, label: Buffer, hash_value: Buffer, length: int, algorithm: str) -> bytearray:
    # RFC 8446 §7.1: HkdfLabel = uint16 length, opaque label<7..255> ("tls13 " + label), opaque context<0..255>
    hash_value = bytes(hash_value)
    if label == b"derived":
        known = _NO_PSK_DERIVED.get((algorithm, bytes(secret), hash_value, length))
        if known is not None:
            return bytearray(known)
    full_label = b"tls13 " + bytes(label)
    hkdf_label = (
        length.to_bytes(2, "big")
        + bytes((len(full_label),)) + full_label
        + bytes((len(hash_value),)) + hash_value
    )
    return _hkdf_expand(secret, hkdf_label, length, algorithm)


# Without a PSK, a TLS 1.3 key schedule starts from constants (RFC 8446
# §7.1): Early Secret = HKDF-Extract(0, 0) and Derive-Secret(Early Secret,
# "derived", "") depend on the hash alone. They are computed here once, by
# the same functions, instead of twice per handshake.
_ZEROS = {name: bytes(size) for name, size in _DIGEST_SIZES.items()}
_NO_PSK_EARLY_SECRET = {name: _hmac(_ZEROS[name], _ZEROS[name], name) for name in ("sha256", "sha384")}
_NO_PSK_DERIVED: dict[tuple[str, bytes, bytes, int], bytes] = {}
for _name, _early in _NO_PSK_EARLY_SECRET.items():
    _key = (_name, _early, hashlib.new(_name).digest(), _DIGEST_SIZES[_name])
    # Computed while the table is still empty: by the general path.
    _NO_PSK_DERIVED[_key] = bytes(_hkdf_expand_label(_early, b"derived", _key[2], _key[3], _name))
del _name, _early, _key


# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

def load_certificate_chain(certs: Any) -> X509CertChain:
    """tlslite ``X509CertChain`` from cryptography certificates, DER bytes or
    PEM (str/bytes, possibly several certificates), end-entity first.

    The chain's public keys are cryptography-backed (``import
    purekong.engine`` installed the patches). Equal inputs return the same cached object (tlslite
    parses X.509 in Python, ~0.3 ms a chain, and the engine asks per
    connection); tlslite only reads chains, so sharing is safe.
    """
    if isinstance(certs, (str, bytes, bytearray, memoryview, x509.Certificate)):
        certs = [certs]
    ders = tuple(_iter_der(certs))
    if not ders:
        raise ValueError("empty certificate chain")
    return _parse_chain(ders)


@functools.lru_cache(maxsize=1024)
def _parse_chain(ders: tuple[bytes, ...]) -> X509CertChain:
    from tlslite.x509 import X509
    from tlslite.x509certchain import X509CertChain

    parsed = []
    for der in ders:
        cert = X509()
        cert.parseBinary(bytearray(der))
        parsed.append(cert)
    return X509CertChain(parsed)


def _iter_der(items: Iterable[Any]) -> Iterator[bytes]:
    for item in items:
        if isinstance(item, x509.Certificate):
            yield item.public_bytes(serialization.Encoding.DER)
            continue
        data = item.encode("ascii") if isinstance(item, str) else bytes(item)
        if data.lstrip().startswith(b"-----BEGIN"):
            for cert in x509.load_pem_x509_certificates(data):
                yield cert.public_bytes(serialization.Encoding.DER)
        else:
            yield data
