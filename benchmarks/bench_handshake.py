#!/usr/bin/env python3
"""Server-side full TLS handshakes per second, per server implementation.

    python3 benchmarks/bench_handshake.py [--quick] [--runs N] [--handshakes N]

Columns (one subprocess each, run one after another, so no patch leaks
between them and they do not compete for cores):

* ``plain``   - tlslite-ng as installed: pure-Python primitives, tlslite's own
                key loading (``parsePEMKey(implementations=["python"])``).
* ``backend`` - tlslite-ng with ``purekong.engine._tlslite._backend`` installed
                and cryptography-backed keys (``load_private_key``).
* ``stdlib``  - Python's ``ssl`` (OpenSSL) server over ``MemoryBIO``.
* ``engine``  - purekong's ``ServerConnection`` (the engine on the backend).

Rows: TLS 1.3 and TLS 1.2 x ECDSA P-256 and RSA-2048 server certificates,
x25519, AES-256-GCM, no session tickets or session resumption. Every
column uses the same certificates (generated once, written to a temporary
directory). The client is of the same kind as the server (stdlib client for
the stdlib server, tlslite clients otherwise) but only server time is
counted: CPU time (``time.thread_time``) spent inside the server's steps.
Each figure is the median of ``--runs`` runs of ``--handshakes`` handshakes.

Run on demand; never part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [("TLS1.3", "ECDSA-P256"), ("TLS1.3", "RSA-2048"), ("TLS1.2", "ECDSA-P256"), ("TLS1.2", "RSA-2048")]
KEY_FILES = {"ECDSA-P256": "p256", "RSA-2048": "rsa2048"}
COLUMNS = [
    ("plain", "plain tlslite"),
    ("backend", "tlslite+backend"),
    ("stdlib", "stdlib ssl"),
    ("engine", "purekong engine"),
]
WARMUP = 3


# ---------------------------------------------------------------------------
# Certificates (generated once by the parent process)
# ---------------------------------------------------------------------------

def write_certificates(directory: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("bench CA")).issuer_name(name("bench CA"))
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    keys = {"p256": ec.generate_private_key(ec.SECP256R1()),
            "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    for label, key in keys.items():
        cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        with open(os.path.join(directory, label + ".crt"), "wb") as f:
            for c in (cert, ca):
                f.write(c.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(directory, label + ".key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))


def read(directory, kind, ext):
    with open(os.path.join(directory, KEY_FILES[kind] + ext), "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------
# tlslite (plain and backend)
# ---------------------------------------------------------------------------

def _load_memory_transport():
    """purekong's socket stand-in for tlslite (engine/_tlslite/_transport.py).

    Loaded from its file rather than imported: importing anything under
    ``purekong.engine`` installs purekong's tlslite patches, and the
    ``plain`` column measures tlslite as installed.
    """
    import importlib.util

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(repo, "purekong", "engine", "_tlslite", "_transport.py")
    spec = importlib.util.spec_from_file_location("_bench_memory_transport", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MemoryTransport


#: What TLSConnection reads from and writes to: ``incoming`` (a bytearray
#: to append to) and ``take()`` (what was written since).
MemoryTransport = _load_memory_transport()


def _run_gen(gen):
    """Step a tlslite generator until it needs input; True when finished."""
    try:
        while True:
            if next(gen) == 0:
                return False
    except StopIteration:
        return True


def tlslite_settings(version):
    from tlslite.handshakesettings import HandshakeSettings

    s = HandshakeSettings()
    s.minVersion = s.maxVersion = (3, 4) if version == "TLS1.3" else (3, 3)
    s.cipherNames = ["aes256gcm"]
    s.keyExchangeNames = ["ecdhe_ecdsa", "ecdhe_rsa"]
    s.eccCurves = ["x25519", "secp256r1"]
    s.keyShares = ["x25519"]
    s.ticketKeys = []     # no tickets (TLS 1.2 or 1.3)
    s.ticket_count = 0
    return s


def tlslite_handshaker(version, chain, key):
    from tlslite.tlsconnection import TLSConnection

    server_settings = tlslite_settings(version)
    client_settings = tlslite_settings(version)

    def one():
        server_sock, client_sock = MemoryTransport(), MemoryTransport()
        server, client = TLSConnection(server_sock), TLSConnection(client_sock)
        sgen = server.handshakeServerAsync(certChain=chain, privateKey=key, settings=server_settings)
        cgen = client.handshakeClientCert(settings=client_settings, serverName="localhost", async_=True)
        spent = 0.0
        client_done = server_done = False
        while not (client_done and server_done):
            client_done = client_done or _run_gen(cgen)
            server_sock.incoming += client_sock.take()
            t0 = time.thread_time()
            server_done = server_done or _run_gen(sgen)
            spent += time.thread_time() - t0
            client_sock.incoming += server_sock.take()
        return spent

    return one


def setup_plain(directory, version, kind):
    from tlslite.api import X509CertChain, parsePEMKey

    chain = X509CertChain()
    chain.parsePemList(read(directory, kind, ".crt").decode())
    key = parsePEMKey(read(directory, kind, ".key").decode(), private=True, implementations=["python"])
    return tlslite_handshaker(version, chain, key)


def setup_backend(directory, version, kind):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from purekong.engine._tlslite import _backend  # importing the engine installs its patches

    chain = _backend.load_certificate_chain(read(directory, kind, ".crt"))
    key = _backend.load_private_key(load_pem_private_key(read(directory, kind, ".key"), None))
    return tlslite_handshaker(version, chain, key)


# ---------------------------------------------------------------------------
# stdlib ssl
# ---------------------------------------------------------------------------

def setup_stdlib(directory, version, kind):
    import ssl

    tls_version = ssl.TLSVersion.TLSv1_3 if version == "TLS1.3" else ssl.TLSVersion.TLSv1_2
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(os.path.join(directory, KEY_FILES[kind] + ".crt"),
                               os.path.join(directory, KEY_FILES[kind] + ".key"))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE  # tlslite does not verify either
    for ctx in (server_ctx, client_ctx):
        ctx.minimum_version = ctx.maximum_version = tls_version
        ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")
    # Server-side group list only: a TLS 1.2 client must still list P-256
    # for the ECDSA certificate to be usable.
    server_ctx.set_ecdh_curve("X25519")
    server_ctx.options |= ssl.OP_NO_TICKET
    server_ctx.num_tickets = 0

    def step(obj):
        try:
            obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def one():
        s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
        spent = 0.0
        client_done = server_done = False
        while not (client_done and server_done):
            client_done = client_done or step(client)
            s_in.write(c_out.read())
            t0 = time.thread_time()
            server_done = server_done or step(server)
            spent += time.thread_time() - t0
            c_in.write(s_out.read())
        assert server.cipher()[0] in ("TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                      "ECDHE-RSA-AES256-GCM-SHA384"), server.cipher()
        return spent

    return one


# ---------------------------------------------------------------------------
# purekong engine
# ---------------------------------------------------------------------------

def setup_engine(directory, version, kind):
    # >>> purekong engine column: ServerConnection driven by a tlslite client
    # (backend installed); only ServerConnection's calls are timed.
    from purekong.engine import NEED_DATA, PAUSED, CertifiedKey, ClientHelloReceived, HandshakeComplete
    from purekong.engine import ServerConfig, ServerConnection
    from tlslite.tlsconnection import TLSConnection

    config = ServerConfig(
        certificates=(CertifiedKey.from_pem(read(directory, kind, ".crt"), read(directory, kind, ".key")),),
        versions=("TLSv1.3",) if version == "TLS1.3" else ("TLSv1.2",),
        ciphers=("AES_256_GCM",), groups=("x25519",),
        session_resumption=False, ticket_keys=(),
    )
    client_settings = tlslite_settings(version)

    def one():
        client_sock = MemoryTransport()
        client = TLSConnection(client_sock)
        cgen = client.handshakeClientCert(settings=client_settings, serverName="localhost", async_=True)
        t0 = time.thread_time()
        server = ServerConnection(config)
        spent = time.thread_time() - t0
        client_done = server_done = False
        while not (client_done and server_done):
            client_done = client_done or _run_gen(cgen)
            data = client_sock.take()
            t0 = time.thread_time()
            if data:
                server.receive_data(data)
            while True:
                event = server.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, ClientHelloReceived):
                    server.proceed()
                elif isinstance(event, HandshakeComplete):
                    server_done = True
                elif event is PAUSED:
                    raise RuntimeError("paused without a ClientHello event")
                if server_done:
                    break
            out = server.data_to_send()
            spent += time.thread_time() - t0
            client_sock.incoming += out
        return spent

    return one
    # <<< purekong engine column


SETUPS = {"plain": setup_plain, "backend": setup_backend, "stdlib": setup_stdlib, "engine": setup_engine}


# ---------------------------------------------------------------------------
# Worker (one column) and driver
# ---------------------------------------------------------------------------

def worker(column, directory, handshakes, runs):
    results = {}
    for version, kind in CASES:
        key = "%s %s" % (version, kind)
        try:
            one = SETUPS[column](directory, version, kind)
            for _ in range(WARMUP):
                one()
            rates = []
            for _ in range(runs):
                spent = sum(one() for _ in range(handshakes))
                rates.append(handshakes / spent)
            results[key] = {"rates": rates}
        except Exception as exc:  # report, don't abort the other rows
            results[key] = {"error": "%s: %s" % (type(exc).__name__, exc)}
    info = {}
    if column == "plain":
        from tlslite.utils import cryptomath

        info["gmpy2"] = cryptomath.GMPY2_LOADED
    if column == "stdlib":
        import ssl

        info["openssl"] = ssl.OPENSSL_VERSION
    print(json.dumps({"results": results, "info": info}))


def run_column(column, directory, handshakes, runs):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", column, "--certs", directory,
           "--handshakes", str(handshakes), "--runs", str(runs)]
    env = dict(os.environ)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"results": {}, "info": {"error": proc.stderr.strip().splitlines()[-1:]}}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer handshakes and runs")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--handshakes", type=int, default=None, help="handshakes per run")
    parser.add_argument("--columns", default=",".join(c for c, _ in COLUMNS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--certs", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    handshakes = args.handshakes or (40 if args.quick else 200)
    if args.worker:
        return worker(args.worker, args.certs, handshakes, runs)

    columns = [c for c in args.columns.split(",") if c]
    with tempfile.TemporaryDirectory() as directory:
        write_certificates(directory)
        data = collect(directory, columns, handshakes, runs)
    print_table(data, columns, runs)


def collect(directory, columns, handshakes, runs):
    """Run each column in its own subprocess; ``{column: {"results", "info"}}``.

    Used by main() and by benchmarks/run.py (which writes the certificates
    into ``directory`` first).
    """
    data = {}
    for column in columns:
        # plain tlslite is ~10x slower: fewer handshakes keep the run short
        n = max(3, handshakes // 4) if column == "plain" else handshakes
        print("running %-8s (%d runs x %d handshakes) ..." % (column, runs, n), file=sys.stderr, flush=True)
        data[column] = run_column(column, directory, n, runs)
    return data


def print_table(data, columns, runs):
    def median(column, case):
        entry = data.get(column, {}).get("results", {}).get(case, {})
        return statistics.median(entry["rates"]) if "rates" in entry else None

    labels = dict(COLUMNS)
    print()
    print("Server-side full handshakes per second (server CPU time only; median of %d runs)" % runs)
    for column in columns:
        info = data[column].get("info", {})
        if info:
            print("  %s: %s" % (labels[column], ", ".join("%s=%s" % kv for kv in info.items())))
    header = "%-20s" % "case" + "".join("%17s" % labels[c] for c in columns)
    compare = [c for c in columns if c not in ("stdlib", "plain")]
    if "stdlib" in columns:
        header += "".join("%14s" % ("%s/ssl" % c) for c in compare)
    if "plain" in columns:
        header += "".join("%14s" % ("%s/plain" % c) for c in compare)
    print(header)
    for version, kind in CASES:
        case = "%s %s" % (version, kind)
        row = "%-20s" % case
        for column in columns:
            value = median(column, case)
            if value is None:
                err = data.get(column, {}).get("results", {}).get(case, {}).get("error") or \
                    data.get(column, {}).get("info", {}).get("error")
                row += "%17s" % "error"
                if err:
                    print("  %s %s: %s" % (labels[column], case, err), file=sys.stderr)
            else:
                row += "%17.1f" % value
        for base in ("stdlib", "plain"):
            if base not in columns:
                continue
            for column in compare:
                a, b = median(column, case), median(base, case)
                row += "%14s" % ("%.2fx" % (a / b) if a and b else "-")
        print(row)


if __name__ == "__main__":
    main()
