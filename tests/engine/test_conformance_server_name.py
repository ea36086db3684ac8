"""server_name: the acknowledgement (RFC 6066 §3; issue 10, defect 5) and
names OpenSSL accepts that are no host names (defect 9)."""

from __future__ import annotations

import pytest

from purekong.engine import ServerConfig

from _conformance_helpers import s_client, serve_one, text
from _engine_helpers import (
    HOST,
    Recorder,
    Std,
    extensions,
    pump,
    server,
    server_hello_fields,
    std_client,
    std_client_context,
)

SNI = 0


@pytest.fixture(scope="module")
def config(pki):
    return ServerConfig(certificates=(pki.server_key("ec"),))


def server_extensions(trace: Recorder, msg_type: int) -> dict[int, bytes]:
    (message,) = trace.messages("sent", msg_type)
    if msg_type == 2:
        return server_hello_fields(message.raw)["extensions"]
    return extensions(message.raw[4:])  # EncryptedExtensions: the block is the whole body


# -- defect 5: the acknowledgement --------------------------------------------

@pytest.mark.parametrize("version,where", [("1.3", 8), ("1.2", 2)])
def test_server_name_is_acknowledged(pki, config, version, where):
    trace = Recorder()
    srv = server(config, trace=trace)
    pump(std_client(pki, version), srv)
    assert srv.handshake is not None and srv.handshake.server_name == HOST
    assert server_extensions(trace, where)[SNI] == b""
    if version == "1.3":
        assert SNI not in server_extensions(trace, 2)  # never in a TLS 1.3 ServerHello


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_no_acknowledgement_without_server_name(pki, config, version):
    trace = Recorder()
    srv = server(config, trace=trace)
    ctx = std_client_context(pki, version)
    ctx.check_hostname = False
    pump(Std(ctx, server_side=False, server_hostname=None), srv)
    assert srv.handshake is not None and srv.handshake.server_name is None
    assert SNI not in server_extensions(trace, 8 if version == "1.3" else 2)


def test_no_acknowledgement_on_tls12_resumption(pki, config):
    """RFC 6066 §3: 'When resuming a session, the server MUST NOT include a server_name extension'."""
    ctx = std_client_context(pki, "1.2")
    first = Std(ctx, server_side=False, server_hostname=HOST)
    pump(first, server(config))
    trace = Recorder()
    srv = server(config, trace=trace)
    pump(Std(ctx, server_side=False, server_hostname=HOST, session=first.obj.session), srv)
    assert srv.handshake.resumed
    assert SNI not in server_extensions(trace, 2)


@pytest.mark.parametrize("flag,where", [("-tls1_3", "EncryptedExtensions"), ("-tls1_2", "ServerHello")])
def test_openssl_client_sees_the_acknowledgement(pki, config, flag, where):
    served = serve_one(config)
    output = text(s_client(served.port, flag, "-tlsextdebug"))
    served.join()
    assert served.error is None and served.server.handshake is not None
    assert 'TLS server extension "server name" (id=0), len=0' in output
