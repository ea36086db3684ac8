"""The README's engine example runs as written, against an OpenSSL client."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from _pki import make_ca, make_leaf

README = Path(__file__).parent.parent / "README.md"


def test_engine_example(tmp_path, monkeypatch, capsys):
    code = re.search(r"## The engine in twenty lines\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    root = make_ca("CN=readme root")
    leaf = make_leaf(root, "localhost")
    (tmp_path / "cert.pem").write_text(leaf.pem)
    (tmp_path / "key.pem").write_bytes(
        leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "ca.pem").write_text(root.pem)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code, namespace)  # defines on_bytes(), as the README shows

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")  # a client certificate, as requested
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    for _ in range(5):
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            incoming.write(namespace["on_bytes"](outgoing.read()))
    client.write(b"echo me")
    incoming.write(namespace["on_bytes"](outgoing.read()))
    assert client.read() == b"echo me"
    printed = capsys.readouterr().out
    assert printed.startswith("TLSv1.3 ") and leaf.pem in printed  # the client's chain, as sent


def _commands() -> tuple[str, str]:
    """The README's two one-line commands: run the gateway, run the tests."""
    text = README.read_text()
    serve = re.search(r"\n```\n(.*purekong serve)\n```\n", text).group(1)
    test = re.search(r"Run the tests:\n\n```\n(.*)\n```\n", text).group(1)
    return serve, test


def test_commands_make_and_use_a_virtual_environment():
    # A system Python that refuses `pip install` (externally-managed-environment)
    # is never asked to install anything.
    for command in _commands():
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && python3 -m pip install ")


def test_ci_runs_the_readme_test_command_as_written():
    ci = (README.parent / ".ci" / "run").read_text()
    _, test = _commands()
    assert any(line.startswith(test) for line in ci.splitlines()), test
