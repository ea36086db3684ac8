"""Engine features against real peers: CertificateRequest CA names, session reuse,
HelloRetryRequest, KeyUpdate, ALPN, warning alerts, cipher preference,
refusals, the key log and deterministic mode."""

from __future__ import annotations

import io
import ssl

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from purekong.engine import (
    PAUSED,
    AlertDescription,
    AlertLevel,
    AlertReceived,
    ClientConnection,
    ConnectionClosed,
    KeyLogWriter,
    KeyUpdated,
    LocalProtocolError,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)

from _engine_helpers import (
    HOST,
    HRR_RANDOM,
    PK,
    Hello,
    Recorder,
    Std,
    alert_records,
    certificate_request_dns,
    det_random,
    handshake_messages,
    pk_client,
    pk_client_config,
    pump,
    records,
    server,
    server_hello_fields,
    std_client,
    std_client_context,
    std_server_context,
    u16_list,
)

VERSIONS = ["1.2", "1.3"]


def ec_config(pki, **kw) -> ServerConfig:
    return ServerConfig(certificates=(pki.server_key("ec"),), **kw)


# ---------------------------------------------------------------------------
# CertificateRequest: certificate_authorities
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_request_lists_ca_names_in_order(pki, version):
    cas = (pki.other_ca.cert, pki.client_root.cert, pki.client_inter.cert)
    rec = Recorder()
    srv = server(ec_config(pki), trace=rec, request_client_certificate=True, client_ca_certificates=cas)
    cli_rec = Recorder()
    cli = pk_client(pk_client_config(pki, version, certificate=pki.client_key), trace=cli_rec)
    pump(cli, srv)

    sent = rec.messages("sent", 13)
    assert len(sent) == 1
    names, exts = certificate_request_dns(sent[0].raw, version)
    assert names == [ca.subject.public_bytes() for ca in cas]
    if version == "1.3":
        assert 47 in exts and 13 in exts  # certificate_authorities, signature_algorithms
    # The purekong client received the same message, byte for byte.
    got = cli_rec.messages("received", 13)
    assert [m.raw for m in got] == [sent[0].raw]
    assert certificate_request_dns(got[0].raw, version)[0] == names
    assert srv.handshake.peer_certificates == pki.client_chain_der


@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_request_ca_names_from_config_reach_stdlib_client(pki, version):
    rec = Recorder()
    cfg = ec_config(pki, request_client_certificate=True, client_ca_certificates=(pki.client_root.cert,))
    srv = server(cfg, trace=rec)
    cli = std_client(pki, version, client_cert=True)
    pump(cli, srv)
    names, _ = certificate_request_dns(rec.messages("sent", 13)[0].raw, version)
    assert names == [pki.client_root.cert.subject.public_bytes()]
    assert srv.handshake.peer_certificates == pki.client_chain_der


@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_request_without_ca_list(pki, version):
    rec = Recorder()
    srv = server(ec_config(pki), trace=rec, request_client_certificate=True)
    cli = std_client(pki, version)  # has no certificate: must still complete
    pump(cli, srv)
    names, exts = certificate_request_dns(rec.messages("sent", 13)[0].raw, version)
    if version == "1.3":
        assert names is None and 47 not in exts
    else:
        assert names == []
    assert srv.handshake is not None and cli.handshake_done
    assert srv.handshake.peer_certificates is None
    srv.send(b"hello anonymous")
    pump(cli, srv)
    assert bytes(cli.received) == b"hello anonymous"


@pytest.mark.parametrize("version", VERSIONS)
def test_no_certificate_request_unless_asked(pki, version):
    rec = Recorder()
    srv = server(ec_config(pki), trace=rec)
    pump(std_client(pki, version, client_cert=True), srv)
    assert rec.messages("sent", 13) == []
    assert srv.handshake.peer_certificates is None


# ---------------------------------------------------------------------------
# Session reuse
# ---------------------------------------------------------------------------

def nst_count(rec: Recorder) -> int:
    return len(rec.messages("sent", 4))


def std_pair(ctx, srv_config, *, session=None, hostname=HOST, **proceed):
    rec = Recorder()
    srv = server(srv_config, trace=rec, **proceed)
    cli = Std(ctx, server_side=False, server_hostname=hostname, session=session)
    pump(cli, srv)
    return cli, srv, rec


REUSE = [("1.2", False), ("1.2", True), ("1.3", True)]
REUSE_IDS = ["tls12-session-id", "tls12-ticket", "tls13-ticket"]


@pytest.mark.parametrize("version,tickets", REUSE, ids=REUSE_IDS)
def test_stdlib_client_resumes(pki, version, tickets):
    ctx = std_client_context(pki, version, tickets=tickets, client_cert=True)
    cfg = ec_config(pki, request_client_certificate=True)
    cli1, srv1, rec1 = std_pair(ctx, cfg)
    assert srv1.handshake.resumed is False and srv1.handshake.peer_certificates == pki.client_chain_der
    sh = server_hello_fields(rec1.messages("sent", 2)[0].raw)
    if version == "1.2":
        assert (35 in sh["extensions"]) is tickets
        if not tickets:
            assert len(sh["session_id"]) == 32
    assert nst_count(rec1) == {("1.2", False): 0, ("1.2", True): 1, ("1.3", True): 2}[version, tickets]
    session = cli1.obj.session
    assert session is not None

    cli2, srv2, rec2 = std_pair(ctx, cfg, session=session)
    assert cli2.obj.session_reused
    hs = srv2.handshake
    assert hs.resumed is True
    assert hs.peer_certificates is None
    assert [h.resumes_session for h in srv2.hellos] == [True]
    assert rec2.messages("sent", 11) == []  # no Certificate on resumption
    srv2.send(b"welcome back")
    pump(cli2, srv2)
    assert bytes(cli2.received) == b"welcome back"


@pytest.mark.parametrize("version,tickets", REUSE, ids=REUSE_IDS)
def test_session_reuse_false_gives_nothing_to_resume(pki, version, tickets):
    ctx = std_client_context(pki, version, tickets=tickets)
    cfg = ec_config(pki)
    cli1, srv1, rec1 = std_pair(ctx, cfg, session_reuse=False)
    sh = server_hello_fields(rec1.messages("sent", 2)[0].raw)
    if version == "1.2":
        assert sh["session_id"] == b""
        assert 35 not in sh["extensions"]
    assert nst_count(rec1) == 0
    assert len(cfg.session_store) == 0

    cli2, srv2, _ = std_pair(ctx, cfg, session=cli1.obj.session)
    assert [h.resumes_session for h in srv2.hellos] == [False]
    assert srv2.handshake.resumed is False
    assert not cli2.obj.session_reused


@pytest.mark.parametrize("version", VERSIONS)
def test_purekong_client_resumes(pki, version):
    cfg = ec_config(pki)
    ccfg = pk_client_config(pki, version)
    srv1 = server(cfg)
    cli1 = pk_client(ccfg)
    pump(cli1, srv1)  # in TLS 1.3 the client reads the NewSessionTickets here
    session = cli1.conn.session
    assert session is not None

    srv2 = server(cfg)
    cli2 = pk_client(ccfg, session=session)
    pump(cli2, srv2)
    assert srv2.handshake.resumed is True and cli2.handshake.resumed is True
    assert srv2.hellos[0].resumes_session is True
    assert srv2.handshake.peer_certificates is None
    # Also on the client (a resumed TLS 1.2 session used to report the old chain).
    assert cli2.handshake.peer_certificates is None
    cli2.send(b"again")
    pump(cli2, srv2)
    assert bytes(srv2.received) == b"again"

    # session_reuse=False on a first connection: the next one is full.
    srv3 = server(cfg, session_reuse=False)
    cli3 = pk_client(ccfg)
    pump(cli3, srv3)
    srv4 = server(cfg)
    cli4 = pk_client(ccfg, session=cli3.conn.session)
    pump(cli4, srv4)
    assert srv4.hellos[0].resumes_session is False
    assert srv4.handshake.resumed is False and cli4.handshake.resumed is False


@pytest.mark.parametrize("version", VERSIONS)
def test_purekong_client_resumes_with_stdlib_server(pki, version):
    ctx = std_server_context(pki, "ec", version)
    ccfg = pk_client_config(pki, version)
    first_srv = Std(ctx, server_side=True)
    first = pk_client(ccfg)
    pump(first, first_srv)
    assert first.handshake.peer_certificates == pki.server_chain_der("ec")
    again_srv = Std(ctx, server_side=True)
    again = pk_client(ccfg, session=first.conn.session)
    pump(again, again_srv)
    assert again_srv.obj.session_reused
    assert again.handshake.resumed is True
    assert again.handshake.peer_certificates is None


@pytest.mark.parametrize("version,tickets", REUSE, ids=REUSE_IDS)
def test_session_for_one_name_not_resumed_for_another(pki, version, tickets):
    ctx = std_client_context(pki, version, tickets=tickets)
    cfg = ec_config(pki)
    cli1, _, rec1 = std_pair(ctx, cfg, hostname="a.example")
    session = cli1.obj.session
    issued_id = server_hello_fields(rec1.messages("sent", 2)[0].raw)["session_id"]

    # Control: the same name resumes.
    same, srv_same, _ = std_pair(ctx, cfg, session=session, hostname="a.example")
    assert srv_same.handshake.resumed is True

    other, srv_other, _ = std_pair(ctx, cfg, session=session, hostname="b.example")
    hello = Hello.parse(srv_other.hellos[0].raw)
    assert srv_other.hellos[0].server_name == "b.example"
    # The client really offered the session from "a.example" ...
    if version == "1.3":
        assert hello.ext(41) is not None
    elif tickets:
        assert hello.ext(35)
    else:
        assert len(issued_id) == 32 and hello.session_id == issued_id
    # ... and the server did a full handshake instead.
    assert srv_other.hellos[0].resumes_session is False
    assert srv_other.handshake.resumed is False
    assert not other.obj.session_reused
    assert other.handshake_done


# ---------------------------------------------------------------------------
# HelloRetryRequest
# ---------------------------------------------------------------------------

def assert_hrr(rec: Recorder) -> None:
    shs = rec.messages("sent", 2)
    assert len(shs) == 2
    assert server_hello_fields(shs[0].raw)["random"] == HRR_RANDOM
    assert server_hello_fields(shs[1].raw)["random"] != HRR_RANDOM
    assert len(rec.messages("received", 1)) == 2


def test_hello_retry_request_purekong_client(pki):
    rec = Recorder()
    srv = server(ec_config(pki, groups=("x25519", "secp256r1")), trace=rec)
    # Key share for secp384r1 only (the client's first group); the server does not take it.
    cli = pk_client(pk_client_config(pki, "1.3", groups=("secp384r1", "x25519")))
    pump(cli, srv)
    assert_hrr(rec)
    # 51 = key_share in the HRR names the server's group (x25519 = 0x001d).
    hrr = server_hello_fields(rec.messages("sent", 2)[0].raw)
    assert hrr["extensions"][51] == b"\x00\x1d"
    assert len(srv.hellos) == 1
    assert srv.handshake and cli.handshake
    cli.send(b"after hrr")
    pump(cli, srv)
    assert bytes(srv.received) == b"after hrr"


def test_hello_retry_request_stdlib_client(pki):
    rec = Recorder()
    srv = server(ec_config(pki, groups=("secp256r1", "secp384r1")), trace=rec)
    cli = std_client(pki, "1.3")  # OpenSSL sends an x25519 key share only
    pump(cli, srv)
    assert_hrr(rec)
    assert server_hello_fields(rec.messages("sent", 2)[0].raw)["extensions"][51] == b"\x00\x17"
    assert cli.handshake_done and srv.handshake.version == "TLSv1.3"


def test_no_hello_retry_when_share_acceptable(pki):
    rec = Recorder()
    srv = server(ec_config(pki), trace=rec)
    pump(std_client(pki, "1.3"), srv)
    assert len(rec.messages("sent", 2)) == 1


# ---------------------------------------------------------------------------
# KeyUpdate
# ---------------------------------------------------------------------------

def test_key_update_server_to_stdlib(pki):
    srv = server(ec_config(pki))
    cli = std_client(pki, "1.3")
    pump(cli, srv)
    srv.conn.key_update()
    srv.send(b"under new keys")
    pump(cli, srv)
    assert bytes(cli.received) == b"under new keys"
    # OpenSSL answers update_requested with its own KeyUpdate, sent just
    # before its next write.
    cli.send(b"client under new keys")
    pump(cli, srv)
    assert srv.of(KeyUpdated) == [KeyUpdated(update_requested=False)]
    assert bytes(srv.received) == b"client under new keys"
    srv.send(b"and back")
    pump(cli, srv)
    assert bytes(cli.received) == b"under new keysand back"


def test_key_update_purekong_both_directions(pki):
    srv = server(ec_config(pki))
    cli = pk_client(pk_client_config(pki, "1.3"))
    pump(cli, srv)
    for _ in range(3):
        cli.conn.key_update()
    pump(cli, srv)
    assert srv.of(KeyUpdated) == [KeyUpdated(update_requested=True)] * 3
    assert cli.of(KeyUpdated) == [KeyUpdated(update_requested=False)] * 3
    srv.conn.key_update()
    srv.send(b"s")
    cli.send(b"c")
    pump(cli, srv)
    assert cli.of(KeyUpdated)[-1] == KeyUpdated(update_requested=True)
    assert srv.of(KeyUpdated)[-1] == KeyUpdated(update_requested=False)
    assert bytes(cli.received) == b"s" and bytes(srv.received) == b"c"


def test_key_update_purekong_client_stdlib_server(pki):
    srv = Std(std_server_context(pki, "rsa", "1.3"), server_side=True)
    cli = pk_client(pk_client_config(pki, "1.3"))
    pump(cli, srv)
    cli.conn.key_update()
    cli.send(b"ping")
    pump(cli, srv)
    assert bytes(srv.received) == b"ping"
    srv.send(b"pong")
    pump(cli, srv)
    assert cli.of(KeyUpdated) == [KeyUpdated(update_requested=False)]
    assert bytes(cli.received) == b"pong"


# ---------------------------------------------------------------------------
# ALPN
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_alpn_server_preference_wins(pki, version):
    srv = server(ec_config(pki, alpn_protocols=("h2", "http/1.1")))
    cli = std_client(pki, version, alpn=["http/1.1", "h2"])
    pump(cli, srv)
    assert srv.hellos[0].alpn_protocols == ("http/1.1", "h2")
    assert srv.handshake.alpn_protocol == "h2" == cli.obj.selected_alpn_protocol()


@pytest.mark.parametrize("version", VERSIONS)
def test_alpn_override_in_proceed(pki, version):
    srv = server(ec_config(pki, alpn_protocols=("h2", "http/1.1")), alpn_protocols=("http/1.1",))
    cli = pk_client(pk_client_config(pki, version, alpn_protocols=("h2", "http/1.1")))
    pump(cli, srv)
    assert srv.handshake.alpn_protocol == "http/1.1" == cli.handshake.alpn_protocol


@pytest.mark.parametrize("version", VERSIONS)
def test_alpn_no_overlap_is_fatal(pki, version):
    srv = server(ec_config(pki, alpn_protocols=("h2",)))
    cli = std_client(pki, version, alpn=["spdy/3", "http/1.1"])
    with pytest.raises(RemoteProtocolError) as info:
        pump(cli, srv)
    assert info.value.alert == AlertDescription.no_application_protocol
    out = srv.out()
    assert alert_records(out) == [bytes([21, 3, 3, 0, 2, 2, 120])]
    cli.feed(out)
    with pytest.raises(ssl.SSLError, match="(?i)no.application.protocol"):
        cli.step()
    with pytest.raises(LocalProtocolError):
        srv.conn.next_event()


@pytest.mark.parametrize("version", VERSIONS)
def test_alpn_offered_to_server_without_alpn(pki, version):
    """tlslite crashes (TLS 1.3) or aborts (TLS 1.2) here on its own; the engine must not."""
    srv = server(ec_config(pki))
    cli = std_client(pki, version, alpn=["h2", "http/1.1"])
    pump(cli, srv)
    assert srv.handshake.alpn_protocol is None
    assert cli.obj.selected_alpn_protocol() is None
    srv2 = server(ec_config(pki))
    cli2 = pk_client(pk_client_config(pki, version, alpn_protocols=("h2",)))
    pump(cli2, srv2)
    assert srv2.handshake.alpn_protocol is None and cli2.handshake.alpn_protocol is None


@pytest.mark.parametrize("version", VERSIONS)
def test_alpn_override_to_nothing_ignores_alpn(pki, version):
    srv = server(ec_config(pki, alpn_protocols=("h2",)), alpn_protocols=())
    cli = std_client(pki, version, alpn=["h2"])
    pump(cli, srv)
    assert srv.handshake.alpn_protocol is None and cli.obj.selected_alpn_protocol() is None


# ---------------------------------------------------------------------------
# Warning alerts
# ---------------------------------------------------------------------------

def send_alert(pk, level: int, description: int) -> None:
    """Make a purekong client send an alert under its current keys.

    The engine has no public API for sending a non-fatal alert, so this goes
    through the adapter's tlslite connection (``conn._driver.tls``), the same
    path the engine uses for its own close_notify.
    """
    from tlslite.messages import Alert

    tls = pk.conn._driver.tls
    for _ in tls._sendMsg(Alert().create(description, level)):
        pass


@pytest.mark.parametrize("description", [AlertDescription.user_canceled, AlertDescription.no_renegotiation, AlertDescription.unrecognized_name])
def test_tls12_warning_alert_keeps_connection_open(pki, description):
    srv = server(ec_config(pki))
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    send_alert(cli, 1, description)
    wire = cli.out()
    # Encrypted under the session keys: an alert record, but not the plaintext alert.
    assert [c for c, _ in records(wire)] == [21] and wire[5:] != bytes([1, description])
    srv.feed(wire)
    cli.send(b"still here")
    pump(cli, srv)
    assert srv.of(AlertReceived) == [AlertReceived(AlertLevel.warning, description)]
    assert bytes(srv.received) == b"still here"
    srv.send(b"so am I")
    pump(cli, srv)
    assert bytes(cli.received) == b"so am I"
    assert not srv.of(ConnectionClosed)


def test_too_many_warning_alerts(pki):
    srv = server(ec_config(pki))
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    for _ in range(10):
        send_alert(cli, 1, AlertDescription.no_renegotiation)
    srv.feed(cli.out())
    with pytest.raises(RemoteProtocolError) as info:
        srv.step()
    assert info.value.alert == AlertDescription.unexpected_message
    assert len(alert_records(srv.out())) == 1


def test_tls13_user_canceled_is_reported_other_warnings_end_the_connection(pki):
    srv = server(ec_config(pki))
    cli = pk_client(pk_client_config(pki, "1.3"))
    pump(cli, srv)
    send_alert(cli, 1, AlertDescription.user_canceled)
    cli.send(b"x")
    pump(cli, srv)
    assert srv.of(AlertReceived) == [AlertReceived(AlertLevel.warning, AlertDescription.user_canceled)]
    assert bytes(srv.received) == b"x"
    # RFC 8446 §6: any other alert is an error whatever its level.
    send_alert(cli, 1, AlertDescription.unrecognized_name)
    pump(cli, srv)
    assert srv.events[-1] == ConnectionClosed(clean=False)
    assert srv.of(AlertReceived)[-1].description == AlertDescription.unrecognized_name


# ---------------------------------------------------------------------------
# Cipher preference and refusals
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "ciphers,expected",
    [
        (("CHACHA20_POLY1305", "AES_128_GCM"), "CHACHA20_POLY1305"),
        (("AES_128_GCM", "CHACHA20_POLY1305"), "AES_128_GCM"),
        (("AES_128_GCM", "AES_256_GCM"), "AES_128_GCM"),
    ],
)
def test_server_cipher_order_wins(pki, version, ciphers, expected):
    srv = server(ec_config(pki, ciphers=ciphers))
    cli = std_client(pki, version)  # OpenSSL's own order starts with AES-256-GCM
    pump(cli, srv)
    assert expected in srv.handshake.cipher_suite
    assert srv.handshake.openssl_cipher == cli.obj.cipher()[0]


def refuse(pki, ctx, expected: AlertDescription):
    srv = server(ec_config(pki))
    cli = Std(ctx, server_side=False, server_hostname=HOST)
    with pytest.raises(RemoteProtocolError) as info:
        pump(cli, srv)
    assert info.value.alert == expected
    out = srv.out()
    alerts = alert_records(out)
    assert alerts and alerts[-1][5:] == bytes([2, expected])
    assert srv.handshake is None
    cli.feed(out)
    with pytest.raises(ssl.SSLError):
        cli.step()
    return srv


def legacy_ctx(pki, ciphers: str, version=ssl.TLSVersion.TLSv1_2):
    ctx = std_client_context(pki)
    ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def test_refuses_tls11(pki):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = legacy_ctx(pki, "DEFAULT", ssl.TLSVersion.TLSv1_1)
    refuse(pki, ctx, AlertDescription.protocol_version)


def test_refuses_cbc_only_client(pki):
    refuse(pki, legacy_ctx(pki, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"), AlertDescription.handshake_failure)


def test_refuses_static_rsa_only_client(pki):
    srv = server(ServerConfig(certificates=(pki.server_key("rsa"),)))
    cli = Std(legacy_ctx(pki, "AES128-GCM-SHA256:AES256-GCM-SHA384"), server_side=False, server_hostname=HOST)
    with pytest.raises(RemoteProtocolError) as info:
        pump(cli, srv)
    assert info.value.alert == AlertDescription.handshake_failure


@pytest.mark.parametrize("version", VERSIONS)
def test_refuses_sha1_only_signature_algorithms(pki, version):
    cli = std_client(pki, version)
    cli.step()
    hello = Hello.parse(cli.out())
    hello.set_ext(13, u16_list([0x0201, 0x0203]))  # rsa_pkcs1_sha1, ecdsa_sha1
    for kind in ("rsa", "ec"):
        srv = ServerConnection(ServerConfig(certificates=(pki.server_key(kind),)))
        srv.receive_data(hello.record())
        assert srv.next_event().signature_algorithms == (0x0201, 0x0203)
        srv.proceed()
        with pytest.raises(RemoteProtocolError) as info:
            srv.next_event()
        assert info.value.alert == AlertDescription.handshake_failure
        assert alert_records(srv.data_to_send()) == [bytes([21, 3, 3, 0, 2, 2, 40])]


# ---------------------------------------------------------------------------
# Key log (checked by decrypting records) and deterministic mode
# ---------------------------------------------------------------------------

def hkdf_expand_label(secret: bytes, label: str, length: int) -> bytes:
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


class RecordDecryptor:
    """TLS 1.3 AES-128-GCM record protection (RFC 8446 §5.2/§5.3) from a traffic secret."""

    def __init__(self, secret: bytes) -> None:
        self.aead = AESGCM(hkdf_expand_label(secret, "key", 16))
        self.iv = hkdf_expand_label(secret, "iv", 12)
        self.seq = 0

    def open(self, record: bytes) -> tuple[int, bytes] | None:
        nonce = bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big")))
        try:
            inner = self.aead.decrypt(nonce, record[5:], record[:5])
        except Exception:
            return None
        self.seq += 1
        inner = inner.rstrip(b"\x00")
        return inner[-1], inner[:-1]


def parse_keylog(text: str) -> dict[str, tuple[bytes, bytes]]:
    out = {}
    for line in text.splitlines():
        label, random, secret = line.split()
        out[label] = (bytes.fromhex(random), bytes.fromhex(secret))
    return out


def decrypt_stream(stream: bytes, handshake_secret: bytes, app_secret: bytes) -> tuple[list, list]:
    """Decrypt every encrypted record of one direction: handshake keys first, then application keys."""
    hs, app = RecordDecryptor(handshake_secret), RecordDecryptor(app_secret)
    hs_plain, app_plain = [], []
    for ctype, rec in records(stream):
        if ctype != 23:
            continue
        opened = hs.open(rec) if not app_plain else None
        if opened is not None:
            hs_plain.append(opened)
            continue
        opened = app.open(rec)
        assert opened is not None, "a record decrypts with neither logged secret"
        app_plain.append(opened)
    return hs_plain, app_plain


class Tap:
    """Records everything an endpoint sends."""

    def __init__(self, inner, sink: bytearray) -> None:
        self.inner, self.sink = inner, sink

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def out(self) -> bytes:
        data = self.inner.out()
        self.sink += data
        return data


KEYLOG_CASES = ["stdlib", "purekong", "stdlib-hrr", "purekong-hrr", "stdlib-resumed", "purekong-resumed", "client-side"]


@pytest.mark.parametrize("case", KEYLOG_CASES)
def test_keylog_secrets_decrypt_the_traffic(pki, case):
    """The logged TLS 1.3 secrets are the real ones: they decrypt both directions' records."""
    log = io.StringIO()
    groups = ("secp256r1",) if case.endswith("hrr") else ("x25519", "secp256r1")
    cfg = ec_config(pki, ciphers=("AES_128_GCM",), groups=groups)
    std_ctx = std_client_context(pki, "1.3")
    ccfg = pk_client_config(pki, "1.3", groups=("x25519", "secp256r1"))

    def client(session=None):
        if case.startswith("stdlib"):
            return Std(std_ctx, server_side=False, server_hostname=HOST, session=session)
        return pk_client(ccfg, session=session)

    session = None
    if case.endswith("resumed"):
        first = client()
        pump(first, server(cfg))
        session = first.obj.session if case.startswith("stdlib") else first.conn.session
    if case == "client-side":
        srv = Std(std_server_context(pki, "rsa", "1.3"), server_side=True)
        # The purekong client offers only AES-128-GCM, so OpenSSL picks it.
        cli = pk_client(pk_client_config(pki, "1.3", ciphers=("AES_128_GCM",)), trace=KeyLogWriter(log))
    else:
        srv = server(cfg, trace=KeyLogWriter(log))
        cli = client(session)
    to_client, to_server = bytearray(), bytearray()
    pump(Tap(cli, to_server), Tap(srv, to_client))
    srv.send(b"server secret payload")
    cli.send(b"client secret payload")
    pump(Tap(cli, to_server), Tap(srv, to_client))
    assert bytes(cli.received) == b"server secret payload"
    assert bytes(srv.received) == b"client secret payload"
    if case.endswith("resumed"):
        assert srv.handshake.resumed
    if case.endswith("hrr"):
        assert sum(1 for m in handshake_messages(bytes(to_server)) if m[0] == 1) == 2

    client_random = Hello.parse(bytes(to_server)).random
    lines = parse_keylog(log.getvalue())
    for label in ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"):
        assert lines[label][0] == client_random, label
        assert len(lines[label][1]) == 32

    hs_plain, app_plain = decrypt_stream(bytes(to_client), lines["SERVER_HANDSHAKE_TRAFFIC_SECRET"][1], lines["SERVER_TRAFFIC_SECRET_0"][1])
    # Handshake flight: EncryptedExtensions first, Finished last.
    flight = b"".join(data for ctype, data in hs_plain if ctype == 22)
    assert flight[0] == 8 and handshake_types(flight)[-1] == 20
    if case.endswith("resumed"):
        assert 11 not in handshake_types(flight)  # no Certificate on a PSK handshake
    assert (23, b"server secret payload") in app_plain
    assert all(data[0] == 4 for ctype, data in app_plain if ctype == 22)  # NewSessionTickets

    hs_plain, app_plain = decrypt_stream(bytes(to_server), lines["CLIENT_HANDSHAKE_TRAFFIC_SECRET"][1], lines["CLIENT_TRAFFIC_SECRET_0"][1])
    assert handshake_types(b"".join(d for c, d in hs_plain if c == 22)) == [20]
    assert (23, b"client secret payload") in app_plain


def handshake_types(flight: bytes) -> list[int]:
    types = []
    while flight:
        types.append(flight[0])
        flight = flight[4 + int.from_bytes(flight[1:4], "big") :]
    return types


def test_keylog_tls12_client_random_line(pki):
    log = io.StringIO()
    srv = server(ec_config(pki), trace=KeyLogWriter(log))
    pump(std_client(pki, "1.2"), srv)
    lines = parse_keylog(log.getvalue())
    assert list(lines) == ["CLIENT_RANDOM"]
    assert lines["CLIENT_RANDOM"][0] == srv.hellos[0].raw[6:38]
    assert len(lines["CLIENT_RANDOM"][1]) == 48


@pytest.mark.parametrize("version", VERSIONS)
def test_deterministic_mode(pki, version):
    ccfg = pk_client_config(pki, version)
    scfg = ec_config(pki)

    def run(seed: bytes):
        cli = ClientConnection(ccfg, HOST, random=det_random(b"client" + seed))
        hello = cli.data_to_send()
        srv = ServerConnection(scfg, random=det_random(b"server" + seed))
        srv.receive_data(hello)
        srv.next_event()
        srv.proceed()
        srv.next_event()
        server_hello = handshake_messages(srv.data_to_send())[0]
        assert server_hello[0] == 2
        return hello, server_hello

    first, second, other = run(b"1"), run(b"1"), run(b"2")
    assert first == second
    assert first[0] != other[0] and first[1] != other[1]
    if version == "1.3":
        # Also the key shares, not only the randoms, come from the source.
        assert Hello.parse(first[0]).ext(51) == Hello.parse(second[0]).ext(51) != Hello.parse(other[0]).ext(51)
        assert server_hello_fields(first[1])["extensions"][51] == server_hello_fields(second[1])["extensions"][51]


# ---------------------------------------------------------------------------
# API misuse
# ---------------------------------------------------------------------------

def test_api_misuse_raises_local_protocol_error(pki):
    srv = ServerConnection(ec_config(pki))
    with pytest.raises(LocalProtocolError):
        srv.proceed()  # before any ClientHello
    with pytest.raises(LocalProtocolError):
        srv.send_data(b"too early")
    with pytest.raises(LocalProtocolError):
        srv.key_update()
    cli = std_client(pki, "1.2")
    cli.step()
    srv.receive_data(cli.out())
    assert srv.next_event().server_name == HOST
    with pytest.raises(LocalProtocolError):
        srv.send_data(b"still too early")
    with pytest.raises(LocalProtocolError):
        srv.proceed(certificates=())  # no certificate to use: refused, nothing changes
    assert srv.next_event() is PAUSED
    srv.proceed()
    with pytest.raises(LocalProtocolError):
        srv.proceed()  # twice
    wrapped = PK(srv)
    pump(cli, wrapped)
    assert wrapped.handshake.version == "TLSv1.2"
    with pytest.raises(LocalProtocolError, match="TLS 1.3"):
        srv.key_update()
    # Misuse changed nothing: the connection still works.
    srv.send_data(b"fine")
    pump(cli, wrapped)
    assert bytes(cli.received) == b"fine"
    srv.close()
    with pytest.raises(LocalProtocolError):
        srv.send_data(b"after close")


def test_client_send_before_handshake(pki):
    cli = ClientConnection(pk_client_config(pki, "1.3"), HOST)
    with pytest.raises(LocalProtocolError):
        cli.send_data(b"x")
    with pytest.raises(LocalProtocolError):
        cli.key_update()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("sigalgs,expected", [([0x0403], "ec"), ([0x0804, 0x0401], "rsa")], ids=["ecdsa-only", "rsa-only"])
def test_certificate_choice_by_signature_algorithms(pki, version, sigalgs, expected):
    """The first configured chain the client can verify is used (crafted sigalgs, both orders of config)."""
    cli = std_client(pki, version)
    cli.step()
    hello = Hello.parse(cli.out())
    hello.set_ext(13, u16_list(sigalgs))
    for order in (("rsa", "ec"), ("ec", "rsa")):
        rec = Recorder()
        conn = ServerConnection(ServerConfig(certificates=tuple(pki.server_key(k) for k in order)), trace=rec)
        conn.receive_data(hello.record())
        assert conn.next_event().signature_algorithms == tuple(sigalgs)
        conn.proceed()
        conn.next_event()
        certificate = rec.messages("sent", 11)[0].raw
        leaf = pki.server_chain_der(expected)[0]
        assert leaf in certificate
        assert pki.server_chain_der("rsa" if expected == "ec" else "ec")[0] not in certificate


# ---------------------------------------------------------------------------
# TLS 1.2 records made by hand from the key log
# ---------------------------------------------------------------------------

def tls12_prf(secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    import hmac

    seed = label + seed
    out, a = b"", seed
    while len(out) < size:
        a = hmac.new(secret, a, "sha256").digest()
        out += hmac.new(secret, a + seed, "sha256").digest()
    return out[:size]


class Tls12ClientWriter:
    """Seals client records for TLS_ECDHE_*_WITH_AES_128_GCM_SHA256 from the master secret (RFC 5246, 5288)."""

    def __init__(self, master: bytes, client_random: bytes, server_random: bytes, seq: int) -> None:
        block = tls12_prf(master, b"key expansion", server_random + client_random, 2 * 16 + 2 * 4)
        self.aead = AESGCM(block[:16])
        self.salt = block[32:36]
        self.seq = seq

    def seal(self, ctype: int, plaintext: bytes) -> bytes:
        explicit = self.seq.to_bytes(8, "big")
        aad = self.seq.to_bytes(8, "big") + bytes([ctype, 3, 3]) + len(plaintext).to_bytes(2, "big")
        body = explicit + self.aead.encrypt(self.salt + explicit, plaintext, aad)
        self.seq += 1
        return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


@pytest.mark.parametrize("description", [AlertDescription.user_canceled, AlertDescription.no_renegotiation])
def test_tls12_hand_made_warning_alert_from_the_key_log(pki, description):
    """A warning alert sealed by hand with keys derived from the logged CLIENT_RANDOM
    master secret: proves that key log line right, and the connection stays open."""
    log = io.StringIO()
    rec = Recorder()

    def both(item):
        rec(item)
        KeyLogWriter(log)(item)

    srv = server(ec_config(pki, ciphers=("AES_128_GCM",)), trace=both)
    cli = std_client(pki, "1.2")
    pump(cli, srv)
    assert srv.handshake.cipher_suite == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    (label, random_hex, master_hex), = (line.split() for line in log.getvalue().splitlines())
    assert label == "CLIENT_RANDOM"
    client_random = bytes.fromhex(random_hex)
    assert client_random == srv.hellos[0].raw[6:38]
    server_random = server_hello_fields(rec.messages("sent", 2)[0].raw)["random"]
    # The client's Finished was record 0 under its write keys.
    writer = Tls12ClientWriter(bytes.fromhex(master_hex), client_random, server_random, seq=1)

    srv.feed(writer.seal(21, bytes([1, description])) + writer.seal(23, b"hand-made data"))
    srv.step()
    assert srv.of(AlertReceived) == [AlertReceived(AlertLevel.warning, description)]
    assert bytes(srv.received) == b"hand-made data"
    srv.send(b"still open")
    pump(cli, srv)
    assert bytes(cli.received) == b"still open"
    # A record sealed with a wrong sequence number is rejected: the keys are really checked.
    srv.feed(Tls12ClientWriter(bytes.fromhex(master_hex), client_random, server_random, seq=1).seal(23, b"replayed"))
    with pytest.raises(RemoteProtocolError) as info:
        srv.step()
    assert info.value.alert == AlertDescription.bad_record_mac


@pytest.fixture
def fresh_rsa(pki):
    """An RSA server key no other test has signed with (tlslite keeps per-key state)."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from purekong.engine import CertifiedKey
    from _pki import make_cert, new_key

    key = new_key("rsa", 2048)
    leaf = make_cert("fresh rsa", pki.server_inter, key=key, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    return CertifiedKey((leaf.cert, pki.server_inter.cert), key)


@pytest.mark.parametrize("kind", ["fresh-rsa", "ec"])
@pytest.mark.parametrize("version", VERSIONS)
def test_deterministic_mode_whole_transcript(pki, fresh_rsa, version, kind, monkeypatch):
    """With the same sources on both ends, the whole conversation is byte-identical,
    signatures and session tickets included (RFC 6979 ECDSA, PSS salt from the
    source). The clock is frozen: tickets carry their creation time.

    With a fresh RSA key this caught tlslite's RSA blinding factor, drawn from the
    source only on a key's first signature, shifting every later draw (the ticket)."""
    import time

    monkeypatch.setattr(time, "time", lambda: 1_750_000_000.0)
    certified = fresh_rsa if kind == "fresh-rsa" else pki.server_key("ec")
    scfg = ServerConfig(certificates=(certified,), ticket_keys=(b"k" * 32,))
    ccfg = pk_client_config(pki, version, certificate=pki.client_key, verify_server=False)

    def run(seed: bytes):
        srv = PK(ServerConnection(scfg, random=det_random(b"server" + seed)), request_client_certificate=True)
        cli = PK(ClientConnection(ccfg, HOST, random=det_random(b"client" + seed)))
        up, down = bytearray(), bytearray()
        pump(Tap(cli, up), Tap(srv, down))
        cli.send(b"ping")
        srv.send(b"pong")
        pump(Tap(cli, up), Tap(srv, down))
        assert bytes(srv.received) == b"ping" and bytes(cli.received) == b"pong"
        return bytes(up), bytes(down)

    first, second, other = run(b"A"), run(b"A"), run(b"B")
    assert first == second
    assert first[0] != other[0] and first[1] != other[1]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("age,resumed", [(100, True), (3600 + 100, False)])
def test_ticket_lifetime(pki, version, age, resumed, monkeypatch):
    import time

    cfg = ec_config(pki, ticket_lifetime=3600)
    ctx = std_client_context(pki, version)
    first, _, _ = std_pair(ctx, cfg)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + age)
    again, srv, _ = std_pair(ctx, cfg, session=first.obj.session)
    assert Hello.parse(srv.hellos[0].raw).ext(41 if version == "1.3" else 35)  # the ticket was offered
    assert srv.hellos[0].resumes_session is resumed
    assert srv.handshake.resumed is resumed
    assert again.obj.session_reused is resumed


@pytest.mark.parametrize("version", VERSIONS)
def test_ticket_key_rotation(pki, version):
    old, new = b"o" * 32, b"n" * 32
    ctx = std_client_context(pki, version)
    first, _, _ = std_pair(ctx, ec_config(pki, ticket_keys=(old,)))
    rotated, srv, _ = std_pair(ctx, ec_config(pki, ticket_keys=(new, old)), session=first.obj.session)
    assert srv.handshake.resumed is True
    retired, srv, _ = std_pair(ctx, ec_config(pki, ticket_keys=(new,)), session=first.obj.session)
    assert srv.handshake.resumed is False and srv.hellos[0].resumes_session is False
    # Tickets issued under rotation are encrypted with the first key only.
    fresh, _, _ = std_pair(ctx, ec_config(pki, ticket_keys=(new, old)))
    _, srv, _ = std_pair(ctx, ec_config(pki, ticket_keys=(new,)), session=fresh.obj.session)
    assert srv.handshake.resumed is True


@pytest.mark.parametrize("version,tickets", REUSE, ids=REUSE_IDS)
def test_alpn_chosen_again_on_resumption(pki, version, tickets):
    """On a resumed handshake only ALPN can still be chosen at the pause, and it is."""
    cfg = ec_config(pki, alpn_protocols=("h2", "http/1.1"))
    ctx = std_client_context(pki, version, tickets=tickets, alpn=["h2", "http/1.1"])
    first, srv1, _ = std_pair(ctx, cfg)
    assert srv1.handshake.alpn_protocol == "h2"
    again, srv2, _ = std_pair(ctx, cfg, session=first.obj.session, alpn_protocols=("http/1.1",))
    assert srv2.hellos[0].resumes_session and srv2.handshake.resumed
    assert srv2.handshake.alpn_protocol == "http/1.1" == again.obj.selected_alpn_protocol()
    srv3 = server(cfg, alpn_protocols=("spdy/3",))
    with pytest.raises(RemoteProtocolError) as info:
        pump(Std(ctx, server_side=False, server_hostname=HOST, session=first.obj.session), srv3)
    assert info.value.alert == AlertDescription.no_application_protocol


@pytest.mark.parametrize("stage", ["paused", "established-1.2", "established-1.3"])
def test_abort_sends_a_fatal_alert_and_kills_the_connection(pki, stage):
    cli = std_client(pki, "1.3" if stage.endswith("1.3") else "1.2")
    if stage == "paused":
        srv = server(ec_config(pki))
        srv.auto_proceed = False
        pump(cli, srv)
        assert srv.conn.next_event() is PAUSED
    else:
        srv = server(ec_config(pki))
        pump(cli, srv)
    srv.conn.abort(AlertDescription.access_denied)
    out = srv.out()
    recs = records(out)
    assert len(recs) == 1
    if stage == "paused":
        assert recs[0][1] == bytes([21, 3, 3, 0, 2, 2, AlertDescription.access_denied])
    else:
        assert recs[0][0] == (21 if stage.endswith("1.2") else 23) and len(recs[0][1]) > 7
    for call in (srv.conn.next_event, lambda: srv.conn.send_data(b"x"), lambda: srv.conn.receive_data(b"x")):
        with pytest.raises(LocalProtocolError):
            call()
    cli.feed(out)
    with pytest.raises(ssl.SSLError, match="(?i)access.denied"):
        cli.step()


def test_session_id_expires_like_tickets(pki, monkeypatch):
    import time

    cfg = ec_config(pki, ticket_lifetime=3600)
    ctx = std_client_context(pki, "1.2", tickets=False)
    first, _, _ = std_pair(ctx, cfg)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3600 + 100)
    _, srv, _ = std_pair(ctx, cfg, session=first.obj.session)
    assert srv.handshake.resumed is False


def test_client_hello_event_matches_the_wire(pki):
    cli = std_client(pki, None, alpn=["h2", "http/1.1"])
    cli.step()
    wire = cli.out()
    hello = Hello.parse(wire)
    conn = ServerConnection(ec_config(pki))
    conn.receive_data(wire)
    event = conn.next_event()
    assert event.raw == handshake_messages(wire)[0]
    assert event.server_name == HOST
    assert event.versions == ("TLSv1.3", "TLSv1.2")
    assert list(event.cipher_suites) == hello.suites
    u16 = lambda data: tuple(int.from_bytes(data[i : i + 2], "big") for i in range(2, len(data), 2))  # noqa: E731
    assert event.groups == u16(hello.ext(10))
    assert event.signature_algorithms == u16(hello.ext(13))
    assert event.alpn_protocols == ("h2", "http/1.1")
    assert event.resumes_session is False
    assert conn.next_event() is PAUSED
