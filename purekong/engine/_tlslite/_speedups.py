"""Speed-ups for tlslite-ng's Python that change no behaviour.

Each one was found by profiling a server handshake (docs/performance.md).
``_patches`` lists and installs them; the originals they call are taken
when this module is imported, before any install.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable

import tlslite.tlsconnection
from tlslite.constants import CipherSuite, TLSEnum
from tlslite.defragmenter import Defragmenter
from tlslite.errors import TLSInternalError
from tlslite.handshakehashes import HandshakeHashes
from tlslite.messages import Certificate
from tlslite.utils.codec import DecodeError

_fields_by_class: dict[type, dict[str, Any]] = {}


def _cached_recursive_vars(cls: type, klass: type) -> dict[str, Any]:
    # TLSEnum.toRepr/toStr rebuild a dict of every class attribute (walking
    # the bases) on each call; tlslite calls them several times per
    # handshake to name signature schemes and hashes. The enums never change
    # after import, so the dict is built once per class. Callers only read it.
    fields = _fields_by_class.get(klass)
    if fields is None:
        fields = {}
        for base in klass.__bases__:
            fields.update(_cached_recursive_vars(cls, base))
        fields.update(vars(klass))
        _fields_by_class[klass] = fields
    return fields


class TranscriptBuffer(HandshakeHashes):
    """The handshake transcript, hashed only when a digest is asked for.

    tlslite's HandshakeHashes feeds every handshake message to six running
    hashes (MD5 to SHA-512) although a connection needs one. A TLS 1.2/1.3
    handshake asks for about ten digests of a transcript of a few KiB, so
    hashing the buffer on demand is cheaper, and the bytes are the same.
    """

    def __init__(self) -> None:  # noqa: D107 - deliberately not calling super()
        self._handshake_buffer = bytearray()
        # The transcript only grows, so a digest stays valid for its length;
        # TLS 1.3 asks for the same one up to three times in a row.
        self._last_digest: tuple[str | None, int, bytes] = (None, -1, b"")

    def update(self, data: bytes | bytearray) -> None:
        self._handshake_buffer += data

    def digest(self, digest: str | None = None) -> bytes | bytearray:
        if digest is None:  # TLS 1.0/1.1 PRF input, never negotiated by purekong
            return self._hash("md5") + self._hash("sha1")
        if digest == "intrinsic":
            return self._handshake_buffer
        if digest not in _DIGESTS:
            raise ValueError("Unknown digest name")
        return self._hash(digest)

    def _hash(self, name: str) -> bytes:
        last_name, last_length, value = self._last_digest
        length = len(self._handshake_buffer)
        if last_name != name or last_length != length:
            value = _DIGESTS[name](self._handshake_buffer).digest()
            self._last_digest = (name, length, value)
        return value

    def digestSSL(self, masterSecret: bytes | bytearray, label: bytes | bytearray) -> Any:  # SSLv3 only; kept for completeness
        legacy = HandshakeHashes()
        legacy.update(self._handshake_buffer)
        return legacy.digestSSL(masterSecret, label)

    def copy(self) -> TranscriptBuffer:
        other = TranscriptBuffer()
        other._handshake_buffer = bytearray(self._handshake_buffer)
        return other


_DIGESTS = {name: getattr(hashlib, name) for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")}


_tlsenum_to_repr: Callable[..., str | None] = TLSEnum.toRepr.__func__
_names: dict[tuple[Any, ...], str | None] = {}


def _cached_to_repr(cls: type, value: Any, blacklist: Any = None) -> str | None:
    # The name of a code point never changes either: remember each one.
    # Only known names are kept (a finite set), so values a peer makes up
    # cannot grow the table; unhashable values take the slow way.
    try:
        key = (cls, value, tuple(blacklist) if blacklist else ())
        return _names[key]
    except KeyError:
        name = _tlsenum_to_repr(cls, value, blacklist)
        if name is not None:
            _names[key] = name
        return name
    except TypeError:
        return _tlsenum_to_repr(cls, value, blacklist)


_DUPLICATE = object()


def _get_extension(self: Any, extType: int) -> Any:
    # HelloMessage.getExtension scans the extension list on every call; a
    # server handshake asks a ClientHello about fifty times. The answers are
    # kept in a dict, rebuilt whenever the list object or its length changes
    # (tlslite only ever appends and removes; it never assigns into the
    # list). Same result, and the same error for a duplicated type.
    extensions = self.extensions
    if extensions is None:
        return None
    index = self.__dict__.get("_purekong_extension_index")
    if index is None or index[0] is not extensions or index[1] != len(extensions):
        by_type = {}
        for extension in extensions:
            by_type[extension.extType] = _DUPLICATE if extension.extType in by_type else extension
        index = self._purekong_extension_index = (extensions, len(extensions), by_type)
    found = index[2].get(extType)
    if found is _DUPLICATE:
        raise TLSInternalError("Multiple extensions of the same type present")
    return found


def _parser_get(self: Any, length: int) -> int:
    # codec.Parser.get: read a big-endian integer. tlslite slices, then
    # converts through a hex string; a handshake reads a few hundred.
    index: int = self.index
    end = index + length
    data: bytearray = self.bytes
    if end > len(data):
        raise DecodeError("Read past end of buffer")
    self.index = end
    if length == 1:
        return data[index]
    return int.from_bytes(data[index:end], "big")


def _custom_name_setattr(self: Any, name: str, value: Any) -> None:
    # CustomNameExtension.__setattr__ asked hasattr(self, "_field_name")
    # first; until __init__ has set it that goes through __getattr__, which
    # formats and raises an AttributeError: six times per parsed extension.
    field_name = self.__dict__.get("_field_name")
    if field_name is not None and name == field_name:
        object.__setattr__(self, "_internal_value", value)
        return
    object.__setattr__(self, name, value)


_tlslite_filter_suites: Callable[..., list[int]] = CipherSuite._filterSuites
_filtered: dict[tuple[Any, ...], list[int]] = {}


def _filter_suites(suites: list[int], settings: Any, version: tuple[int, int] | None = None) -> list[int]:
    # CipherSuite._filterSuites rebuilds three suite lists and filters by
    # list membership, four times per handshake, from the same settings.
    # The answer depends only on these values; callers get their own copy.
    key = (
        tuple(suites), tuple(settings.macNames), tuple(settings.cipherNames),
        tuple(settings.keyExchangeNames), version or settings.maxVersion,
    )
    found = _filtered.get(key)
    if found is None:
        if len(_filtered) >= 512:  # keys come from configurations: few; bound anyway
            _filtered.clear()
        found = _filtered[key] = _tlslite_filter_suites(suites, settings, version)
    return list(found)


_tlslite_is_valid_hostname: Callable[[Any], bool] = tlslite.tlsconnection.is_valid_hostname


@functools.lru_cache(maxsize=1024)  # bounded: names come from peers
def _valid_hostname(name: str | bytes) -> bool:
    return _tlslite_is_valid_hostname(name)


def _is_valid_hostname(hostname: str | bytes | bytearray) -> bool:
    # dns_utils.is_valid_hostname runs three regular expressions per SNI
    # name (about 7 us a handshake); the answer depends on the name alone.
    # tlslite asks with the decoded str, purekong's ClientHello check with
    # the bytes: both are remembered (a str and a bytes never compare equal).
    if isinstance(hostname, bytearray):
        hostname = bytes(hostname)
    return _valid_hostname(hostname)


def _positional_fast_path(decorated: Callable[..., Any]) -> Callable[..., Any]:
    """A ``deprecated_params`` method that skips the renaming when there is
    nothing to rename.

    tlslite's decorator loops over the old parameter names for every call
    (``Defragmenter.add_data`` once per record, ``add_static_size`` five times
    per connection, ``Certificate.create``), although tlslite itself passes
    only positional arguments. A call with keywords takes the decorated
    method, so old names are still renamed and warned about.
    """
    inner: Callable[..., Any] = decorated.__wrapped__  # type: ignore[attr-defined]

    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return decorated(*args, **kwargs)
        return inner(*args)

    call.__name__, call.__qualname__, call.__doc__ = inner.__name__, inner.__qualname__, inner.__doc__
    return call


# The decorated originals, taken before install() replaces them.
_defragmenter_add_data = _positional_fast_path(Defragmenter.add_data)
_defragmenter_add_static_size = _positional_fast_path(Defragmenter.add_static_size)
_defragmenter_add_dynamic_size = _positional_fast_path(Defragmenter.add_dynamic_size)
_certificate_create = _positional_fast_path(Certificate.create)
