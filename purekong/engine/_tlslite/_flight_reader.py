"""A faster reader of the client's second flight, for the messages tlslite handles.

The rule, as in ``_hello_codec`` and ``_flight_codec``: each reader below
leaves exactly what tlslite's own ``parse`` leaves (the message's attributes,
of the same types: ``bytearray`` slices of the parser's buffer; and the
``Parser``'s index and length check), and anything it does not vouch for
(a subclass, a short or inconsistent length, an unusual version or suite)
puts the parser back as it found it and lets tlslite's ``parse`` run, so
errors and alerts stay tlslite's. ``_patches`` installs them as the
``parse`` of tlslite's classes.

tlslite reads each field through a ``Parser`` method call (the length check
alone is three); here the fields are sliced out of the parser's buffer.
The client's Certificate stays tlslite's: its cost is the X.509 parse.
"""

from __future__ import annotations

from typing import Any, Callable

from tlslite.constants import CipherSuite
from tlslite.messages import CertificateVerify, ClientKeyExchange, Finished
from tlslite.utils.codec import Parser

ParseFn = Callable[[Any, Any], Any]

#: Suites whose ClientKeyExchange is an ECDH point and nothing else (tlslite
#: tests the SRP, RSA and FFDHE lists first).
_ECDHE = (frozenset(CipherSuite.ecdhAllSuites) - frozenset(CipherSuite.srpAllSuites)
          - frozenset(CipherSuite.certSuites) - frozenset(CipherSuite.dhAllSuites))
_TLS12_FINISHED = {(3, 1): 12, (3, 2): 12, (3, 3): 12}


class _Unsure(Exception):
    """These bytes are not what the fast path vouches for: tlslite decides."""


def _body(parser: Any) -> tuple[bytearray, int, int]:
    """The buffer, where the body starts and its announced length (tlslite's
    ``startLengthCheck(3)``); the body must fit in the buffer."""
    data: bytearray = parser.bytes
    start = parser.index + 3
    length = int.from_bytes(data[parser.index:start], "big")
    if start > len(data) or start + length > len(data):
        raise _Unsure
    return data, start, length


def _finish(parser: Any, start: int, length: int) -> None:
    """The parser as tlslite's ``stopLengthCheck`` leaves it after the body."""
    parser.lengthCheck, parser.indexCheck, parser.index = length, start, start + length


def _finished(msg: Any, parser: Any) -> Any:
    version = msg.version
    if type(version) is not tuple:
        raise _Unsure
    size = _TLS12_FINISHED.get(version) if version <= (3, 3) else msg.hash_length
    data, start, length = _body(parser)
    if type(size) is not int or length != size:
        raise _Unsure
    msg.verify_data = data[start:start + size]
    _finish(parser, start, length)
    return msg


def _certificate_verify(msg: Any, parser: Any) -> Any:
    if type(msg.version) is not tuple:
        raise _Unsure
    data, start, length = _body(parser)
    pos = start
    algorithm = None
    if msg.version >= (3, 3):
        if length < 2:
            raise _Unsure
        algorithm = (data[pos], data[pos + 1])
        pos += 2
    if pos + 2 > start + length:
        raise _Unsure
    size = int.from_bytes(data[pos:pos + 2], "big")
    pos += 2
    if pos + size != start + length:
        raise _Unsure
    if algorithm is not None:
        msg.signatureAlgorithm = algorithm
    msg.signature = data[pos:pos + size]
    _finish(parser, start, length)
    return msg


def _client_key_exchange(msg: Any, parser: Any) -> Any:
    if type(msg.cipherSuite) is not int or msg.cipherSuite not in _ECDHE:
        raise _Unsure  # RSA, FFDHE and SRP key exchanges stay tlslite's
    data, start, length = _body(parser)
    if length < 1 or 1 + data[start] != length:
        raise _Unsure
    msg.ecdh_Yc = data[start + 1:start + length]
    _finish(parser, start, length)
    return msg


#: tlslite's class -> the reader here. Subclasses get tlslite's ``parse``.
READERS: dict[type, ParseFn] = {
    Finished: _finished,
    CertificateVerify: _certificate_verify,
    ClientKeyExchange: _client_key_exchange,
}

#: tlslite's own ``parse`` of each class, taken before ``_patches`` installs ours.
TLSLITE_PARSE: dict[type, ParseFn] = {cls: getattr(cls, "parse") for cls in READERS}


def _fast_parse(cls: type, fast: ParseFn, tlslite_parse: ParseFn) -> ParseFn:
    def parse(self: Any, parser: Any) -> Any:
        if type(self) is cls and type(parser) is Parser and type(parser.bytes) is bytearray:
            state = parser.index, parser.indexCheck, parser.lengthCheck
            try:
                return fast(self, parser)
            except _Unsure:
                parser.index, parser.indexCheck, parser.lengthCheck = state
        return tlslite_parse(self, parser)

    parse.__name__ = parse.__qualname__ = f"{cls.__name__}_parse"
    parse.__doc__ = f"tlslite's {cls.__name__}.parse, by the fast reader when it vouches for the bytes."
    return parse


#: What ``_patches`` installs as ``<class>.parse``.
FAST_PARSE: dict[type, ParseFn] = {cls: _fast_parse(cls, READERS[cls], TLSLITE_PARSE[cls]) for cls in READERS}
