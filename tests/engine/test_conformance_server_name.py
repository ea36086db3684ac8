"""server_name: the acknowledgement (RFC 6066 §3; issue 10, defect 5) and
names OpenSSL accepts that are no host names (defect 9)."""

from __future__ import annotations

import ssl

import pytest

from purekong.engine import AlertDescription, RemoteProtocolError, ServerConfig, ServerConnection

from _conformance_helpers import s_client, serve_one, text
from _engine_helpers import (
    HOST,
    HRR_RANDOM,
    PK,
    Hello,
    Recorder,
    Std,
    extensions,
    handshake_messages,
    pk_client,
    pk_client_config,
    pump,
    records,
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


# -- defect 9: IP-literal and non-ASCII names ---------------------------------

def sni_extension(name: bytes) -> bytes:
    entry = b"\x00" + len(name).to_bytes(2, "big") + name
    return len(entry).to_bytes(2, "big") + entry


def hello_with_sni(pki, version: str, name: bytes) -> bytes:
    cli = std_client(pki, version)
    cli.step()
    return Hello.parse(cli.out()).set_ext(SNI, sni_extension(name)).record()


def openssl_answer(pki, record: bytes) -> bytes:
    """What OpenSSL's server (stdlib ssl) sends back to the same ClientHello."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.files["ec_chain"], pki.files["ec_key"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(record)
    try:
        obj.do_handshake()
    except ssl.SSLError:
        pass
    return outgoing.read()


INVALID_NAMES = [b"127.0.0.1", b"::1", b"[2001:db8::1]", "bücher.example".encode(), b"\xff\xfe", b"under_score.example", b"-lead.example"]


@pytest.mark.parametrize("version", ["1.3", "1.2"])
@pytest.mark.parametrize("name", INVALID_NAMES)
def test_hello_with_an_unusable_server_name_completes_as_openssl(pki, config, version, name):
    record = hello_with_sni(pki, version, name)
    assert openssl_answer(pki, record)[:1] == b"\x16"  # OpenSSL answers with its ServerHello
    srv = PK(ServerConnection(config))
    srv.feed(record)
    srv.step()
    (hello,) = srv.hellos
    assert hello.server_name is None and hello.server_name_raw == name
    assert records(srv.out())[0][0] == 22  # a ServerHello, no alert


def test_valid_names_are_decoded(pki, config):
    for name in (b"localhost", b"xn--bcher-kva.example", b"a.example."):
        srv = PK(ServerConnection(config))
        srv.feed(hello_with_sni(pki, "1.3", name))
        srv.step()
        assert srv.hellos[0].server_name == name.decode() and srv.hellos[0].server_name_raw == name


@pytest.mark.parametrize("name", [b"a\x00b.example", b"a" * 256])
def test_names_openssl_refuses_get_unrecognized_name(pki, config, name):
    """OpenSSL refuses a NUL byte or more than 255 bytes with unrecognized_name; so does purekong."""
    record = hello_with_sni(pki, "1.3", name)
    assert openssl_answer(pki, record) == bytes([21, 3, 3, 0, 2, 2, 112])
    srv = ServerConnection(config)
    srv.receive_data(record)
    with pytest.raises(RemoteProtocolError) as info:
        srv.next_event()
    assert info.value.alert == AlertDescription.unrecognized_name
    assert srv.data_to_send() == bytes([21, 3, 3, 0, 2, 2, 112])


def test_unusable_name_is_not_acknowledged_and_completes_with_a_purekong_view(pki, config):
    """Through a whole handshake: no SNI seen by the certificate phase, no
    acknowledgement, HandshakeComplete.server_name None."""
    trace = Recorder()
    srv = server(config, trace=trace)
    srv.feed(hello_with_sni(pki, "1.3", b"192.0.2.7"))
    srv.step()
    assert srv.hellos[0].server_name is None
    assert SNI not in server_extensions(trace, 8)


def test_openssl_s_client_with_an_ip_literal_server_name_resumes_as_no_sni(pki, config, tmp_path):
    """A real client sending SNI "127.0.0.1" completes; its ticket is bound to
    "no SNI", so a hello without SNI resumes it."""
    session = str(tmp_path / "session.pem")
    served = serve_one(config)
    proc = s_client(served.port, "-tls1_3", "-servername", "127.0.0.1", "-sess_out", session)
    served.join()
    assert served.error is None, text(proc)
    assert served.server.hellos[0].server_name_raw == b"127.0.0.1"
    assert served.server.handshake.server_name is None
    assert "hello from purekong" in text(proc)
    served = serve_one(config)
    proc = s_client(served.port, "-tls1_3", "-noservername", "-sess_in", session)
    served.join()
    assert served.error is None, text(proc)
    assert served.server.hellos[0].resumes_session and served.server.handshake.resumed
    assert "Reused, TLSv1.3" in text(proc)


def test_sni_ticket_does_not_resume_under_an_unusable_name(pki, config, tmp_path):
    """And the other way: a ticket issued for "localhost" is not resumed by a hello whose name is unusable."""
    session = str(tmp_path / "session.pem")
    served = serve_one(config)
    s_client(served.port, "-tls1_3", "-sess_out", session)
    served.join()
    served = serve_one(config)
    proc = s_client(served.port, "-tls1_3", "-servername", "127.0.0.1", "-sess_in", session)
    served.join()
    assert served.error is None, text(proc)
    assert not served.server.hellos[0].resumes_session and not served.server.handshake.resumed


def test_unusable_name_survives_a_hello_retry_request(pki):
    """The second ClientHello (after an HRR) is read by tlslite itself: same policy there."""
    config = ServerConfig(certificates=(pki.server_key("ec"),), groups=("secp384r1",))
    cli = pk_client(pk_client_config(pki, "1.3", groups=("x25519", "secp384r1")))
    first = Hello.parse(cli.out()).set_ext(SNI, sni_extension(b"10.1.2.3"))
    srv = PK(ServerConnection(config))
    srv.feed(first.record())
    srv.step()
    assert srv.hellos[0].server_name is None
    retry = srv.out()
    assert server_hello_fields(handshake_messages(retry)[0])["random"] == HRR_RANDOM
    cli.feed(retry)
    cli.step()
    flight = records(cli.out())
    second = Hello.parse(next(rec for ctype, rec in flight if ctype == 22)).set_ext(SNI, sni_extension(b"10.1.2.3"))
    srv.feed(second.record())
    try:
        srv.step()
    except RemoteProtocolError as exc:  # the client's transcript differs from ours: only its Finished may fail
        pytest.fail(f"second ClientHello refused: {exc!r}")
    assert records(srv.out())[0][0] == 22  # the real ServerHello
