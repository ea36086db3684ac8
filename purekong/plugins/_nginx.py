"""The nginx values Kong's EE TLS plugins read, computed byte for byte.

* ``$ssl_client_escaped_cert``: the leaf as PEM, escaped by nginx's
  ``ngx_escape_uri(..., NGX_ESCAPE_URI_COMPONENT)`` (src/core/ngx_string.c);
* ``$ssl_client_serial``: ``i2a_ASN1_INTEGER`` (OpenSSL crypto/asn1/a_int.c);
* ``$ssl_client_s_dn`` / ``$ssl_client_i_dn``: ``X509_NAME_print_ex(...,
  XN_FLAG_RFC2253)`` (OpenSSL crypto/asn1/a_strex.c, charmap.h);
* ``$ssl_client_fingerprint``: SHA-1 of the DER, lowercase hex (``ngx_hex_dump``);
* ``ngx.escape_uri``: lua-nginx-module's ``ngx_http_lua_escape_uri`` with its
  own URI-component table, which differs from nginx's.

nginx turns an empty value into "not found", which Lua sees as ``nil``; the
functions here return ``None`` for it (an empty subject DN, for instance).
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from purekong._der import children, oid_text, read_tlv

# -- URI escaping ------------------------------------------------------------
#
# Both escape with "%XX", uppercase hex, using a 256-bit table (a set bit means
# "escape this byte").  The tables are copied from the C sources; they differ
# only in "!", "'", "(", ")" and "*", which nginx escapes and lua-nginx-module
# does not.  PEM text contains none of them, so the two agree on certificates.

_NGINX_URI_COMPONENT = (  # nginx src/core/ngx_string.c, "not ALPHA, DIGIT, -, ., _, ~"
    0xFFFFFFFF, 0xFC009FFF, 0x78000001, 0xB8000001,
    0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
)
_LUA_URI_COMPONENT = (  # lua-nginx-module src/ngx_http_lua_util.c, type 2 (the default)
    0xFFFFFFFF, 0xFC00987D, 0x78000001, 0xB8000001,
    0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
)


def _escape(data: str | bytes, table: tuple[int, ...]) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    out = []
    for byte in raw:
        if table[byte >> 5] & (1 << (byte & 0x1F)):
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def nginx_escape_uri_component(data: str | bytes) -> str:
    """``ngx_escape_uri(dst, src, len, NGX_ESCAPE_URI_COMPONENT)``."""
    return _escape(data, _NGINX_URI_COMPONENT)


def lua_escape_uri(data: str | bytes) -> str:
    """OpenResty's ``ngx.escape_uri(str)`` (component escaping, the default type)."""
    return _escape(data, _LUA_URI_COMPONENT)


# -- the certificate variables -------------------------------------------------


def raw_cert(cert: x509.Certificate) -> str:
    """``$ssl_client_raw_cert``: PEM_write_bio_X509, i.e. canonical PEM."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def escaped_cert(cert: x509.Certificate) -> str:
    """``$ssl_client_escaped_cert``."""
    return nginx_escape_uri_component(raw_cert(cert))


def fingerprint(cert: x509.Certificate) -> str:
    """``$ssl_client_fingerprint``: SHA-1 of the DER, lowercase hex."""
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def serial(cert: x509.Certificate) -> str:
    """``$ssl_client_serial``: i2a_ASN1_INTEGER of the serial number.

    Uppercase hex of the magnitude, two digits per byte ("00" for zero), "-"
    first when negative, and OpenSSL's "\\\\\\n" continuation after every 35
    bytes (longer than any conforming serial).
    """
    value = cert.serial_number
    sign, magnitude = ("-", -value) if value < 0 else ("", value)
    data = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "big")
    parts = []
    for i, byte in enumerate(data):
        if i and i % 35 == 0:
            parts.append("\\\n")
        parts.append(f"{byte:02X}")
    return sign + "".join(parts)


def subject_dn(cert: x509.Certificate) -> str | None:
    """``$ssl_client_s_dn`` (RFC 2253 form); None for an empty subject."""
    return rfc2253(cert.subject) or None


def issuer_dn(cert: x509.Certificate) -> str | None:
    """``$ssl_client_i_dn`` (RFC 2253 form); None for an empty issuer."""
    return rfc2253(cert.issuer) or None


# -- X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) ----------------------
#
# XN_FLAG_RFC2253 = ASN1_STRFLGS_RFC2253 | SEP_COMMA_PLUS | DN_REV | FN_SN |
# DUMP_UNKNOWN_FIELDS.  The value of every attribute goes through do_print_ex
# with ESC_2253 | ESC_CTRL | ESC_MSB | UTF8_CONVERT | DUMP_UNKNOWN | DUMP_DER.
# We walk the DER ourselves: OpenSSL works on the raw bytes and string type,
# which cryptography's decoded values do not preserve.

# OpenSSL's short names (OBJ_nid2sn) for the attributes seen in DNs; any other
# OID is printed in dotted form with its value hex-dumped, as OpenSSL does for
# an OID it has no NID for.
_SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
    "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.12": "title", "2.5.4.13": "description",
    "2.5.4.14": "searchGuide", "2.5.4.15": "businessCategory",
    "2.5.4.16": "postalAddress", "2.5.4.17": "postalCode", "2.5.4.18": "postOfficeBox",
    "2.5.4.19": "physicalDeliveryOfficeName", "2.5.4.20": "telephoneNumber",
    "2.5.4.41": "name", "2.5.4.42": "GN", "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier", "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.46": "dnQualifier", "2.5.4.51": "houseIdentifier", "2.5.4.54": "dmdName",
    "2.5.4.65": "pseudonym", "2.5.4.72": "role", "2.5.4.97": "organizationIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress", "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.840.113549.1.9.8": "unstructuredAddress",
    "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

# crypto/asn1/charmap.h, verbatim (the character classes for ASCII).
_CHAR_TYPE = (
    1026, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 120, 0, 1, 40,
    0, 0, 0, 16, 1040, 1040, 33792, 25, 25, 16400, 8208, 16,
    4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 16, 9,
    9, 16, 9, 16, 0, 4112, 4112, 4112, 4112, 4112, 4112, 4112,
    4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112,
    4112, 4112, 4112, 4112, 4112, 4112, 4112, 0, 1025, 0, 0, 0,
    0, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112,
    4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112, 4112,
    4112, 4112, 4112, 0, 0, 0, 0, 2,
)
_ESC_2253, _ESC_CTRL, _ESC_MSB, _ESC_2254 = 0x1, 0x2, 0x4, 0x400
_FIRST_ESC, _LAST_ESC = 0x20, 0x40
_BS_ESC = _ESC_2253 | _FIRST_ESC | _LAST_ESC
_FLAGS = _ESC_2253 | _ESC_CTRL | _ESC_MSB  # the escape flags of ASN1_STRFLGS_RFC2253

# tag2nbyte: bytes per character by universal tag (0: UTF-8); absent: dump.
_WIDTH = {12: 0, 18: 1, 19: 1, 20: 1, 22: 1, 23: 1, 24: 1, 26: 1, 28: 4, 30: 2}


class DNFormatError(ValueError):
    """X509_NAME_print_ex fails (a BMPString/UniversalString of odd length)."""


def rfc2253(name: x509.Name) -> str:
    """``X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253)``; "" for an empty name."""
    der = name.public_bytes()
    entries = []  # (rdn index, oid, tag number, value bytes, value TLV)
    _, start, end = read_tlv(der, 0)
    for set_index, (_, rdn_start, rdn_end, _) in enumerate(children(der, start, end)):
        for _, atv_start, atv_end, _ in children(der, rdn_start, rdn_end):
            (_, oid_start, oid_end, _), (tag, value_start, value_end, header) = children(der, atv_start, atv_end)[:2]
            entries.append(
                (set_index, oid_text(der[oid_start:oid_end]), tag & 0x1F, der[value_start:value_end], der[header:value_end])
            )
    out = []
    previous = None
    for set_index, oid, tag, value, tlv in reversed(entries):  # XN_FLAG_DN_REV
        if previous is not None:
            out.append("+" if set_index == previous else ",")
        previous = set_index
        short = _SHORT_NAMES.get(oid)
        if short is None:
            # Unknown field: dotted OID, value dumped as "#" + hex of its DER.
            out.append(f"{oid}=#{tlv.hex().upper()}")
            continue
        out.append(short + "=" + _print_value(tag, value, tlv))
    return "".join(out)


def _print_value(tag: int, value: bytes, tlv: bytes) -> str:
    width = _WIDTH.get(tag)
    if width is None:  # not a string type: ASN1_STRFLGS_DUMP_UNKNOWN + DUMP_DER
        return "#" + tlv.hex().upper()
    if width == 0:
        # UTF8String with UTF8_CONVERT: its bytes are taken one by one, as-is
        # (not even checked), so each non-ASCII byte is escaped on its own.
        chars, convert = list(value), False
    else:
        if len(value) % width:
            raise DNFormatError(f"invalid {width}-byte string length")
        chars = [int.from_bytes(value[i : i + width], "big") for i in range(0, len(value), width)]
        convert = True
    out = []
    last = len(chars) - 1
    for i, c in enumerate(chars):
        # do_buf: the "first" flag, *replaced* (not or-ed) by "last" at the end.
        orflags = _FIRST_ESC if i == 0 else 0
        if i == last:
            orflags = _LAST_ESC
        if convert:
            if c > 0x10FFFF:
                continue  # UTF8_putc() cannot encode it: nothing is printed
            for byte in chr(c).encode("utf-8", "surrogatepass"):
                out.append(_esc_char(byte, _FLAGS | orflags))
        else:
            out.append(_esc_char(c, _FLAGS | orflags))
    return "".join(out)


def _esc_char(c: int, flags: int) -> str:
    """do_esc_char() for one byte."""
    chflags = flags & _ESC_MSB if c > 0x7F else _CHAR_TYPE[c] & flags
    if chflags & _BS_ESC:
        return "\\" + chr(c)
    if chflags & (_ESC_CTRL | _ESC_MSB | _ESC_2254):
        return f"\\{c:02X}"
    if c == 0x5C:  # a backslash, with escaping on
        return "\\\\"
    return chr(c)
