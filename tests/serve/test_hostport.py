"""The one host:port parser (purekong._hostport) and its callers' rules."""

import pytest

from purekong._hostport import format_host_port, split_host_port, strip_brackets
from purekong.server import Listener, ServeConfigError


@pytest.mark.parametrize("text, expected", [
    ("example.test:8443", ("example.test", "8443")),
    ("example.test", ("example.test", None)),
    ("127.0.0.1:80", ("127.0.0.1", "80")),
    (":8000", ("", "8000")),
    ("[::1]:443", ("[::1]", "443")),
    ("[::1]", ("[::1]", None)),
    ("[::1", ("[::1", None)),
    ("::1", ("::1", None)),  # unbracketed IPv6: never a port
    ("host:abc", ("host", "abc")),  # the caller judges the port
])
def test_split_host_port(text, expected):
    assert split_host_port(text) == expected


@pytest.mark.parametrize("host, port", [("example.test", 80), ("::1", 8443), ("127.0.0.1", 0)])
def test_format_is_the_inverse(host, port):
    name, text = split_host_port(format_host_port(host, port))
    assert (strip_brackets(name), int(text)) == (host, port)


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:8000", ("127.0.0.1", 8000, False)),
    ("0.0.0.0:8443 ssl", ("0.0.0.0", 8443, True)),
    ("[::1]:8443 ssl", ("::1", 8443, True)),
    (":8000", ("0.0.0.0", 8000, False)),
])
def test_listen_entries(text, expected):
    listener = Listener.parse(text)
    assert (listener.host, listener.port, listener.ssl) == expected


@pytest.mark.parametrize("text", ["8000", "host:http", "host:65536", "::1:8000", "h:1 tls"])
def test_bad_listen_entries_name_the_entry(text):
    with pytest.raises(ServeConfigError, match="listen"):
        Listener.parse(text)


def test_router_and_pdk_read_the_host_header_alike():
    from purekong.gateway._router import _split_request_host
    from purekong.pdk import ConnectionInfo, KongContext, Request
    from purekong.pdk._request import host_of

    for header, name in [("Example.TEST:8000", "example.test"), ("[::1]:8443", "[::1]"), ("example.test", "example.test")]:
        ctx = KongContext(conn=ConnectionInfo(), request=Request(headers=[("Host", header)]))
        assert host_of(ctx) == name == _split_request_host(header)[0]
