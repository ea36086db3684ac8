"""nginx's $ssl_client_* values and the two URI escapes (purekong.plugins._nginx).

The escapes are checked against the tables in nginx and lua-nginx-module; the
DN and serial against the OpenSSL command line (``-nameopt RFC2253`` is
``X509_NAME_print_ex(..., XN_FLAG_RFC2253)``, ``-serial`` is
``i2a_ASN1_INTEGER``), when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from _pki import make_ca, make_cert
from purekong.plugins import _nginx

A = x509.NameAttribute
UNRESERVED = "abcxyzABCXYZ0123456789-._~"


def test_uri_component_escapes_differ_only_on_five_characters():
    for byte in range(256):
        nginx, lua = _nginx.nginx_escape_uri_component(bytes([byte])), _nginx.lua_escape_uri(bytes([byte]))
        if chr(byte) in "!'()*":
            assert nginx == f"%{byte:02X}" and lua == chr(byte)
        else:
            assert nginx == lua, chr(byte)
        if chr(byte) in UNRESERVED:
            assert nginx == chr(byte)


def test_escape_examples():
    # Uppercase hex, space as %20 (not "+"), newline %0A, "~" kept.
    assert _nginx.nginx_escape_uri_component("a b+c/d=e\n~") == "a%20b%2Bc%2Fd%3De%0A~"
    assert _nginx.lua_escape_uri("é") == "%C3%A9"
    assert _nginx.lua_escape_uri("@[]{}|^`\\\"<>#%&,;:?$") == (
        "%40%5B%5D%7B%7D%7C%5E%60%5C%22%3C%3E%23%25%26%2C%3B%3A%3F%24"
    )


def test_escaped_cert_is_the_escaped_canonical_pem():
    root = make_ca("Escape Root")
    pem = root.cert.public_bytes(serialization.Encoding.PEM).decode()
    escaped = _nginx.escaped_cert(root.cert)
    assert escaped.startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert escaped.endswith("%0A-----END%20CERTIFICATE-----%0A")
    assert escaped == _nginx.lua_escape_uri(pem)  # PEM has none of !'()*
    assert _nginx.raw_cert(root.cert) == pem


@pytest.mark.parametrize(
    "value, text",
    [(0, "00"), (1, "01"), (0x65, "65"), (0x80, "80"), (0x2001, "2001"),
     (0x101B76125AB64444CEFA66A89D5F60A100E8B6B1, "101B76125AB64444CEFA66A89D5F60A100E8B6B1"),
     (-0x1234, "-1234")],
)
def test_serial(value, text):
    assert _nginx.serial(SimpleNamespace(serial_number=value)) == text


def test_serial_wraps_after_35_bytes_like_openssl():
    value = int.from_bytes(bytes(range(1, 37)), "big")
    expected = bytes(range(1, 36)).hex().upper() + "\\\n" + "24"
    assert _nginx.serial(SimpleNamespace(serial_number=value)) == expected


def test_kong_fixture_dns():
    # spec-ee/03-plugins/38-tls-metadata-headers: DER order C, ST, L, O, OU, emailAddress.
    name = x509.Name([A(NameOID.COUNTRY_NAME, "AU"), A(NameOID.STATE_OR_PROVINCE_NAME, "NSW"),
                      A(NameOID.LOCALITY_NAME, "Sydney"), A(NameOID.ORGANIZATION_NAME, "Kong"),
                      A(NameOID.ORGANIZATIONAL_UNIT_NAME, "PS"), A(NameOID.EMAIL_ADDRESS, "test@test.com")])
    assert _nginx.rfc2253(name) == "emailAddress=test@test.com,OU=PS,O=Kong,L=Sydney,ST=NSW,C=AU"
    assert _nginx.rfc2253(x509.Name([A(NameOID.COMMON_NAME, "Interm.")])) == "CN=Interm."


# -- against OpenSSL ---------------------------------------------------------------

NAMES = [
    [A(NameOID.COUNTRY_NAME, "US"), A(NameOID.COMMON_NAME, "foo@example.com")],
    [A(NameOID.COMMON_NAME, '#a,b+c;d<e>f=g"h\\i é ')],
    [A(NameOID.COMMON_NAME, " leading and trailing ")],
    [A(NameOID.COMMON_NAME, "#")],
    [A(NameOID.COMMON_NAME, " ")],
    [A(NameOID.COMMON_NAME, "ctl\x01del\x7f")],
    [A(NameOID.COMMON_NAME, "bmp é€", _type=_ASN1Type.BMPString)],
    [A(NameOID.COMMON_NAME, "universal é😀", _type=_ASN1Type.UniversalString)],
    [A(NameOID.ORGANIZATION_NAME, "t61 é", _type=_ASN1Type.T61String)],
    [A(NameOID.EMAIL_ADDRESS, "t@t.com"), A(NameOID.DOMAIN_COMPONENT, "com"), A(NameOID.USER_ID, "u")],
    [A(x509.ObjectIdentifier("1.2.3.4"), "unknown oid")],
    [A(NameOID.SERIAL_NUMBER, "123"), A(NameOID.GIVEN_NAME, "g"), A(NameOID.SURNAME, "s"),
     A(NameOID.TITLE, "t"), A(NameOID.POSTAL_CODE, "p"), A(NameOID.STREET_ADDRESS, "st"),
     A(NameOID.JURISDICTION_COUNTRY_NAME, "US"), A(NameOID.BUSINESS_CATEGORY, "b"),
     A(NameOID.PSEUDONYM, "p"), A(NameOID.ORGANIZATION_IDENTIFIER, "o"), A(NameOID.INITIALS, "i"),
     A(NameOID.GENERATION_QUALIFIER, "g"), A(NameOID.DN_QUALIFIER, "d"),
     A(NameOID.X500_UNIQUE_IDENTIFIER, "x"), A(NameOID.UNSTRUCTURED_NAME, "u")],
    [],
]


def _openssl(cert: x509.Certificate) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-serial", "-fingerprint", "-sha1", "-nameopt", "RFC2253"],
        input=cert.public_bytes(serialization.Encoding.PEM), capture_output=True, check=True,
    )
    # OpenSSL 3.0 labels it "sha1 Fingerprint", later versions "SHA1 Fingerprint".
    return out.stdout.decode("latin-1").replace("SHA1 Fingerprint=", "sha1 Fingerprint=")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
@pytest.mark.parametrize("attrs", NAMES, ids=range(len(NAMES)))
def test_dn_serial_fingerprint_match_openssl(attrs):
    subjects = [x509.Name(attrs)]
    if len(attrs) >= 2:  # the first two as one multi-valued RDN
        rdns = [x509.RelativeDistinguishedName(attrs[:2])]
        rdns += [x509.RelativeDistinguishedName([a]) for a in attrs[2:]]
        subjects.append(x509.Name(rdns))
    for subject in subjects:
        cert = make_cert(subject, None, serial=0x80F1).cert
        fingerprint = ":".join(f"{b:02X}" for b in bytes.fromhex(_nginx.fingerprint(cert)))
        expected = f"subject={_nginx.rfc2253(subject)}\nserial={_nginx.serial(cert)}\nsha1 Fingerprint={fingerprint}\n"
        assert _openssl(cert) == expected
        assert _nginx.fingerprint(cert) == _nginx.fingerprint(cert).lower()


def test_empty_dn_is_not_found():
    root = make_ca("Issuer")
    cert = make_cert(x509.Name([]), root).cert
    assert _nginx.subject_dn(cert) is None  # nginx: empty value -> not found -> nil
    assert _nginx.issuer_dn(cert) == "CN=Issuer"


def test_multivalued_rdn_is_joined_with_plus_in_reverse():
    rdn = x509.RelativeDistinguishedName([A(NameOID.COMMON_NAME, "a"), A(NameOID.ORGANIZATION_NAME, "b")])
    name = x509.Name([x509.RelativeDistinguishedName([A(NameOID.COUNTRY_NAME, "US")]), rdn])
    printed = _nginx.rfc2253(name)
    assert printed.endswith(",C=US") and "+" in printed


# Awkward characters for RFC 2253 printing: its specials, controls, non-ASCII
# (2-, 3- and 4-byte UTF-8), and plain letters.
_DN_ALPHABET = ',+"\\<>;#= =\x01\x1f\x7féà€😀abcXYZ09.-_'


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
@given(st.lists(st.tuples(st.sampled_from([NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME,
                                           NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.DOMAIN_COMPONENT]),
                          st.text(_DN_ALPHABET, min_size=1, max_size=8),
                          st.sampled_from([_ASN1Type.UTF8String, _ASN1Type.BMPString])),
                min_size=1, max_size=4))
@settings(max_examples=40)
def test_random_dns_match_openssl(attrs):
    name = x509.Name([
        A(oid, value, _type=kind if kind != _ASN1Type.BMPString or all(ord(c) < 0x10000 for c in value)
          else _ASN1Type.UTF8String)
        for oid, value, kind in attrs
    ])
    cert = make_cert(name, None).cert
    assert _openssl(cert).splitlines()[0] == f"subject={_nginx.rfc2253(name)}"
