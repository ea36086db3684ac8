"""The HTTP/2 response head: ``_response_head`` against h2's own path.

purekong builds a response's HEADERS in one pass and turns h2's outbound
normalisation and validation off. The general path it replaces is
``common_headers``, the connection-specific fields dropped, then h2's
lowercasing, stripping, never-indexed credentials and its checks. For any
reply, both must put the same bytes on the wire (HPACK's dynamic table
included, over several responses), or both refuse the reply.
"""

from __future__ import annotations

from unittest import mock

import h2.config
import h2.connection
import h2.exceptions
from hypothesis import given
from hypothesis import strategies as st

from purekong.server._http import Reply, common_headers
from purekong.server._http2 import _H2_CONFIG, _response_head

FIXED_DATE = "Wed, 02 Dec 2026 17:00:00 GMT"
CONNECTION_SPECIFIC = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


def general_head(reply: Reply, length: int | None) -> list[tuple[bytes, bytes]]:
    """What purekong sent before the one-pass head (h2 then normalised and validated it)."""
    headers = [(k.lower(), str(v)) for k, v in common_headers(reply.headers) if k.lower() not in CONNECTION_SPECIFIC]
    if length is not None and not any(k == "content-length" for k, _ in headers):
        headers.append(("content-length", str(length)))
    return [(b":status", str(reply.status).encode())] + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _servers(count: int) -> tuple[h2.connection.H2Connection, h2.connection.H2Connection]:
    """h2 with its default checks and h2 as purekong configures it, both with ``count`` requests open."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    for _ in range(count):
        client.send_headers(client.get_next_available_stream_id(),
                            [(":method", "GET"), (":path", "/"), (":scheme", "https"), (":authority", "localhost")], end_stream=True)
    wire = client.data_to_send()
    general = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    ours = h2.connection.H2Connection(_H2_CONFIG)
    for server in (general, ours):
        server.initiate_connection()
        server.receive_data(wire)
        server.data_to_send()
    return general, ours


NAMES = st.one_of(
    st.sampled_from(["Date", "server", "Server", "Content-Length", "content-type", "TE", "te", "Authorization",
                     "proxy-authorization", "Cookie", "cookie", "Set-Cookie", "Connection", "keep-alive",
                     "Transfer-Encoding", "Upgrade", "Via", "X-Kong-Proxy-Latency", ":status", ":path", "",
                     " x-padded ", "\tX-Tab", "x-a"]),
    st.text(st.characters(min_codepoint=9, max_codepoint=255), max_size=12),
)
VALUES = st.one_of(st.sampled_from(["trailers", " Trailers ", "gzip", "", "0", "short", "a-cookie-value-longer-than-20"]),
                   st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40))
REPLIES = st.builds(Reply, status=st.sampled_from([200, 204, 301, 404, 413, 502]),
                    headers=st.lists(st.tuples(NAMES, VALUES), max_size=8))


@given(replies=st.lists(st.tuples(REPLIES, st.one_of(st.none(), st.integers(0, 1 << 20))), min_size=1, max_size=4))
def test_the_one_pass_head_puts_h2s_bytes_on_the_wire_or_is_refused_as_h2_refuses_it(replies):
    general, ours = _servers(len(replies))
    with mock.patch("purekong.server._http.http_date", return_value=FIXED_DATE), \
            mock.patch("purekong.server._http2.http_date", return_value=FIXED_DATE):
        for i, (reply, length) in enumerate(replies):
            stream_id = 1 + 2 * i
            try:
                general.send_headers(stream_id, general_head(reply, length))
                expected: bytes | None = general.data_to_send()
            except (h2.exceptions.ProtocolError, IndexError):  # h2 indexes name[0]: an empty name is an IndexError
                expected = None
            try:
                ours.send_headers(stream_id, _response_head(reply, length))
                got: bytes | None = ours.data_to_send()
            except h2.exceptions.ProtocolError:
                got = None
            assert got == expected, reply
            if expected is None:
                return  # refused by both; h2's state after a refusal is not ours to match


def test_a_kong_reply_head():
    reply = Reply(200, [("Content-Type", "application/json"), ("Connection", "keep-alive"), ("Authorization", "x"),
                        ("Via", "kong/3.9.0")])
    with mock.patch("purekong.server._http2.http_date", return_value=FIXED_DATE):
        head = _response_head(reply, 17)
    assert head == [(b":status", b"200"), (b"date", FIXED_DATE.encode()), (b"server", head[2][1]),
                    (b"content-type", b"application/json"), (b"authorization", b"x"), (b"via", b"kong/3.9.0"),
                    (b"content-length", b"17")]
    assert head[2][1].startswith(b"purekong/")
    assert head[4].indexable is False  # credentials stay out of HPACK's table
