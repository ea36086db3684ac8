"""tlslite key objects whose signing and verification run in ``cryptography``.

tlslite's handshake code talks to keys through its abstract classes
``RSAKey``, ``ECDSAKey`` and ``EdDSAKey`` (``sign``/``verify``/``hashAndSign``/
``hashAndVerify`` with tlslite's ``padding``/``hashAlg``/``saltLen``
arguments). Its own implementations are pure Python (RSA) or python-ecdsa
(ECDSA, EdDSA). The classes here implement the same interfaces on top of
``cryptography`` key objects, for our private keys (``load_private_key``) and
for peer public keys (installed into tlslite's key factories by
``_patches``).

tlslite hands signing methods a *digest* (or a DigestInfo-prefixed digest for
TLS 1.2 RSA PKCS#1), so signing uses ``Prehashed``. It re-verifies every
signature it makes; each key remembers the last signature it produced and
answers that one re-verification without another public-key operation.

Inside ``_backend.random_source()`` (deterministic mode) signatures repeat
too: ECDSA uses RFC 6979 nonces (where cryptography/OpenSSL offer them), Ed25519 and PKCS#1 v1.5 are deterministic
anyway, and RSA-PSS goes through tlslite's arithmetic so that its salt comes
from the random source (cryptography draws PSS salts from OpenSSL).
"""

from __future__ import annotations

import hmac
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from tlslite.errors import UnknownRSAType
from tlslite.utils.ecdsakey import ECDSAKey
from tlslite.utils.eddsakey import EdDSAKey
from tlslite.utils.rsakey import RSAKey

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "CryptoECDSAKey",
    "CryptoEdDSAKey",
    "CryptoRSAKey",
    "CURVES",
    "load_private_key",
    "wrap_public_key",
]

_HASHES: dict[str, Any] = {  # hash classes
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# ECDSA signs the leftmost bits of a digest; which hash produced it does not
# enter the maths. tlslite truncates TLS 1.2 digests to the curve size before
# signing (e.g. SHA-512 on P-384 -> 48 bytes), so pick the Prehashed
# algorithm from the digest length, not from the name tlslite passes.
_HASH_BY_DIGEST_LEN: dict[int, Any] = {20: hashes.SHA1, 28: hashes.SHA224, 32: hashes.SHA256,
                       48: hashes.SHA384, 64: hashes.SHA512}


_random_source: ContextVar[Any] | None = None


def _deterministic() -> bool:
    """Whether a fixed random source is active (see module docstring)."""
    global _random_source
    if _random_source is None:
        # Late, and once: _backend imports this module. An import statement
        # here ran on every ECDSA signature (~2 % of a server handshake).
        from ._backend import RANDOM_SOURCE

        _random_source = RANDOM_SOURCE
    return _random_source.get() is not None


def _hash(name: str | None) -> hashes.HashAlgorithm | None:
    """cryptography hash instance for a tlslite hash name, or None."""
    cls = _HASHES.get(name.lower()) if name else None
    return cls() if cls else None


def _strip_digest_info(data: bytes) -> tuple[str | None, bytes | None]:
    """Split tlslite's DigestInfo-prefixed digest into (hash name, digest).

    TLS 1.2 CertificateVerify hands RSA keys ``prefix || digest`` with
    hashAlg=None (tlslite added the prefix itself). Returns (None, None) for
    anything else.
    """
    for name, prefix in RSAKey._pkcs1Prefixes.items():
        if data.startswith(bytes(prefix)) and len(data) - len(prefix) == _HASHES[name].digest_size:
            return name, data[len(prefix):]
    return None, None


@dataclass(frozen=True)
class _Curve:
    """What tlslite needs to know about a NIST curve.

    ``tlslite_name`` is python-ecdsa's name, which tlslite compares against
    (``curve_name``, ``CURVE_ALIASES``, ``_curve_name_to_hash_name``);
    ``baselen`` is read through ``key.public_key.curve.baselen``; ``order``
    lets the backend derive ephemeral ECDH keys from ``random_bytes``.
    """

    crypto: type
    tlslite_name: str
    openssl_name: str
    baselen: int
    bits: int
    order: int


# Keyed by tlslite's GroupName / cryptography's curve.name.
CURVES = {
    "secp256r1": _Curve(ec.SECP256R1, "NIST256p", "prime256v1", 32, 256,
                        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "secp384r1": _Curve(ec.SECP384R1, "NIST384p", "secp384r1", 48, 384,
                        int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                            "581A0DB248B0A77AECEC196ACCC52973", 16)),
    "secp521r1": _Curve(ec.SECP521R1, "NIST521p", "secp521r1", 66, 521,
                        int("1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
                            "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16)),
}
# The names tlslite's own Python_ECDSAKey accepts for a curve.
CURVES_BY_TLSLITE_NAME = {n: c for c in CURVES.values() for n in (c.tlslite_name, c.openssl_name)}


class _CurveHandle:
    """Stands in for the python-ecdsa key object on tlslite's own ECDSA keys.

    tlslite reads ``key.private_key.curve.baselen`` (TLS 1.2 signing) and
    ``key.public_key.curve.baselen`` (TLS 1.2 verification); nothing else.
    """

    __slots__ = ("curve",)

    def __init__(self, curve: _Curve) -> None:
        self.curve = curve

    def __bool__(self) -> bool:
        return True


class _SignatureMemo:
    """The last (parameters, message, signature) this key produced.

    tlslite verifies each signature right after making it (a guard against
    faulty signers). OpenSSL already checks RSA-CRT results, so answering
    exactly that pair from memory is honest; anything else is verified.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[object, bytes, bytes] | None = None

    def remember(self, params: object, message: Buffer, signature: Buffer) -> None:
        self._last = (params, bytes(message), bytes(signature))  # one atomic store

    def matches(self, params: object, message: Buffer, signature: Buffer) -> bool:
        last = self._last
        return (last is not None and last[0] == params
                and last[1] == bytes(message) and last[2] == bytes(signature))


def _pem(private: Any, public: Any, password: str | bytes | None) -> str:
    if private is None:
        return str(public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    enc = (serialization.BestAvailableEncryption(password.encode() if isinstance(password, str) else password)
           if password else serialization.NoEncryption())
    return str(private.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8, enc).decode())


# ---------------------------------------------------------------------------
# RSA
# ---------------------------------------------------------------------------

class _KeyCommon:
    """What the three key classes share; listed first so it wins over
    tlslite's abstract methods."""

    #: The cryptography keys (the private one is None for a peer's key).
    crypto_public: Any
    crypto_private: Any

    def hasPrivateKey(self) -> bool:
        return self.crypto_private is not None

    def acceptsPassword(self) -> bool:
        return True

    def write(self, password: str | bytes | None = None) -> str:
        return _pem(self.crypto_private, self.crypto_public, password)


class CryptoRSAKey(_KeyCommon, RSAKey):
    """tlslite ``RSAKey`` backed by a cryptography RSA key (public or private).

    ``key_type`` is "rsa" or "rsa-pss" (an id-RSASSA-PSS key; tlslite then
    refuses PKCS#1 v1.5 with it).
    """

    def __init__(self, public_key: rsa.RSAPublicKey,
                 private_key: rsa.RSAPrivateKey | None = None, key_type: str = "rsa") -> None:
        # RSAKey.__init__ only raises NotImplementedError; set its fields.
        numbers = public_key.public_numbers()
        self.n = numbers.n
        self.e = numbers.e
        self.key_type = key_type
        self._key_hash = None
        self.crypto_public = public_key
        self.crypto_private = private_key
        self._memo = _SignatureMemo()
        self._pure_key = None


    def sign(self, bytes: Buffer, padding: str = "pkcs1", hashAlg: str | None = None, saltLen: int | None = None) -> bytearray:  # noqa: A002 (tlslite's name)
        if not self.hasPrivateKey():
            raise AssertionError()
        scheme = (padding or "").lower()
        data = bytes_(bytes)
        if scheme == "pkcs1":
            name, digest = (hashAlg.lower(), data) if hashAlg is not None else _strip_digest_info(data)
            algorithm = _hash(name)
            if algorithm is None or digest is None or len(digest) != algorithm.digest_size:
                # Not a plain digest (e.g. TLS 1.0's MD5||SHA1): cryptography has
                # no raw RSA operation, so use tlslite's arithmetic. Not reached
                # in TLS 1.2/1.3 with the hashes tlslite negotiates.
                return bytearray(self._pure().sign(bytes, padding, hashAlg, saltLen))
            sig = self.crypto_private.sign(digest, _PKCS1, Prehashed(algorithm))
        elif scheme == "pss":
            algorithm = _hash(hashAlg)
            if algorithm is None:
                raise UnknownRSAType("Unknown hash for RSA-PSS: %r" % (hashAlg,))
            if _deterministic():
                # salt from getRandomBytes (patched to the random source); slow
                # (pure-Python RSA) but only used for reproducible transcripts
                pure = self._pure()
                # tlslite draws its RSA blinding factor on a key's first
                # private operation and keeps it; this key is shared by
                # connections, so reset it: every deterministic signature then
                # draws the same bytes, whatever the key signed before.
                pure.blinder = 0
                sig = bytes_(pure.sign(bytes, padding, hashAlg, saltLen))
            else:
                sig = self.crypto_private.sign(data, _pss(algorithm, saltLen), Prehashed(algorithm))
        else:
            raise UnknownRSAType("Unknown RSA algorithm type")
        self._memo.remember((scheme, hashAlg, saltLen), data, sig)
        return bytearray(sig)

    def verify(self, sigBytes: Buffer, bytes: Buffer, padding: str = "pkcs1", hashAlg: str | None = None, saltLen: int | None = None) -> bool:  # noqa: A002
        scheme = (padding or "").lower()
        if scheme == "pkcs1" and self.key_type == "rsa-pss":
            return False
        if self._memo.matches((scheme, hashAlg, saltLen), bytes, sigBytes):
            return True
        data = bytes_(bytes)
        if scheme == "pkcs1":
            # Same rule as tlslite's _raw_pkcs1_verify: the signature must
            # carry exactly these bytes under type-1 padding. Recovering them
            # keeps tlslite's acceptance of SHA-1 DigestInfo with or without
            # the NULL parameter.
            try:
                recovered = self.crypto_public.recover_data_from_signature(
                    bytes_(sigBytes), _PKCS1, None)
            except (InvalidSignature, ValueError):
                return False
            candidates: tuple[Buffer, ...]
            if hashAlg == "sha1":
                candidates = (RSAKey.addPKCS1SHA1Prefix(data, False), RSAKey.addPKCS1SHA1Prefix(data, True))
            elif hashAlg is not None:
                candidates = (RSAKey.addPKCS1Prefix(data, hashAlg),)
            else:
                candidates = (data,)
            return any(hmac.compare_digest(recovered, bytes_(c)) for c in candidates)
        if scheme == "pss":
            algorithm = _hash(hashAlg)
            if algorithm is None or len(data) != algorithm.digest_size:
                return False
            try:
                self.crypto_public.verify(bytes_(sigBytes), data, _pss(algorithm, saltLen),
                                          Prehashed(algorithm))
            except (InvalidSignature, ValueError):
                return False
            return True
        raise UnknownRSAType("Unknown RSA algorithm type")

    def encrypt(self, bytes: Buffer) -> bytearray:  # noqa: A002
        # Client side of static-RSA key exchange (TLS 1.2 "rsa" suites).
        return bytearray(self.crypto_public.encrypt(bytes_(bytes), _PKCS1))

    def decrypt(self, encBytes: Buffer) -> Any:
        # Server side of static-RSA key exchange. tlslite's decrypt does
        # implicit rejection (no padding oracle) in constant-time style;
        # cryptography signals bad padding by exception, which would make a
        # timing oracle in Python. Keep tlslite's code; purekong's engine
        # does not enable static-RSA suites.
        return self._pure().decrypt(encBytes)

    def _rawPrivateKeyOp(self, message: int) -> Any:
        return self._pure()._rawPrivateKeyOp(message)

    def _rawPublicKeyOp(self, ciphertext: int) -> int:
        return pow(ciphertext, self.e, self.n)

    def _pure(self) -> Any:
        """tlslite's pure-Python key with the same numbers (rare paths only)."""
        if self._pure_key is None:
            if self.crypto_private is None:
                raise AssertionError("no private key")
            from tlslite.utils.python_rsakey import Python_RSAKey

            p = self.crypto_private.private_numbers()
            self._pure_key = Python_RSAKey(self.n, self.e, p.d, p.p, p.q, p.dmp1, p.dmq1, p.iqmp,
                                           key_type=self.key_type)
        return self._pure_key


_PKCS1 = padding.PKCS1v15()


def _pss(algorithm: hashes.HashAlgorithm, salt_len: int | None) -> padding.PSS:
    # tlslite always passes the salt length (the hash length in TLS).
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=salt_len or 0)


def bytes_(data: Buffer) -> bytes:
    return data if type(data) is bytes else bytes(data)


# ---------------------------------------------------------------------------
# ECDSA
# ---------------------------------------------------------------------------

class CryptoECDSAKey(_KeyCommon, ECDSAKey):
    """tlslite ``ECDSAKey`` backed by a cryptography key on P-256/384/521."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey,
                 private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        curve = CURVES.get(public_key.curve.name)
        if curve is None:
            raise ValueError("unsupported ECDSA curve: %s" % public_key.curve.name)
        self.curve = curve
        self.curve_name = curve.tlslite_name
        self.key_type = "ecdsa"
        self.crypto_public = public_key
        self.crypto_private = private_key
        self.public_key = _CurveHandle(curve)
        self.private_key = _CurveHandle(curve) if private_key is not None else None
        self._memo = _SignatureMemo()

    def __len__(self) -> int:
        return self.curve.bits


    def _sign(self, data: Buffer, hash_alg: str | None) -> bytearray:
        digest = bytes_(data)
        algorithm = _HASH_BY_DIGEST_LEN.get(len(digest))
        if algorithm is None:
            raise ValueError("ECDSA: unsupported digest length %d" % len(digest))
        sig = None
        if _deterministic():
            try:
                sig = self.crypto_private.sign(digest, ec.ECDSA(Prehashed(algorithm()), deterministic_signing=True))
            except (TypeError, UnsupportedAlgorithm):
                pass  # cryptography < 43 or OpenSSL < 3.2: randomised after all
        if sig is None:
            sig = self.crypto_private.sign(digest, ec.ECDSA(Prehashed(algorithm())))
        self._memo.remember(None, digest, sig)
        return bytearray(sig)

    def _hashAndSign(self, data: Buffer, hAlg: str) -> bytearray:
        algorithm = _hash(hAlg)
        if algorithm is None:
            raise ValueError("ECDSA: unsupported hash %r" % (hAlg,))
        sig = self.crypto_private.sign(bytes_(data), ec.ECDSA(algorithm))
        return bytearray(sig)

    def _verify(self, signature: Buffer, hash_bytes: Buffer) -> bool:
        if self._memo.matches(None, hash_bytes, signature):
            return True
        digest = bytes_(hash_bytes)
        algorithm = _HASH_BY_DIGEST_LEN.get(len(digest))
        if algorithm is None:
            return False
        try:
            self.crypto_public.verify(bytes_(signature), digest, ec.ECDSA(Prehashed(algorithm())))
        except (InvalidSignature, ValueError):
            return False
        return True


# ---------------------------------------------------------------------------
# EdDSA
# ---------------------------------------------------------------------------

# Bit length of the group order, what tlslite's Python_EdDSAKey.__len__ gives.
_EDDSA = {ed25519.Ed25519PublicKey: ("Ed25519", 253), ed448.Ed448PublicKey: ("Ed448", 446)}


class CryptoEdDSAKey(_KeyCommon, EdDSAKey):
    """tlslite ``EdDSAKey`` (pure EdDSA) backed by a cryptography Ed25519/Ed448 key."""

    def __init__(self, public_key: Any, private_key: Any = None) -> None:
        for cls, (name, bits) in _EDDSA.items():
            if isinstance(public_key, cls):
                break
        else:
            raise TypeError("not an EdDSA public key: %r" % (public_key,))
        self.key_type = self.curve_name = name
        self._bits = bits
        self.crypto_public = public_key
        self.crypto_private = private_key
        self._memo = _SignatureMemo()

    def __len__(self) -> int:
        return self._bits


    def _hashAndSign(self, data: Buffer) -> bytearray:
        message = bytes_(data)
        sig = self.crypto_private.sign(message)
        self._memo.remember(None, message, sig)
        return bytearray(sig)

    def _hashAndVerify(self, signature: Buffer, data: Buffer) -> bool:
        if self._memo.matches(None, data, signature):
            return True
        try:
            self.crypto_public.verify(bytes_(signature), bytes_(data))
        except (InvalidSignature, ValueError):
            return False
        return True


# ---------------------------------------------------------------------------
# Constructors
# ---------------------------------------------------------------------------

def load_private_key(key: Any, *, rsa_pss: bool = False) -> CryptoRSAKey | CryptoECDSAKey | CryptoEdDSAKey:
    """Wrap a cryptography private key as a tlslite key object.

    Supports RSA (PKCS#1 v1.5 and PSS signatures), EC on P-256/P-384/P-521,
    Ed25519 and Ed448. Set ``rsa_pss`` for a key whose certificate is an
    id-RSASSA-PSS one (cryptography does not keep that distinction).
    """
    if isinstance(key, rsa.RSAPrivateKey):
        return CryptoRSAKey(key.public_key(), key, "rsa-pss" if rsa_pss else "rsa")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return CryptoECDSAKey(key.public_key(), key)
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return CryptoEdDSAKey(key.public_key(), key)
    raise TypeError("unsupported private key type: %s" % type(key).__name__)


def wrap_public_key(key: Any, key_type: str | None = None) -> CryptoRSAKey | CryptoECDSAKey | CryptoEdDSAKey:
    """Wrap a cryptography public key as a tlslite key object.

    ``key_type`` matters for RSA only ("rsa" or "rsa-pss", as in
    tlslite's ``X509.certAlg``). Raises ValueError for unsupported curves.
    """
    if isinstance(key, rsa.RSAPublicKey):
        return CryptoRSAKey(key, None, key_type or "rsa")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return CryptoECDSAKey(key)
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return CryptoEdDSAKey(key)
    raise ValueError("unsupported public key type: %s" % type(key).__name__)
