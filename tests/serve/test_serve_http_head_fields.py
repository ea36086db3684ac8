"""The response head's fields checked by h11 once each (``_http.validated_response``,
remembered in ``_VALID_FIELDS``) against h11's validating construction of
the same head: the same bytes on the wire, or the same error, whatever was
remembered before."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from purekong.server import _http
from purekong.server._http import validated_response

# Names and values h11 takes, refuses (CR, LF, NUL, a space in a name, an
# empty name), and the fields it treats specially (framing, Connection).
_NAMES = st.one_of(
    st.sampled_from([b"Content-Length", b"content-length", b"Transfer-Encoding", b"Connection", b"Via", b"Date",
                     b"X-Kong-Proxy-Latency", b"Server", b"", b"Bad Name", b"X:Y", b"X\r\nY"]),
    st.binary(max_size=6),
)
_VALUES = st.one_of(
    st.sampled_from([b"0", b"17", b" 17 ", b"17, 17", b"17, 18", b"-1", b"chunked", b"CHUNKED", b"gzip", b"close",
                     b"1.1 purekong/0.1.0", b"", b"a\r\nSet-Cookie: x=1", b"a\x00b", b" lead", b"trail "]),
    st.binary(max_size=6),
)
_HEADS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)


def _wire(head: h11.Response, body: bytes) -> bytes:
    """What a server connection sends for ``head`` and ``body``, after a GET."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.next_event()
    conn.next_event()
    out = conn.send(head) or b""
    if body and head.status_code not in (204, 304):
        out += conn.send(h11.Data(data=body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


def _expect_same(status: int, headers: list[tuple[bytes, bytes]], reason: bytes, body: bytes) -> None:
    try:
        expected = h11.Response(status_code=status, headers=headers, reason=reason)
    except h11.LocalProtocolError as exc:
        with pytest.raises(h11.LocalProtocolError) as got:
            validated_response(status, headers, reason)
        assert str(got.value) == str(exc) and got.value.error_status_hint == exc.error_status_hint
        return
    head = validated_response(status, headers, reason)
    assert head == expected
    try:
        wire = _wire(expected, body)
    except h11.LocalProtocolError as exc:  # e.g. a body its Content-Length does not frame
        with pytest.raises(h11.LocalProtocolError, match=str(exc)):
            _wire(head, body)
        return
    assert _wire(head, body) == wire


@given(
    before=_HEADS,
    headers=_HEADS,
    status=st.sampled_from([200, 204, 302, 404, 502, 999]),
    reason=st.sampled_from([b"", b"OK", b"Moved Temporarily"]),
    body=st.sampled_from([b"", b"x" * 17]),
)
def test_a_head_gives_h11s_bytes_or_h11s_error_whatever_was_remembered(before, headers, status, reason, body):
    # The fields of an earlier head (valid or not) are remembered or not, as
    # a connection's earlier responses would leave them.
    try:
        validated_response(200, before, b"OK")
    except h11.LocalProtocolError:
        pass
    _expect_same(status, headers, reason, body)
    _expect_same(status, headers, reason, body)  # now from what was remembered


def test_a_line_break_is_refused_even_next_to_remembered_fields():
    ok = [(b"Content-Type", b"text/plain"), (b"Via", b"1.1 purekong")]
    validated_response(200, ok, b"OK")
    assert set(ok) <= _http._VALID_FIELDS
    with pytest.raises(h11.LocalProtocolError, match="Illegal header value"):
        validated_response(200, ok + [(b"X-Evil", b"a\r\nSet-Cookie: x=1")], b"OK")
    assert (b"X-Evil", b"a\r\nSet-Cookie: x=1") not in _http._VALID_FIELDS


def test_conflicting_content_lengths_of_remembered_fields_are_still_refused():
    validated_response(200, [(b"Content-Length", b"17")], b"OK")
    validated_response(200, [(b"Content-Length", b"18")], b"OK")
    with pytest.raises(h11.LocalProtocolError, match="conflicting Content-Length"):
        validated_response(200, [(b"Content-Length", b"17"), (b"Content-Length", b"18")], b"OK")


def test_the_remembered_fields_are_bounded(monkeypatch):
    monkeypatch.setattr(_http, "_VALID_FIELDS", set())
    for i in range(_http._VALID_FIELDS_MAX + 10):
        validated_response(200, [(b"X-Count", str(i).encode())], b"OK")
    assert len(_http._VALID_FIELDS) <= _http._VALID_FIELDS_MAX
