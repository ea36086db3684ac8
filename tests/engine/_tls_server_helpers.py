"""Helpers shared by the ``purekong tls-server`` tests (test_tls_server.py,
test_interop_openssl.py): the PKI on disk and the server as a real process.

The PKI is built once per session by the ``tls_server_pki`` fixture in
tests/engine/conftest.py.
"""

from __future__ import annotations

import dataclasses
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import Issued, make_ca, make_intermediate, make_leaf, pool_key
from purekong.engine import CertifiedKey

REPO = Path(__file__).resolve().parent.parent.parent
REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"
TIMEOUT = 20.0  # generous: only reached when something is broken


# -- test PKI on disk ---------------------------------------------------------
@dataclasses.dataclass
class Pki:
    dir: Path
    root: Issued
    inter: Issued
    rsa: Issued
    ecdsa: Issued
    client_inter: Issued
    client: Issued

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def certified(self, which: str) -> CertifiedKey:
        leaf = getattr(self, which)
        return CertifiedKey((leaf.cert, self.inter.cert), leaf.key)


def _server_leaf(issuer: Issued, organization: str, key) -> Issued:
    return make_leaf(
        issuer,
        f"O={organization},CN=localhost",
        key=key,
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        extensions=[(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)],
    )


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def write_pki(directory: Path) -> Pki:
    """A root, an intermediate, RSA-2048 and ECDSA P-256 ``localhost`` certs,
    and a client leaf under its own intermediate; PEM files in ``directory``.

    Files: root.pem, inter.pem, cas.pem (root then intermediate, one file),
    rsa.pem/rsa.key and ecdsa.pem/ecdsa.key (leaf + intermediate),
    client.pem (leaf only), client.key, client_inter.pem, client_chain.pem.
    """
    root = make_ca("O=purekong tests,CN=purekong test root CA", key=pool_key("ec", 40))
    inter = make_intermediate(root, "O=purekong tests,CN=purekong test intermediate CA", key=pool_key("ec", 41))
    rsa_leaf = _server_leaf(inter, "purekong rsa", pool_key("rsa", 40))
    ec_leaf = _server_leaf(inter, "purekong ecdsa", pool_key("ec", 42))
    client_inter = make_intermediate(root, "O=purekong tests,CN=purekong client intermediate CA", key=pool_key("ec", 43))
    client = make_leaf(client_inter, "O=purekong tests,CN=purekong test client", key=pool_key("ec", 44))
    files = {
        "root.pem": root.pem,
        "inter.pem": inter.pem,
        "cas.pem": root.pem + inter.pem,
        "rsa.pem": rsa_leaf.pem + inter.pem,
        "ecdsa.pem": ec_leaf.pem + inter.pem,
        "client.pem": client.pem,
        "client_inter.pem": client_inter.pem,
        "client_chain.pem": client.pem + client_inter.pem,
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    (directory / "rsa.key").write_bytes(_key_pem(rsa_leaf.key))
    (directory / "ecdsa.key").write_bytes(_key_pem(ec_leaf.key))
    (directory / "client.key").write_bytes(_key_pem(client.key))
    return Pki(directory, root, inter, rsa_leaf, ec_leaf, client_inter, client)


def dn_oneline(name: x509.Name) -> str:
    """A DN the way ``openssl s_client`` prints it (``O = x, CN = y``)."""
    parts = []
    for rdn in name.rdns:
        for attribute in rdn:
            parts.append(f"{attribute.rfc4514_attribute_name} = {attribute.value}")
    return ", ".join(parts)


# -- the server as a real process ---------------------------------------------
class ServerProcess:
    """``python -m purekong.cli tls-server --port 0 ...``; stderr goes to a file."""

    def __init__(self, args: list[str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"tls-server-{os.getpid()}-{time.monotonic_ns()}.log"
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "purekong.cli", "tls-server", "--host", "127.0.0.1", "--port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=REPO,
                env=env,
            )
        line = self._read_line(TIMEOUT)
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", line.strip())
        if not match:
            self.proc.kill()
            raise AssertionError(f"no 'listening on' line: {line!r}; log: {self.log()}")
        self.port = int(match.group(1))

    def _read_line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            raise AssertionError(f"the server printed nothing in {timeout} s; log: {self.log()}")
        return self.proc.stdout.readline().decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if re.search(pattern, text):
                return text
            time.sleep(0.02)
        raise AssertionError(f"{pattern!r} never appeared in the server log:\n{self.log()}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
