"""The response head built in one pass (``_http._response_head``) against the
general construction it replaced: ``common_headers`` over the filtered
headers, then Content-Length and Connection, validated by h11."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from purekong.server._http import Reply, _response_head, common_headers, reason_phrase

_NO_BODY = {204, 304}


def _general_head(reply: Reply) -> h11.Response:
    """How _send_reply built the head before (each step its own scan)."""
    upgrade = any(k.lower() == "connection" and "upgrade" in v.lower() for k, v in reply.headers)
    headers = common_headers([(k, v) for k, v in reply.headers if k.lower() not in ("connection", "keep-alive")])
    if isinstance(reply.body, (bytes, bytearray)) and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers) \
            and reply.status not in _NO_BODY:
        headers.append(("Content-Length", str(len(reply.body))))
    if reply.close or upgrade:
        headers.append(("Connection", ", ".join(["upgrade"] * upgrade + ["close"] * reply.close)))
    reason = reply.reason if reply.reason is not None else reason_phrase(reply.status)
    return h11.Response(status_code=reply.status, headers=[(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in headers],
                        reason=reason.encode("latin-1"))


_NAMES = ["Connection", "connection", "Keep-Alive", "Date", "DATE", "Server", "server", "Content-Length",
          "Transfer-Encoding", "Content-Type", "X-Kong-Upstream-Latency", "Via", "Upgrade"]
_VALUES = st.sampled_from(["close", "Upgrade", "keep-alive, Upgrade", "timeout=5", "12", "chunked", "purekong/1", "x y"])


async def _no_chunks():  # a streamed body (never iterated here)
    yield b""


@given(
    headers=st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=8),
    status=st.sampled_from([200, 201, 204, 302, 304, 404, 426, 494, 599]),
    body=st.sampled_from([b"", b"hello", bytearray(b"abc"), None]),
    close=st.booleans(),
    reason=st.sampled_from([None, "Fine"]),
)
def test_the_one_pass_head_equals_the_general_construction(headers, status, body, close, reason):
    reply = Reply(status, headers, body if body is not None else _no_chunks(), close=close, reason=reason)
    try:
        expected = _general_head(reply)
    except h11.LocalProtocolError as exc:
        with pytest.raises(h11.LocalProtocolError, match=str(exc)):
            _response_head(reply)
        return
    head = _response_head(reply)
    assert head.status_code == expected.status_code and head.reason == expected.reason
    assert _dateless(head) == _dateless(expected)


def _dateless(head: h11.Response) -> list[tuple[bytes, bytes]]:
    """The raw headers, our own Date's value masked (the second may tick between the two builds)."""
    return [(k, b"<date>" if k == b"Date" and v.endswith(b" GMT") else v) for k, v in head.headers.raw_items()]


def test_a_header_value_with_a_line_break_is_refused_as_before():
    reply = Reply(200, [("X-Evil", "a\r\nSet-Cookie: x=1")], b"")
    with pytest.raises(h11.LocalProtocolError):
        _general_head(reply)
    with pytest.raises(h11.LocalProtocolError):
        _response_head(reply)
