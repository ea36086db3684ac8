"""purekong.engine._tlslite._backend: tlslite-ng running on ``cryptography``.

Each primitive is checked against published vectors where cheap and against
tlslite's own pure-Python implementation (same input, same output); then
whole tlslite handshakes run over in-memory pipes, with tlslite's pure
primitives rigged to fail so nothing can silently fall back to them.
"""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

# Importing the engine installs the backend (and every other patch).
from purekong.engine._tlslite import _backend, _patches
from purekong.engine._tlslite._keys import CryptoECDSAKey, CryptoEdDSAKey, CryptoRSAKey
from purekong.engine._tlslite._transport import MemoryTransport

import ecdsa  # tlslite's pure ECDSA/EdDSA, for comparisons
from tlslite import keyexchange
from tlslite.handshakesettings import HandshakeSettings
from tlslite.tlsconnection import TLSConnection
from tlslite.constants import AlertDescription, GroupName, SignatureScheme
from tlslite.errors import (
    TLSIllegalParameterException,
    TLSLocalAlert,
    TLSRemoteAlert,
)
from tlslite.utils import python_aesccm, python_aesgcm, python_chacha20_poly1305
from tlslite.utils import x25519 as pure_x
from tlslite.utils.python_ecdsakey import Python_ECDSAKey
from tlslite.utils.python_eddsakey import Python_EdDSAKey
from tlslite.utils.python_rsakey import Python_RSAKey
from tlslite.utils.rsakey import RSAKey

h = bytes.fromhex


# ---------------------------------------------------------------------------
# Known-answer vectors
# ---------------------------------------------------------------------------

def test_x25519_rfc7748_vectors():
    x = keyexchange.x25519
    # RFC 7748 section 5.2, first vector
    assert x(bytearray(h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")),
             bytearray(h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")),
             ) == h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    # RFC 7748 section 6.1: both public keys and the shared secret
    alice = bytearray(h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
    bob = bytearray(h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
    alice_pub = x(alice, pure_x.X25519_G)
    bob_pub = x(bob, pure_x.X25519_G)
    assert alice_pub == h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert bob_pub == h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert x(alice, bob_pub) == x(bob, alice_pub) == shared


def test_aes_gcm_vector():
    # McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4
    key = bytearray(h("feffe9928665731c6d6a8f9467308308"))
    iv = bytearray(h("cafebabefacedbaddecaf888"))
    aad = bytearray(h("feedfacedeadbeeffeedfacedeadbeefabaddad2"))
    pt = bytearray(h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"))
    ct = h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
           "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091")
    tag = h("5bc94fbc3221a5db94fae95ae7121a47")
    cipher = python_aesgcm.new(key)
    assert (cipher.name, cipher.implementation) == ("aes128gcm", "cryptography")
    assert cipher.seal(iv, pt, aad) == ct + tag
    assert cipher.open(iv, bytearray(ct + tag), aad) == pt


def test_chacha20_poly1305_rfc8439_vector():
    # RFC 8439 section 2.8.2
    key = bytearray(range(0x80, 0xA0))
    nonce = bytearray(h("070000004041424344454647"))
    aad = bytearray(h("50515253c0c1c2c3c4c5c6c7"))
    pt = bytearray(b"Ladies and Gentlemen of the class of '99: If I could offer you only "
                   b"one tip for the future, sunscreen would be it.")
    ct = h("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
           "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
           "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
           "3ff4def08e4b7a9de576d26586cec64b6116")
    tag = h("1ae10b594f09e26a7e902ecbd0600691")
    cipher = python_chacha20_poly1305.new(key)
    assert cipher.name == "chacha20-poly1305"
    assert cipher.seal(nonce, pt, aad) == ct + tag
    assert cipher.open(nonce, bytearray(ct + tag), aad) == pt


# ---------------------------------------------------------------------------
# Same output as tlslite's pure-Python primitives
# ---------------------------------------------------------------------------

PURE_AEADS = [
    ("aesgcm-128", python_aesgcm, (16,), ()),
    ("aesgcm-256", python_aesgcm, (32,), ()),
    ("chacha20", python_chacha20_poly1305, (32,), ()),
    ("aesccm-128", python_aesccm, (16,), ()),
    ("aesccm_8-256", python_aesccm, (32,), (8,)),
]


@pytest.mark.parametrize("label,module,key_len,extra", PURE_AEADS, ids=[a[0] for a in PURE_AEADS])
def test_aead_matches_pure(label, module, key_len, extra):
    ours_new = module.new
    pure_new = _patches.original(module, "new")
    assert ours_new is not pure_new
    for length in (0, 1, 15, 16, 17, 100):
        key = bytearray(os.urandom(key_len[0]))
        nonce, aad, pt = bytearray(os.urandom(12)), bytearray(os.urandom(13)), bytearray(os.urandom(length))
        ours, pure = ours_new(key, *extra), pure_new(key, *extra)
        for attr in ("name", "isAEAD", "isBlockCipher", "nonceLength", "tagLength", "key"):
            assert getattr(ours, attr) == getattr(pure, attr), attr
        sealed = ours.seal(nonce, pt, aad)
        assert isinstance(sealed, bytearray)
        assert sealed == pure.seal(nonce, pt, aad)
        assert ours.open(nonce, sealed, aad) == pure.open(nonce, sealed, aad) == pt
        tampered = bytearray(sealed)
        tampered[-1] ^= 1
        assert ours.open(nonce, tampered, aad) is None
        assert pure.open(nonce, tampered, aad) is None
        assert ours.open(nonce, bytearray(3), aad) is None  # shorter than a tag


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha384"])
@pytest.mark.parametrize("length", [0, 1, 12, 32, 48, 72, 136])
def test_hmac_prf_and_hkdf_match_tlslite(algorithm, length):
    # RFC 5246 §5 PRF, RFC 5869 HKDF-Expand and HMAC, against tlslite's own
    # code (outputs longer than one hash take the multi-block paths).
    from tlslite import mathtls
    from tlslite.utils import cryptomath

    assert mathtls.P_hash is not _patches.original(mathtls, "P_hash")  # ours is installed
    secret, seed = os.urandom(48), os.urandom(77)
    assert mathtls.P_hash(algorithm, secret, seed, length) == _patches.original(mathtls, "P_hash")(algorithm, secret, seed, length)
    assert cryptomath.HKDF_expand(secret, seed, length, algorithm) == _patches.original(cryptomath, "HKDF_expand")(secret, seed, length, algorithm)
    assert cryptomath.secureHMAC(secret, seed, algorithm) == _patches.original(cryptomath, "secureHMAC")(secret, seed, algorithm)
    assert type(mathtls.P_hash(algorithm, secret, seed, length)) is bytearray


def test_x25519_and_x448_match_pure():
    p25519 = 2**255 - 19
    us = [os.urandom(32) for _ in range(4)]
    us.append(bytes([0xFF] * 32))                         # high bit set: masked
    us.append((p25519 + 3).to_bytes(32, "little"))        # non-canonical u >= p
    for u in us:
        k = bytearray(os.urandom(32))
        assert keyexchange.x25519(k, bytearray(u)) == pure_x.x25519(k, bytearray(u))
    k = bytearray(os.urandom(56))
    u = bytearray(os.urandom(56))
    assert keyexchange.x448(k, u) == pure_x.x448(k, u)
    assert keyexchange.x448(k, pure_x.X448_G) == pure_x.x448(k, pure_x.X448_G)


# u-coordinates of small order on Curve25519 (0, 1, the two order-8 points,
# p - 1, and non-canonical encodings of 0 and 1); the shared secret is zero.
LOW_ORDER_X25519 = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p - 1
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p (= 0)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p + 1 (= 1)
]


@pytest.mark.parametrize("u", LOW_ORDER_X25519)
def test_x25519_low_order_points_give_zero_and_illegal_parameter(u):
    k = bytearray(os.urandom(32))
    assert keyexchange.x25519(k, bytearray(h(u))) == bytearray(32) == pure_x.x25519(k, bytearray(h(u)))
    kex = keyexchange.ECDHKeyExchange(GroupName.x25519, (3, 4))
    with pytest.raises(TLSIllegalParameterException):
        kex.calc_shared_key(kex.get_random_private_key(), bytearray(h(u)))


NIST = [("secp256r1", ecdsa.NIST256p, 32), ("secp384r1", ecdsa.NIST384p, 48)]


def _bad_points(curve, size):
    """(name, share, valid formats) cases, valid and invalid."""
    peer = ec.generate_private_key(curve())
    unc = peer.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)
    comp = peer.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.CompressedPoint)
    both = {"uncompressed", "compressed"}
    hybrid = bytes([6 | (unc[-1] & 1)]) + unc[1:]
    return [
        ("valid", unc, ("uncompressed",)),
        ("short", unc[:-1], ("uncompressed",)),
        ("long", unc + b"\0", ("uncompressed",)),
        ("off-curve", unc[:-1] + bytes([unc[-1] ^ 1]), ("uncompressed",)),
        ("x-too-big", b"\x04" + b"\xff" * size + unc[1 + size:], ("uncompressed",)),
        ("zeros", b"\x04" + bytes(2 * size), ("uncompressed",)),
        ("infinity", b"\x00", ("uncompressed",)),
        ("empty", b"", ("uncompressed",)),
        ("prefix-5", b"\x05" + unc[1:], ("uncompressed",)),
        ("compressed-not-allowed", comp, ("uncompressed",)),
        ("compressed-allowed", comp, both),
        ("compressed-only", comp, {"compressed"}),
        ("uncompressed-not-allowed", unc, {"compressed"}),
        ("compressed-bad", b"\x02" + b"\xff" * size, both),
        ("hybrid-not-allowed", hybrid, ("uncompressed",)),
        ("no-formats-uncompressed", unc, set()),
        ("no-formats-raw", unc[1:], set()),
        ("no-formats-hybrid", hybrid, set()),
        ("no-formats-hybrid-bad-parity", bytes([hybrid[0] ^ 1]) + hybrid[1:], set()),
        ("raw-not-allowed", unc[1:], ("uncompressed",)),
    ]


def _outcome(fn):
    try:
        return ("ok", bytes(fn()))
    except Exception as exc:  # compare exception type and message
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("group,pure_curve,size", NIST, ids=[n[0] for n in NIST])
def test_ecdh_matches_python_ecdsa(group, pure_curve, size):
    kex = keyexchange.ECDHKeyExchange(getattr(GroupName, group), (3, 4))
    ours_priv = kex.get_random_private_key()
    assert isinstance(ours_priv, ec.EllipticCurvePrivateKey)
    d = ours_priv.private_numbers().private_value
    pure_priv = ecdsa.SigningKey.from_secret_exponent(d, pure_curve)
    pure_calc_public = _patches.original(keyexchange.ECDHKeyExchange, "calc_public_value")
    pure_calc_shared = _patches.original(keyexchange.ECDHKeyExchange, "calc_shared_key")
    for fmt in ("uncompressed", "compressed"):
        assert kex.calc_public_value(ours_priv, fmt) == pure_calc_public(kex, pure_priv, fmt)
    outcomes = []
    for name, share, formats in _bad_points(CURVE_CLASSES[group], size):
        ours = _outcome(lambda: kex.calc_shared_key(ours_priv, bytearray(share), formats))
        pure = _outcome(lambda: pure_calc_shared(kex, pure_priv, bytearray(share), formats))
        assert ours == pure, name
        outcomes.append(ours[0])
    # the matrix exercised both accepted and rejected shares
    assert {"ok", "TLSIllegalParameterException"} <= set(outcomes)


CURVE_CLASSES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}


# ---------------------------------------------------------------------------
# Signatures: our keys vs tlslite's pure-Python keys, both directions
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pure_rsa(key, private=True):
    n = key.private_numbers()
    pub = n.public_numbers
    if not private:
        return Python_RSAKey(pub.n, pub.e)
    return Python_RSAKey(pub.n, pub.e, n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp)


def test_rsa_signatures_interoperate(rsa_key):
    ours = _backend.load_private_key(rsa_key)
    ours_public = _backend.wrap_public_key(rsa_key.public_key())
    pure = _pure_rsa(rsa_key)
    assert isinstance(ours, CryptoRSAKey) and ours.hasPrivateKey() and not ours_public.hasPrivateKey()
    assert (len(ours), ours.n, ours.e, ours.key_type) == (len(pure), pure.n, pure.e, "rsa")
    for hash_name in ("sha1", "sha256", "sha384", "sha512"):
        digest = bytearray(os.urandom(getattr(hashes, hash_name.upper()).digest_size))
        # PKCS#1 v1.5 is deterministic: identical signatures
        sig = ours.sign(digest, "pkcs1", hash_name)
        assert sig == pure.sign(digest, "pkcs1", hash_name)
        # TLS 1.2 CertificateVerify form: DigestInfo already prepended, hashAlg=None
        prefixed = RSAKey.addPKCS1Prefix(digest, hash_name)
        assert ours.sign(prefixed, "pkcs1", None) == sig
        assert ours_public.verify(sig, prefixed, "pkcs1", None)
        assert ours_public.verify(sig, digest, "pkcs1", hash_name)
        # PSS (randomised): cross-verify
        salt = len(digest)
        pss = ours.sign(digest, "pss", hash_name, salt)
        assert pure.verify(pss, digest, "pss", hash_name, salt)
        assert ours.verify(pss, digest, "pss", hash_name, salt)
        pure_pss = pure.sign(digest, "pss", hash_name, salt)
        assert ours_public.verify(pure_pss, digest, "pss", hash_name, salt)
        # wrong salt length, wrong message, tampered signature: rejected by both
        bad = bytearray(pure_pss)
        bad[10] ^= 1
        other = bytearray(os.urandom(len(digest)))
        for args in ((pure_pss, digest, "pss", hash_name, 0), (pure_pss, other, "pss", hash_name, salt),
                     (bad, digest, "pss", hash_name, salt), (bad, digest, "pkcs1", hash_name, None),
                     (sig, other, "pkcs1", hash_name, None), (sig[:-1], digest, "pkcs1", hash_name, None)):
            assert ours_public.verify(*args) is False
            assert pure.verify(*args) is False
    # SHA-1 DigestInfo without the NULL parameter is accepted, as by tlslite
    digest = bytearray(os.urandom(20))
    no_null = pure.sign(RSAKey.addPKCS1SHA1Prefix(digest, False), "pkcs1", None)
    assert ours_public.verify(no_null, digest, "pkcs1", "sha1")
    # hashAndSign / hashAndVerify (RSAKey's generic wrappers)
    sig = ours.hashAndSign(b"message", "PSS", "sha256", 32)
    assert pure.hashAndVerify(sig, b"message", "pss", "sha256", 32)
    assert ours_public.hashAndVerify(sig, b"message", "pss", "sha256", 32)


def test_rsa_pss_key_refuses_pkcs1(rsa_key):
    key = _backend.load_private_key(rsa_key, rsa_pss=True)
    assert key.key_type == "rsa-pss"
    digest = bytearray(32)
    assert key.verify(key.sign(digest, "pkcs1", "sha256"), digest, "pkcs1", "sha256") is False
    assert key.verify(key.sign(digest, "pss", "sha256", 32), digest, "pss", "sha256", 32)


def test_signature_memo_only_answers_the_exact_signature(rsa_key):
    key = _backend.load_private_key(ec.generate_private_key(ec.SECP256R1()))
    digest = bytearray(os.urandom(32))
    sig = key.sign(digest, None, "sha256")
    assert key.verify(sig, digest, None, "sha256")
    bad = bytearray(sig)
    bad[-1] ^= 1
    assert not key.verify(bad, digest, None, "sha256")
    assert not key.verify(sig, bytearray(os.urandom(32)), None, "sha256")
    rsa_ours = _backend.load_private_key(rsa_key)
    sig = rsa_ours.sign(digest, "pss", "sha256", 32)
    assert not rsa_ours.verify(sig, digest, "pss", "sha256", 0)  # other parameters: real check


@pytest.mark.parametrize("group,pure_curve,size", NIST, ids=[n[0] for n in NIST])
def test_ecdsa_signatures_interoperate(group, pure_curve, size):
    key = ec.generate_private_key(CURVE_CLASSES[group]())
    ours = _backend.load_private_key(key)
    nums = key.private_numbers()
    pure = Python_ECDSAKey(None, None, pure_curve.name, nums.private_value)
    pure_public = Python_ECDSAKey(nums.public_numbers.x, nums.public_numbers.y, pure_curve.name)
    ours_public = _backend.wrap_public_key(key.public_key())
    assert isinstance(ours, CryptoECDSAKey)
    assert (ours.curve_name, len(ours), ours.key_type) == (pure.curve_name, len(pure), "ecdsa")
    assert ours.private_key.curve.baselen == ours.public_key.curve.baselen == pure.private_key.curve.baselen
    for hash_name in ("sha1", "sha256", "sha384", "sha512"):
        digest = bytearray(os.urandom(getattr(hashes, hash_name.upper())().digest_size))
        # tlslite's TLS 1.2 code truncates the digest to the curve size first
        digest = digest[:ours.private_key.curve.baselen]
        sig = ours.sign(digest, None, hash_name)
        assert pure_public.verify(sig, digest, None, hash_name)
        assert ours.verify(sig, digest, None, hash_name)
        pure_sig = pure.sign(digest, None, hash_name)
        assert ours_public.verify(pure_sig, digest, None, hash_name)
        bad = bytearray(pure_sig)
        bad[-1] ^= 1
        assert not ours_public.verify(bad, digest) and not pure_public.verify(bad, digest)
        assert not ours_public.verify(b"\x30\x00", digest) and not pure_public.verify(b"\x30\x00", digest)
    sig = ours.hashAndSign(b"message", hAlg="sha256")
    assert pure_public.hashAndVerify(sig, b"message", hAlg="sha256")


def test_ed25519_signatures_interoperate():
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pure_sk = ecdsa.SigningKey.from_string(raw, curve=ecdsa.Ed25519)
    pure = Python_EdDSAKey(None, pure_sk)
    ours = _backend.load_private_key(key)
    ours_public = _backend.wrap_public_key(key.public_key())
    assert isinstance(ours, CryptoEdDSAKey)
    assert (ours.key_type, ours.curve_name, len(ours)) == (pure.key_type, pure.curve_name, len(pure))
    message = bytearray(os.urandom(100))
    sig = ours.hashAndSign(message)
    assert sig == pure.hashAndSign(message)  # Ed25519 is deterministic
    assert pure.hashAndVerify(sig, message) and ours_public.hashAndVerify(sig, message)
    assert not ours_public.hashAndVerify(sig, message + b"x")
    assert not ours_public.hashAndVerify(sig[:-1], message)


def test_load_private_key_rejects_unsupported():
    with pytest.raises(ValueError):
        _backend.load_private_key(ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(TypeError):
        _backend.load_private_key(object())


# ---------------------------------------------------------------------------
# Randomness seam
# ---------------------------------------------------------------------------

def test_random_source_context():
    assert len(_backend.random_bytes(7)) == 7
    with _backend.random_source(lambda n: b"\x01" * n):
        assert _backend.random_bytes(3) == b"\x01\x01\x01"
        from tlslite.utils import cryptomath
        from tlslite import tlsconnection
        assert tlsconnection.getRandomBytes(4) == bytearray(b"\x01" * 4)
        assert cryptomath.getRandomNumber(1, 1000) == 0x101
        with _backend.random_source(lambda n: b"\x02" * n):
            assert _backend.random_bytes(1) == b"\x02"
        assert _backend.random_bytes(1) == b"\x01"
        with _backend.random_source(lambda n: b""):
            with pytest.raises(ValueError):
                _backend.random_bytes(1)
    assert _backend.random_bytes(16) != b"\x01" * 16


def test_install_is_idempotent_and_reaches_every_getrandombytes_reference():
    import sys

    def names():
        return sorted(f"{getattr(owner, '__name__', owner)}.{name}" for owner, name in _patches.applied())

    before = names()
    _patches.install()
    assert names() == before
    from tlslite.utils import cryptomath
    pure = _patches.original(cryptomath, "getRandomBytes")
    leftovers = [name for name, mod in sys.modules.items()
                 if name.startswith("tlslite") and getattr(mod, "getRandomBytes", None) is pure]
    assert leftovers == []
    for needed in ("tlslite.tlsconnection.getRandomBytes", "tlslite.keyexchange.getRandomBytes",
                   "tlslite.messages.getRandomBytes", "tlslite.recordlayer.getRandomBytes"):
        assert needed in before


# ---------------------------------------------------------------------------
# Certificates and an in-memory TLSConnection pair
# ---------------------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(key, cn, ca_key, ca_name, is_ca=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    algorithm = None if isinstance(ca_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, algorithm)


@pytest.fixture(scope="module")
def tlslite_keys(rsa_key):
    """label -> (tlslite chain, tlslite private key, certificate), issued by one
    test CA and loaded through ``_backend``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue(ca_key, "Test CA", ca_key, _name("Test CA"), is_ca=True)
    keys = {
        "rsa2048": rsa_key,
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "client-rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "client-p256": ec.generate_private_key(ec.SECP256R1()),
    }
    out = {}
    for label, key in keys.items():
        cert = _issue(key, label, ca_key, ca.subject)
        out[label] = (_backend.load_certificate_chain([cert, ca]), _backend.load_private_key(key), cert)
    return out


def test_load_certificate_chain_inputs(tlslite_keys):
    cert = tlslite_keys["p256"][2]
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    for source in ([cert], [der], pem, pem.decode(), [bytearray(der)], cert):
        chain = _backend.load_certificate_chain(source)
        assert [bytes(c.bytes) for c in chain.x509List] == [der]
        leaf = chain.x509List[0]
        assert leaf.certAlg == "ecdsa" and isinstance(leaf.publicKey, CryptoECDSAKey)
        assert leaf.publicKey.curve_name == "NIST256p" and not leaf.publicKey.hasPrivateKey()
    # parsed once: equal inputs share one (read-only) chain object
    assert _backend.load_certificate_chain([cert]) is _backend.load_certificate_chain(pem)
    assert len(tlslite_keys["rsa2048"][0].x509List) == 2  # leaf + CA, in order
    assert tlslite_keys["rsa2048"][0].x509List[0].certAlg == "rsa"
    assert tlslite_keys["ed25519"][0].x509List[0].certAlg == "Ed25519"
    with pytest.raises(ValueError):
        _backend.load_certificate_chain([])


def test_other_curves_keep_tlslite_keys():
    # Curves we do not wrap (here secp256k1) stay on tlslite's python-ecdsa key.
    key = ec.generate_private_key(ec.SECP256K1())
    cert = _issue(key, "k1", key, _name("k1"))
    leaf = _backend.load_certificate_chain([cert]).x509List[0]
    assert isinstance(leaf.publicKey, Python_ECDSAKey)
    from tlslite.utils import keyfactory
    nums = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    assert isinstance(keyfactory._create_public_ecdsa_key(nums.x, nums.y, "NIST256p"), CryptoECDSAKey)
    with pytest.raises(AssertionError):  # off the curve: python-ecdsa's own error, as before
        keyfactory._create_public_ecdsa_key(nums.x, nums.y + 1, "NIST256p")
    n = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers().n
    assert isinstance(keyfactory._createPublicRSAKey(n, 65537, "rsa"), CryptoRSAKey)
    # parameters OpenSSL refuses (even e) keep tlslite's key, which fails later as before
    assert isinstance(keyfactory._createPublicRSAKey(n, 65536, "rsa"), Python_RSAKey)


class Peer:
    """A TLSConnection, its socket and the generator being driven."""

    def __init__(self, conn_class=TLSConnection):
        self.sock = MemoryTransport()
        self.conn = conn_class(self.sock)
        self.gen = None
        self.result = None
        self.error = None
        self.done = True
        self.flights = []

    def start(self, gen):
        self.gen, self.done, self.result = gen, False, None

    def step(self):
        try:
            while not self.done:
                value = next(self.gen)
                if value == 0:
                    break  # wants input
                if value != 1:
                    self.result = value  # readAsync yields the data
        except StopIteration:
            self.done = True
        except Exception as exc:  # TLSLocalAlert / TLSRemoteAlert etc.
            self.error, self.done = exc, True
        out = self.sock.take()
        if out:
            self.flights.append(out)
        return out


def pump(client, server):
    for _ in range(30):
        server.sock.incoming += client.step()
        client.sock.incoming += server.step()
        if client.done and server.done:
            return  # unread input may remain (tickets; records after an alert)
    raise AssertionError("handshake did not finish")


def make_settings(version, group, cipher=None, curves=("secp256r1", "secp384r1")):
    s = HandshakeSettings()
    s.minVersion = s.maxVersion = version
    s.keyShares = [group]
    s.eccCurves = [group] + [c for c in curves if c != group]
    if cipher:
        s.cipherNames = [cipher]
    return s


def handshake(server_pair, version, group="x25519", cipher=None, client_pair=None,
              client_class=TLSConnection, client_settings=None):
    chain, key = server_pair[:2]
    server, client = Peer(), Peer(client_class)
    server.start(server.conn.handshakeServerAsync(
        certChain=chain, privateKey=key, settings=make_settings(version, group, cipher),
        reqCert=client_pair is not None))
    cl_chain, cl_key = client_pair[:2] if client_pair else (None, None)
    client.start(client.conn.handshakeClientCert(
        cl_chain, cl_key, settings=client_settings or make_settings(version, group, cipher),
        serverName="localhost", async_=True))
    pump(client, server)
    return client, server


def exchange(src, dst, payload):
    src.start(src.conn.writeAsync(payload))
    dst.sock.incoming += src.step()
    dst.start(dst.conn.readAsync(max=len(payload)))
    src.sock.incoming += dst.step()
    assert dst.error is None
    return dst.result


@pytest.fixture
def ecdh_groups(monkeypatch):
    """Records the group of every ECDH shared-secret computation."""
    seen = []
    inner = keyexchange.ECDHKeyExchange.calc_shared_key

    def spy(self, *args, **kwargs):
        seen.append(GroupName.toRepr(self.group))
        return inner(self, *args, **kwargs)

    monkeypatch.setattr(keyexchange.ECDHKeyExchange, "calc_shared_key", spy)
    return seen


SIG_SCHEMES_13 = {"rsa2048": {SignatureScheme.rsa_pss_rsae_sha256, SignatureScheme.rsa_pss_rsae_sha384,
                              SignatureScheme.rsa_pss_rsae_sha512},
                  "p256": {SignatureScheme.ecdsa_secp256r1_sha256},
                  "p384": {SignatureScheme.ecdsa_secp384r1_sha384},
                  "ed25519": {SignatureScheme.ed25519}}
PUBLIC_TYPES = {"rsa2048": CryptoRSAKey, "p256": CryptoECDSAKey, "p384": CryptoECDSAKey,
                "ed25519": CryptoEdDSAKey, "client-rsa": CryptoRSAKey, "client-p256": CryptoECDSAKey}


def _check_connected(client, server, version, label=None):
    assert client.error is None and server.error is None, (client.error, server.error)
    assert client.conn.version == server.conn.version == version
    assert client.conn.getCipherName() == server.conn.getCipherName()
    assert server.conn.getCipherImplementation() == "cryptography"
    if label:
        assert isinstance(client.conn.session.serverCertChain.getEndEntityPublicKey(), PUBLIC_TYPES[label])
    assert exchange(client, server, b"ping from client") == b"ping from client"
    assert exchange(server, client, b"pong from server" * 100) == b"pong from server" * 100


KEYS = ["rsa2048", "p256", "p384", "ed25519"]
GROUPS = ["x25519", "secp256r1", "secp384r1"]
VERSIONS = {"tls13": (3, 4), "tls12": (3, 3)}


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("label", KEYS)
@pytest.mark.parametrize("vname", VERSIONS)
def test_handshake_keys_and_groups(tlslite_keys, ecdh_groups, vname, label, group):
    version = VERSIONS[vname]
    client, server = handshake(tlslite_keys[label], version, group)
    _check_connected(client, server, version, label)
    assert ecdh_groups == [group, group]  # server and client, on the group asked for
    if version == (3, 4):
        assert client.conn.serverSigAlg in SIG_SCHEMES_13[label]


@pytest.mark.parametrize("cipher", ["aes128gcm", "aes256gcm", "chacha20-poly1305"])
@pytest.mark.parametrize("vname", VERSIONS)
def test_handshake_ciphers(tlslite_keys, vname, cipher):
    version = VERSIONS[vname]
    client, server = handshake(tlslite_keys["p256"], version, "x25519", cipher)
    _check_connected(client, server, version)
    assert server.conn.getCipherName() == cipher


@pytest.mark.parametrize("client_label", ["client-rsa", "client-p256"])
@pytest.mark.parametrize("vname", VERSIONS)
def test_client_certificate_verified_with_our_public_keys(tlslite_keys, vname, client_label):
    version = VERSIONS[vname]
    client, server = handshake(tlslite_keys["rsa2048"], version, "secp256r1", client_pair=tlslite_keys[client_label])
    _check_connected(client, server, version)
    chain = server.conn.session.clientCertChain
    assert bytes(chain.x509List[0].bytes) == tlslite_keys[client_label][2].public_bytes(serialization.Encoding.DER)
    assert isinstance(chain.getEndEntityPublicKey(), PUBLIC_TYPES[client_label])


@pytest.mark.parametrize("vname", VERSIONS)
def test_client_certificate_with_wrong_key_is_refused(tlslite_keys, vname):
    # Client presents the RSA client certificate but signs with another key:
    # the server's check (our CryptoRSAKey.verify) must fail -> decrypt_error.
    cert_chain = tlslite_keys["client-rsa"][0]
    wrong_key = tlslite_keys["rsa2048"][1]
    client, server = handshake(tlslite_keys["p256"], VERSIONS[vname], "x25519", client_pair=(cert_chain, wrong_key))
    assert isinstance(server.error, TLSLocalAlert)
    assert server.error.description == AlertDescription.decrypt_error
    if client.error is None:  # TLS 1.3: the client finished first; the alert comes in on a read
        client.start(client.conn.readAsync())
        client.step()
    assert isinstance(client.error, TLSRemoteAlert)
    assert client.error.description == AlertDescription.decrypt_error


def _client_with_share(share):
    class BadShareClient(TLSConnection):
        @classmethod
        def _genKeyShareEntry(cls, group, version):
            entry = super()._genKeyShareEntry(group, version)
            entry.key_exchange = bytearray(share(entry.key_exchange))
            return entry

    return BadShareClient


@pytest.mark.parametrize("group,corrupt", [
    ("x25519", lambda good: bytes(32)),                                  # u = 0, low order
    ("x25519", lambda good: h(LOW_ORDER_X25519[2])),
    ("secp256r1", lambda good: good[:-1] + bytes([good[-1] ^ 1])),      # off the curve
    ("secp384r1", lambda good: b"\x04" + bytes(96)),
])
def test_invalid_key_share_gets_illegal_parameter(tlslite_keys, group, corrupt):
    client, server = handshake(tlslite_keys["p256"], (3, 4), group, client_class=_client_with_share(corrupt))
    assert isinstance(server.error, TLSLocalAlert)
    assert server.error.description == AlertDescription.illegal_parameter
    assert isinstance(client.error, TLSRemoteAlert)
    assert client.error.description == AlertDescription.illegal_parameter


# ---------------------------------------------------------------------------
# Nothing falls back to tlslite's pure-Python primitives
# ---------------------------------------------------------------------------

class PureFallback(BaseException):
    """BaseException: tlslite's ``except Exception`` / ``except
    AssertionError`` clauses must not swallow it."""


def _forbid(monkeypatch, calls, owner, name):
    def trap(*args, **kwargs):
        calls.append("%s.%s" % (getattr(owner, "__name__", owner), name))
        raise PureFallback(calls[-1])

    monkeypatch.setattr(owner, name, trap)


def test_no_fallback_to_pure_python(tlslite_keys, monkeypatch):
    from ecdsa import ecdh, ellipticcurve, keys
    from tlslite.utils import aesccm, aesgcm, chacha20_poly1305, rijndael

    calls = []
    forbidden = [
        (aesgcm.AESGCM, "seal"), (aesgcm.AESGCM, "open"),
        (chacha20_poly1305.CHACHA20_POLY1305, "seal"), (chacha20_poly1305.CHACHA20_POLY1305, "open"),
        (aesccm.AESCCM, "seal"), (aesccm.AESCCM, "open"),
        (rijndael.Rijndael, "encrypt"), (rijndael.Rijndael, "decrypt"),
        (pure_x, "_x25519_generic"),
        (ellipticcurve.PointJacobi, "__mul__"), (ellipticcurve.PointJacobi, "__rmul__"),
        (ellipticcurve.PointJacobi, "mul_add"), (ellipticcurve.Point, "__mul__"),
        (keys.SigningKey, "generate"), (keys.SigningKey, "sign_digest_deterministic"),
        (keys.SigningKey, "sign_deterministic"),
        (keys.VerifyingKey, "verify_digest"), (keys.VerifyingKey, "verify"), (keys.VerifyingKey, "from_der"),
        (ecdh.ECDH, "generate_sharedsecret_bytes"),
        (Python_RSAKey, "_rawPrivateKeyOp"), (Python_RSAKey, "_rawPublicKeyOp"),
        (Python_ECDSAKey, "_sign"), (Python_ECDSAKey, "_verify"),
        (Python_EdDSAKey, "_hashAndSign"), (Python_EdDSAKey, "_hashAndVerify"),
    ]
    for owner, name in forbidden:
        _forbid(monkeypatch, calls, owner, name)

    # ticket encryption goes through the AEAD patch too (TLS 1.3 tickets)
    for vname, version in VERSIONS.items():
        for label, group, cipher, client_label in [
            ("rsa2048", "x25519", "aes128gcm", "client-p256"),
            ("p256", "secp256r1", "aes256gcm", "client-rsa"),
            ("p384", "secp384r1", "chacha20-poly1305", None),
            ("ed25519", "x25519", None, "client-p256"),
        ]:
            client, server = handshake(tlslite_keys[label], version, group, cipher,
                                       client_pair=tlslite_keys[client_label] if client_label else None)
            _check_connected(client, server, version, label)
    assert calls == []


def test_tickets_use_cryptography_aead(tlslite_keys):
    # TLS 1.3 NewSessionTicket encryption/decryption (tlsconnection L2707/L2757)
    settings = make_settings((3, 4), "x25519")
    settings.ticketKeys = [bytearray(os.urandom(32))]
    server, client = Peer(), Peer()
    server.start(server.conn.handshakeServerAsync(certChain=tlslite_keys["p256"][0], privateKey=tlslite_keys["p256"][1],
                                                  settings=settings))
    client.start(client.conn.handshakeClientCert(settings=make_settings((3, 4), "x25519"),
                                                 serverName="localhost", async_=True))
    pump(client, server)
    assert exchange(server, client, b"x") == b"x"  # client reads the tickets on the way
    assert client.conn.tickets
    # resume with the ticket: the server must decrypt it
    server2, client2 = Peer(), Peer()
    server2.start(server2.conn.handshakeServerAsync(certChain=tlslite_keys["p256"][0], privateKey=tlslite_keys["p256"][1],
                                                    settings=settings))
    client2.start(client2.conn.handshakeClientCert(settings=make_settings((3, 4), "x25519"),
                                                   session=client.conn.session,
                                                   serverName="localhost", async_=True))
    pump(client2, server2)
    assert client2.error is None and client2.conn.resumed


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

def _first_record(data):
    return data[:5 + int.from_bytes(data[3:5], "big")]


def _hellos(tlslite_keys, version, seed, group):
    shares = ["x25519", "secp256r1", "secp384r1"]
    client_settings = make_settings(version, group)
    client_settings.keyShares = shares
    client_settings.eccCurves = shares
    if seed is None:
        client, server = handshake(tlslite_keys["p256"], version, group, client_settings=client_settings)
    else:
        with _backend.random_source(_backend.seeded_random_source(seed)):
            client, server = handshake(tlslite_keys["p256"], version, group, client_settings=client_settings)
    assert client.error is None and server.error is None
    return _first_record(client.flights[0]), _first_record(server.flights[0])


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("vname", VERSIONS)
def test_fixed_random_source_gives_identical_hellos(tlslite_keys, vname, group):
    version = VERSIONS[vname]
    first = _hellos(tlslite_keys, version, b"seed", group)
    assert first == _hellos(tlslite_keys, version, b"seed", group)
    assert first[0][5] == 1 and first[1][5] == 2  # ClientHello, ServerHello
    other = _hellos(tlslite_keys, version, b"other seed", group)
    unseeded = _hellos(tlslite_keys, version, None, group)
    assert other[0] != first[0] and other[1] != first[1]
    assert unseeded[0] != first[0] and unseeded[1] != first[1]


@pytest.mark.parametrize("label", KEYS)
@pytest.mark.parametrize("vname", VERSIONS)
def test_fixed_random_source_gives_identical_transcripts(tlslite_keys, vname, label):
    # Signatures too (RFC 6979 ECDSA, PSS salt from the source): every byte
    # both sides send repeats, including the encrypted TLS 1.3 flights.
    def run():
        with _backend.random_source(_backend.seeded_random_source(b"transcript")):
            client, server = handshake(tlslite_keys[label], VERSIONS[vname], "x25519")
        assert client.error is None and server.error is None
        return client.flights, server.flights

    assert run() == run()
