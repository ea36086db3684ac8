"""``purekong tls-server`` over real sockets, with Python clients.

The server runs in-process on a background event loop (``BackgroundServer``)
or as the real command (``ServerProcess``); clients are the stdlib ``ssl``
module and raw sockets. Nothing is mocked. The PKI (the ``tls_server_pki``
fixture, tests/engine/conftest.py) and ``ServerProcess`` live in
_tls_server_helpers.py, shared with test_interop_openssl.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import re
import signal
import socket
import ssl
import threading
import time

import pytest

from _tls_server_helpers import REQUEST, TIMEOUT, Pki, ServerProcess
from purekong.cli import main as cli_main
from purekong.cli._tls_server import build_config
from purekong.engine import ServerConfig
from purekong.server import ClientTimeouts, TLSServer, TLSServerOptions


# -- the server in-process, on a background event loop -----------------------
class BackgroundServer:
    def __init__(self, options: TLSServerOptions) -> None:
        self.lines: list[str] = []
        options = dataclasses.replace(options, log=self.lines.append)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = TLSServer(options)
        _, self.port = self._call(self.server.start("127.0.0.1", 0))

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def wait_for_log(self, pattern: str, count: int = 1) -> list[str]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if re.search(pattern, line)]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{pattern!r} never logged; lines: {self.lines}")

    def close(self) -> None:
        try:
            self._call(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT)
            self.loop.close()


@pytest.fixture(scope="module")
def served(tls_server_pki):
    """RSA + ECDSA, optional client certificate with both CA names, a 1 s handshake timeout."""
    keylog = io.StringIO()
    config = ServerConfig(
        certificates=(tls_server_pki.certified("rsa"), tls_server_pki.certified("ecdsa")),
        request_client_certificate=True,
        client_ca_certificates=(tls_server_pki.root.cert, tls_server_pki.inter.cert),
    )
    server = BackgroundServer(TLSServerOptions(config=config, timeouts=ClientTimeouts(handshake=1.0), keylog=keylog))
    server.keylog = keylog
    yield server
    server.close()


@pytest.fixture(scope="module")
def echo_server(tls_server_pki):
    config = ServerConfig(certificates=(tls_server_pki.certified("ecdsa"),))
    server = BackgroundServer(TLSServerOptions(config=config, echo=True))
    yield server
    server.close()


def client_context(tls_server_pki: Pki, version: str | None = None, cert: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(tls_server_pki.path("root.pem"))  # the server's chain must verify
    if version == "TLSv1.2":
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "TLSv1.3":
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        context.load_cert_chain(tls_server_pki.path("client_chain.pem"), tls_server_pki.path("client.key"))
    return context


def tls_connect(port: int, context: ssl.SSLContext, session=None) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    # suppress_ragged_eofs=False: an EOF without the server's close_notify raises.
    return context.wrap_socket(sock, server_hostname="localhost", session=session, suppress_ragged_eofs=False)


def read_all(sock) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ssl.SSLZeroReturnError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def parse_reply(raw: bytes) -> tuple[str, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode()
    return status, json.loads(body)


@dataclasses.dataclass
class Seen:
    """What the client saw of a connection (an SSLSocket forgets it once closed)."""

    cipher: str
    version: str
    session: ssl.SSLSession | None
    session_reused: bool


def request(port: int, context: ssl.SSLContext, data: bytes = REQUEST, session=None) -> tuple[dict, Seen]:
    with tls_connect(port, context, session) as sock:
        sock.sendall(data)
        status, body = parse_reply(read_all(sock))
        assert status == "HTTP/1.0 200 OK"
        return body, Seen(sock.cipher()[0], sock.version(), sock.session, sock.session_reused)


# -- requests and the JSON reply ------------------------------------------------
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_json_reply_over_stdlib_ssl(tls_server_pki, served, version):
    body, seen = request(served.port, client_context(tls_server_pki, version))
    assert seen.version == version
    assert body == {
        "version": version,
        "cipher": seen.cipher,  # OpenSSL's own name for what it negotiated
        "sni": "localhost",
        "alpn": None,
        "resumed": False,
        "client_cert_chain": None,
    }
    line = served.wait_for_log(rf"version={re.escape(version)} .*outcome=\"ok\"")[0]
    assert f"cipher={seen.cipher} " in line and "sni=localhost" in line


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_chain_comes_back_as_canonical_pem(tls_server_pki, served, version):
    body, _ = request(served.port, client_context(tls_server_pki, version, cert=True))
    assert body["client_cert_chain"] == tls_server_pki.client.pem + tls_server_pki.client_inter.pem


@pytest.mark.parametrize(
    "head",
    [b"GET / HTTP/1.0\n\n", b"GET / HTTP/1.0\r\nHost: x\r\n\n", b"GET / HTTP/1.0\r\n\r\nleftover body"],
    ids=["lf-only", "mixed", "with-body"],
)
def test_any_blank_line_ends_the_head(tls_server_pki, served, head):
    body, _ = request(served.port, client_context(tls_server_pki), head)
    assert body["version"] == "TLSv1.3"


def test_no_reply_before_the_blank_line(tls_server_pki, served):
    with tls_connect(served.port, client_context(tls_server_pki)) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n")
        sock.settimeout(0.5)
        with pytest.raises((socket.timeout, TimeoutError)):
            sock.recv(1)
        sock.sendall(b"Host: localhost\r\n")
        with pytest.raises((socket.timeout, TimeoutError)):
            sock.recv(1)
        sock.settimeout(TIMEOUT)
        sock.sendall(b"\r\n")
        status, body = parse_reply(read_all(sock))
    assert status == "HTTP/1.0 200 OK" and body["sni"] == "localhost"


def test_oversized_request_head_is_closed_without_reply(tls_server_pki, served):
    with tls_connect(served.port, client_context(tls_server_pki)) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n")
        try:
            for _ in range(20):  # 80 KiB of header lines, never a blank line
                sock.sendall(b"X-Filler: " + b"a" * 4084 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        try:
            reply = read_all(sock)
        except (ConnectionResetError, ssl.SSLError):
            reply = b""
    assert b"HTTP/1.0" not in reply
    served.wait_for_log(r"outcome=\"request head larger than 65536 bytes\"")


def test_session_resumption_over_stdlib_ssl(tls_server_pki, served):
    for version in ("TLSv1.2", "TLSv1.3"):
        context = client_context(tls_server_pki, version)
        first, seen = request(served.port, context)
        assert first["resumed"] is False and seen.session is not None and not seen.session_reused
        second, seen2 = request(served.port, context, session=seen.session)
        assert seen2.session_reused, version
        # nginx and Kong report no client chain on a resumed handshake either.
        assert second["resumed"] is True and second["client_cert_chain"] is None


def test_keylog_has_the_secrets_of_each_version(tls_server_pki, served):
    before = len(served.keylog.getvalue().splitlines())
    request(served.port, client_context(tls_server_pki, "TLSv1.2"))
    request(served.port, client_context(tls_server_pki, "TLSv1.3"))
    labels = [line.split()[0] for line in served.keylog.getvalue().splitlines()[before:]]
    assert "CLIENT_RANDOM" in labels
    for label in ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"):
        assert label in labels


def test_many_concurrent_clients(tls_server_pki, served):
    results: list = []

    def one(index: int) -> None:
        try:
            version = ("TLSv1.2", "TLSv1.3")[index % 2]
            body, _ = request(served.port, client_context(tls_server_pki, version, cert=index % 3 == 0))
            results.append(body["version"] == version)
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert results == [True] * 12


# -- robustness -----------------------------------------------------------------
def test_silent_client_is_dropped_after_the_handshake_timeout_others_are_served(tls_server_pki, served):
    silent = socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT)
    half = socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT)
    try:
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello that never ends
        body, _ = request(served.port, client_context(tls_server_pki))  # served meanwhile
        assert body["version"] == "TLSv1.3"
        for sock in (silent, half):
            try:
                assert sock.recv(100) == b""  # the server closed it
            except ConnectionResetError:
                pass
    finally:
        silent.close()
        half.close()
    served.wait_for_log(r"outcome=\"handshake timeout \(1 s\)\"", count=2)


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"\x17\x03\x03\x00\x05hello",
        b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",
        # A handshake record whose message is not a ClientHello and announces
        # 6.6 MB: refused on its type, not waited for until the timeout.
        b"\x16\x03\x01\x00\x05hello",
    ],
    ids=["http", "appdata-first", "truncated-hello", "not-a-client-hello"],
)
def test_garbage_gets_a_fatal_alert_and_the_server_keeps_serving(tls_server_pki, served, garbage):
    with socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT) as sock:
        sock.sendall(garbage)
        reply = b""
        while len(reply) < 7:
            data = sock.recv(100)
            if not data:
                break
            reply += data
    assert len(reply) == 7, reply
    assert reply[0] == 21 and reply[1] == 3 and reply[3:5] == b"\x00\x02"  # an alert record
    assert reply[5] == 2  # level: fatal
    body, _ = request(served.port, client_context(tls_server_pki))
    assert body["version"] == "TLSv1.3"


def test_version_mismatch_is_refused_with_an_alert(tls_server_pki):
    config = ServerConfig(certificates=(tls_server_pki.certified("rsa"),), versions=("TLSv1.3",))
    server = BackgroundServer(TLSServerOptions(config=config))
    try:
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|protocol version"):
            request(server.port, client_context(tls_server_pki, "TLSv1.2"))
        line = server.wait_for_log(r"outcome=")[0]
        assert 'outcome="sent alert protocol_version' in line
        body, _ = request(server.port, client_context(tls_server_pki))
        assert body["version"] == "TLSv1.3"
    finally:
        server.close()


def test_one_log_line_per_connection(tls_server_pki):
    config = ServerConfig(certificates=(tls_server_pki.certified("ecdsa"),))
    server = BackgroundServer(TLSServerOptions(config=config))
    try:
        request(server.port, client_context(tls_server_pki, "TLSv1.2"))
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"\x15\x03\x03\x00\x02\x02\x28")  # an alert instead of a ClientHello
            read_all(sock)
        server.wait_for_log(r"^conn ", count=2)
    finally:
        server.close()  # waits until every connection is gone: no line can come later
    lines = [line for line in server.lines if line.startswith("conn ")]
    assert len(lines) == 2, lines
    assert re.fullmatch(
        r'conn peer=127\.0\.0\.1:\d+ version=TLSv1\.2 cipher=ECDHE-ECDSA-AES256-GCM-SHA384 sni=localhost alpn=- '
        r'resumed=no client_cert=no in=\d+ out=\d+ time=[\d.]+s outcome="ok"',
        lines[0],
    ), lines[0]
    assert "version=- cipher=-" in lines[1] and "outcome=\"" in lines[1] and "ok" not in lines[1].split("outcome=")[1]


# -- echo -------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_echo_round_trip(tls_server_pki, echo_server, version):
    payload = os.urandom(200_000)
    with tls_connect(echo_server.port, client_context(tls_server_pki, version)) as sock:
        received = bytearray()
        # Each chunk's echo is read before the next is sent: the echo must not
        # wait for the end. (One thread only: an SSLSocket must not be read
        # and written from two threads at once; OpenSSL does not allow it.)
        for start in range(0, len(payload), 16384):
            chunk = payload[start : start + 16384]
            sock.sendall(chunk)
            while len(received) < start + len(chunk):
                data = sock.recv(65536)
                assert data, "the echo server closed early"
                received += data
        assert bytes(received) == payload
        sock.sendall(b"bye\n")
        assert sock.recv(100) == b"bye\n"
        sock.unwrap()  # close_notify both ways
    echo_server.wait_for_log(rf"version={re.escape(version)} .*outcome=\"ok\"")


def test_echo_client_that_never_reads_is_throttled_not_buffered(tls_server_pki, echo_server):
    hog = tls_connect(echo_server.port, client_context(tls_server_pki))
    hog.settimeout(1.0)
    chunk = b"x" * 65536
    sent = 0
    try:
        while sent < 64 * 2**20:  # stop at 64 MiB: an unthrottled server would take it all
            try:
                hog.sendall(chunk)
            except (TimeoutError, socket.timeout):
                break  # the server stopped reading from us: flow control works
            sent += len(chunk)
        assert sent < 64 * 2**20, "the server kept reading from a client that never reads"

        def buffered() -> int:
            async def sizes():
                return [p.transport.get_write_buffer_size() for p in echo_server.server._connections]
            return max(echo_server._call(sizes()))

        assert buffered() < 2 * 2**20  # what it holds for the hog stays small
        # Meanwhile everyone else is served.
        with tls_connect(echo_server.port, client_context(tls_server_pki, "TLSv1.2")) as other:
            other.sendall(b"still here")
            assert other.recv(100) == b"still here"
    finally:
        hog.close()


def test_idle_established_connection_is_closed(tls_server_pki):
    config = ServerConfig(certificates=(tls_server_pki.certified("ecdsa"),))
    server = BackgroundServer(TLSServerOptions(config=config, timeouts=ClientTimeouts(idle=0.5)))
    try:
        with tls_connect(server.port, client_context(tls_server_pki)) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n")  # then nothing more
            assert sock.recv(100) == b""  # close_notify (a bare EOF would raise)
        server.wait_for_log(r'version=TLSv1\.3 .*outcome="idle timeout \(0\.5 s\)"')
    finally:
        server.close()


def test_echo_answers_close_notify_with_close_notify(tls_server_pki, echo_server):
    # A memory-BIO client sees exactly what arrives: unwrap() completes only
    # on the server's close_notify and raises on a bare EOF.
    raw = socket.create_connection(("127.0.0.1", echo_server.port), timeout=TIMEOUT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(tls_server_pki).wrap_bio(incoming, outgoing, server_hostname="localhost")

    def pump(operation):
        while True:
            try:
                result = operation()
                raw.sendall(outgoing.read())
                return result
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                if data:
                    incoming.write(data)
                else:
                    incoming.write_eof()

    with raw:
        pump(tls.do_handshake)
        tls.write(b"ping")
        assert pump(lambda: tls.read(4)) == b"ping"
        pump(tls.unwrap)
        assert raw.recv(100) == b""  # and then the server closes the socket
    echo_server.wait_for_log(r"version=TLSv1\.3 .*in=\d+ out=\d+ .*outcome=\"ok\"")


# -- the command line ---------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["--cert", "MISSING/c.pem", "--key", "{dir}/rsa.key"], "--cert MISSING/c.pem: cannot read"),
        (["--cert", "{dir}/rsa.pem", "--key", "MISSING/k.pem"], "--key MISSING/k.pem: cannot read"),
        (["--cert", "{dir}/rsa.key", "--key", "{dir}/rsa.key"], "--cert {dir}/rsa.key: no PEM certificate"),
        (["--cert", "{dir}/rsa.pem", "--key", "{dir}/rsa.pem"], "--key {dir}/rsa.pem: not a PEM private key"),
        (["--cert", "{dir}/rsa.pem", "--key", "{dir}/ecdsa.key"], "--cert {dir}/rsa.pem / --key {dir}/ecdsa.key: the private key does not match"),
        (["--cert", "{dir}/rsa.pem"], "--cert and --key must come in pairs"),
        ([], "at least one --cert/--key pair"),
        (["--cert", "{dir}/rsa.pem", "--key", "{dir}/rsa.key", "--request-cert", "--ca", "{dir}/nope.pem"], "--ca {dir}/nope.pem: cannot read"),
        (["--cert", "{dir}/rsa.pem", "--key", "{dir}/rsa.key", "--request-cert", "--ca", "{dir}/client.key"], "--ca {dir}/client.key: no PEM certificate"),
        (["--cert", "{dir}/rsa.pem", "--key", "{dir}/rsa.key", "--keylog", "{dir}/no/such/dir/keys.log"], "--keylog {dir}/no/such/dir/keys.log: cannot open"),
    ],
)
def test_bad_files_and_flags_exit_2_naming_the_flag_and_file(tls_server_pki, capsys, args, message):
    argv = ["tls-server", "--port", "0", *(a.format(dir=tls_server_pki.dir) for a in args)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message.format(dir=tls_server_pki.dir) in err
    assert "listening" not in err


def test_flags_build_the_config(tls_server_pki):
    from purekong.cli import build_parser

    def config(*extra: str) -> ServerConfig:
        args = build_parser().parse_args(
            ["tls-server", "--cert", tls_server_pki.path("rsa.pem"), "--key", tls_server_pki.path("rsa.key"),
             "--cert", tls_server_pki.path("ecdsa.pem"), "--key", tls_server_pki.path("ecdsa.key"), *extra]
        )
        return build_config(args)

    default = config()
    assert default.versions == ("TLSv1.3", "TLSv1.2") and default.session_resumption
    assert [c.chain[0] for c in default.certificates] == [tls_server_pki.rsa.cert, tls_server_pki.ecdsa.cert]
    assert [c.chain[1] for c in default.certificates] == [tls_server_pki.inter.cert, tls_server_pki.inter.cert]
    assert not default.request_client_certificate and default.client_ca_certificates == ()
    assert config("--tls12-only").versions == ("TLSv1.2",)
    assert config("--tls13-only").versions == ("TLSv1.3",)
    assert config("--no-session-reuse").session_resumption is False
    assert config("--alpn", "h2", "--alpn", "http/1.1").alpn_protocols == ("h2", "http/1.1")
    cas = config("--request-cert", "--ca", tls_server_pki.path("inter.pem"), "--ca", tls_server_pki.path("cas.pem"))
    assert cas.request_client_certificate
    assert list(cas.client_ca_certificates) == [tls_server_pki.inter.cert, tls_server_pki.root.cert, tls_server_pki.inter.cert]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tls-server", "--tls12-only", "--tls13-only"])


def test_address_in_use_exits_1(tls_server_pki, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli_main(["tls-server", "--port", str(port), "--cert", tls_server_pki.path("rsa.pem"), "--key", tls_server_pki.path("rsa.key")])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_process_serves_and_exits_0_on_signal(tls_server_pki, tmp_path, signum):
    server = ServerProcess(
        ["--cert", tls_server_pki.path("ecdsa.pem"), "--key", tls_server_pki.path("ecdsa.key"), "--handshake-timeout", "0.5"], tmp_path
    )
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as silent:
            body, _ = request(server.port, client_context(tls_server_pki, "TLSv1.2"))
            assert body["cipher"] == "ECDHE-ECDSA-AES256-GCM-SHA384"
            server.wait_for_log(r'conn peer=127\.0\.0\.1:\d+ version=TLSv1\.2 .*outcome="ok"')
            try:
                assert silent.recv(1) == b""  # --handshake-timeout 0.5 dropped it
            except ConnectionResetError:
                pass
        server.wait_for_log(r'outcome="handshake timeout \(0\.5 s\)"')
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)  # open during shutdown
        server.wait_for_log(r"listening on")
    finally:
        code = server.stop(signum)
    idle.close()
    assert code == 0, server.log()
    log = server.log()
    assert log.splitlines()[0] == f"listening on 127.0.0.1:{server.port}"
    assert "shutting down" in log and "Traceback" not in log
