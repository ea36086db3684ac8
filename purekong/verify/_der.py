"""Just enough DER to see what OpenSSL sees and ``cryptography`` hides.

* Validity times. OpenSSL parses a certificate whose notBefore/notAfter is
  not in RFC 5280 form (``YYMMDDHHMMSSZ`` or ``YYYYMMDDHHMMSSZ``) and only
  complains when it checks the time: "format error in certificate's notBefore
  field". ``cryptography`` refuses to load such a certificate at all. So we
  check the times here, and when one is malformed we hand ``cryptography`` a
  copy with a well-formed placeholder time, keeping the original bytes for
  the signature check.
* The signature algorithm inside the signed part. OpenSSL uses it to match
  issuers, and a certificate whose inner and outer algorithms differ never
  verifies; ``cryptography`` only shows the outer one.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

from purekong._der import children, oid_text, read_tlv

_SEQUENCE, _UTCTIME, _GENERALIZEDTIME = 0x30, 0x17, 0x18
_PLACEHOLDER = {_UTCTIME: b"000101000000Z", _GENERALIZEDTIME: b"20000101000000Z"}
_MIN_LENGTH = {_UTCTIME: 13, _GENERALIZEDTIME: 15}


@dataclass(frozen=True)
class Parts:
    tbs: bytes  # the original tbsCertificate, as signed
    not_before_ok: bool
    not_after_ok: bool
    parseable_der: bytes  # the certificate with malformed times replaced
    inner_algorithm: str  # dotted OID of tbsCertificate.signature
    algorithms_match: bool  # tbsCertificate.signature == signatureAlgorithm


def read_parts(der: bytes) -> Parts:
    """Find and check the validity times and the signature algorithms.

    Raises ValueError on DER that OpenSSL would not parse either (so the
    handshake fails), or that this walker does not understand.
    """
    tag, start, end = read_tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise ValueError("not a DER SEQUENCE")
    cert_fields = children(der, start, end)
    tbs_tag, tbs_start, tbs_end, tbs_header = cert_fields[0]
    if tbs_tag != _SEQUENCE:
        raise ValueError("no tbsCertificate")
    tbs_fields = children(der, tbs_start, tbs_end)
    # [0] version (optional), serialNumber, signature, issuer, validity
    index = 4 if tbs_fields[0][0] == 0xA0 else 3
    _, alg_start, alg_end, alg_header = tbs_fields[index - 2]
    inner_oid_tag, oid_start, oid_end = read_tlv(der, alg_start)
    if inner_oid_tag != 0x06:
        raise ValueError("no signature algorithm")
    _, _, outer_end, outer_header = cert_fields[1]
    validity_tag, v_start, v_end, _ = tbs_fields[index]
    times = children(der, v_start, v_end)
    if validity_tag != _SEQUENCE or len(times) != 2:
        raise ValueError("no validity")
    for tag, s, e, _ in times:
        # OpenSSL's parser itself rejects these ("utctime is too short"...).
        if tag not in _MIN_LENGTH or e - s < _MIN_LENGTH[tag]:
            raise ValueError("validity time OpenSSL cannot parse")
    ok = [_time_ok(tag, der[s:e]) for tag, s, e, _ in times]

    parseable = der
    if not all(ok):
        new_times = b"".join(
            der[h:e] if good else _placeholder(tag) for (tag, _, e, h), good in zip(times, ok)
        )
        new_tbs = b"".join(
            _encode(_SEQUENCE, new_times) if i == index else der[h:e]
            for i, (_, _, e, h) in enumerate(tbs_fields)
        )
        rest = b"".join(der[h:e] for _, _, e, h in cert_fields[1:])
        parseable = _encode(_SEQUENCE, _encode(_SEQUENCE, new_tbs) + rest)
    return Parts(
        tbs=der[tbs_header:tbs_end],
        not_before_ok=ok[0],
        not_after_ok=ok[1],
        parseable_der=parseable,
        inner_algorithm=oid_text(der[oid_start:oid_end]),
        algorithms_match=der[alg_header:alg_end] == der[outer_header:outer_end],
    )


def _placeholder(tag: int) -> bytes:
    """A well-formed time of the same type; its value is never used."""
    return _encode(tag, _PLACEHOLDER[tag])


def _time_ok(tag: int, value: bytes) -> bool:
    """X509_cmp_time()'s format checks (OpenSSL 3.4): exact RFC 5280 forms
    with a 'Z', and a date and time that exist."""
    if (tag, len(value)) not in ((_UTCTIME, 13), (_GENERALIZEDTIME, 15)):
        return False
    digits, z = value[:-1], value[-1:]
    if z != b"Z" or not all(0x30 <= c <= 0x39 for c in digits):
        return False
    text = digits.decode()
    if tag == _UTCTIME:
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000
        text = text[2:]
    else:
        year = int(text[:4])
        text = text[4:]
    month, day, hour, minute, second = (int(text[i:i + 2]) for i in range(0, 10, 2))
    if not 1 <= month <= 12:
        return False
    days_in_month = calendar.monthrange(year or 2000, month)[1]  # year 0 is a leap year
    return 1 <= day <= days_in_month and hour <= 23 and minute <= 59 and second <= 59


def _encode(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + value
