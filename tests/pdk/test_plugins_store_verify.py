"""mtls-auth's chain check against OpenSSL's own X509_verify_cert.

mtls-auth verifies with lua-resty-openssl ``store:verify`` on a bare
X509_STORE: default callback (first error wins), no purpose, no security
level. pyOpenSSL's X509StoreContext does exactly that, so it is the oracle.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import make_ca, make_cert, make_intermediate, make_leaf, pool_key
from purekong.verify import store_verify

crypto = pytest.importorskip("OpenSSL.crypto")


def openssl_verify(leaf, untrusted, store, partial_chain):
    st = crypto.X509Store()
    for cert in store:
        st.add_cert(crypto.X509.from_cryptography(cert))
    if partial_chain:
        st.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)
    ctx = crypto.X509StoreContext(st, crypto.X509.from_cryptography(leaf),
                                  [crypto.X509.from_cryptography(c) for c in untrusted])
    try:
        chain = ctx.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        return None, exc.errors[2]
    return [c.to_cryptography() for c in chain], None


def build_cases():
    root = make_ca("SV Root")
    inter = make_intermediate(root, "SV Inter")
    leaf = make_leaf(inter, "sv leaf")
    other = make_intermediate(make_ca("SV Other Root"), "SV Other Inter")
    tight = make_intermediate(root, "SV Tight", pathlen=0)
    below = make_intermediate(tight, "SV Below")
    not_ca = make_cert("SV Not CA", root, ca=False, key_usage={"key_cert_sign"})
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return {
        "good chain": (leaf.cert, [inter.cert], [root.cert], False),
        "root sent too": (leaf.cert, [inter.cert, root.cert], [root.cert], False),
        "intermediate only": (leaf.cert, [inter.cert], [inter.cert], False),
        "intermediate only, partial": (leaf.cert, [inter.cert], [inter.cert], True),
        "leaf trusted, partial": (leaf.cert, [], [leaf.cert], True),
        "self-signed": (make_leaf(None, "sv self").cert, [], [root.cert], False),
        "other ca": (make_leaf(other, "sv stranger").cert, [other.cert], [root.cert], False),
        "missing intermediate": (leaf.cert, [], [root.cert], False),
        "expired": (make_leaf(inter, "sv old", days=(-10, -1)).cert, [inter.cert], [root.cert], False),
        "expired and untrusted: first error": (make_leaf(other, "sv both", days=(-10, -1)).cert, [], [root.cert], False),
        "not yet valid": (make_leaf(inter, "sv young", days=(2, 10)).cert, [inter.cert], [root.cert], False),
        "intermediate not a ca": (make_leaf(not_ca, "sv under").cert, [not_ca.cert], [root.cert], False),
        "path length": (make_leaf(below, "sv deep").cert, [below.cert, tight.cert], [root.cert], False),
        "no client auth eku": (make_leaf(inter, "sv server", eku=[ExtendedKeyUsageOID.SERVER_AUTH]).cert,
                               [inter.cert], [root.cert], False),
        "weak rsa key": (make_leaf(inter, "sv weak", key=weak_key).cert, [inter.cert], [root.cert], False),
        "bad signature": (make_leaf(inter, "sv forged", signing_key=pool_key("ec", 7)).cert,
                          [inter.cert], [root.cert], False),
    }


CASES = build_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_store_verify_matches_openssl(name):
    leaf, untrusted, store, partial = CASES[name]
    chain, error = store_verify(leaf, untrusted, store, partial_chain=partial)
    expected_chain, expected_error = openssl_verify(leaf, untrusted, store, partial)
    if expected_error is not None and error is not None:
        # OpenSSL 3.6+ appends " or the system clock is incorrect" to one reason.
        assert expected_error.startswith(error)
    else:
        assert error == expected_error
    assert chain == expected_chain
