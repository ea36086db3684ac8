"""The embedded default: what ``purekong serve`` does with no configuration.

It makes a development PKI in the state directory on the first start (reused
afterwards, regenerated only when a file is missing or expired):

    ca.pem, ca-key.pem              the dev CA (EC P-256, 10 years)
    server.pem, server-key.pem      localhost, 127.0.0.1, ::1 (1 year)
    client.pem, client-key.pem      "purekong dev client" (1 year)

and serves, on https://127.0.0.1:8443, one route to an in-process ASGI page
that shows the TLS and client-certificate details of each request. A global
certificate-phase plugin asks every client for an optional certificate with
the dev CA's DN, so ``client_verify`` is computed against the dev CA (at
nginx's default ``ssl_verify_depth`` 1 unless ``--verify-depth`` says
otherwise).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path
from typing import Any, Awaitable, Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from purekong._devpki import make_dev_pki
from purekong.runner import NativePlugin

DEFAULT_LISTEN = "127.0.0.1:8443 ssl"
DEFAULT_VERIFY_DEPTH = 1  # nginx's ssl_verify_depth default

FILES = ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem")


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/purekong``, else ``~/.local/state/purekong``, else ``./.purekong``."""
    base = os.environ.get("XDG_STATE_HOME")
    if base:
        return Path(base) / "purekong"
    home = Path.home()
    if home.is_dir() and os.access(home, os.W_OK):
        return home / ".local" / "state" / "purekong"
    return Path.cwd() / ".purekong"


# -- the development PKI -----------------------------------------------------------


def _write_key(path: Path, key: Any) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # keys are private from the first byte
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _valid(path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)


def ensure_dev_pki(state_dir: Path) -> tuple[dict[str, Path], bool]:
    """The six files, created if needed; returns (paths, created)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: state_dir / name for name in FILES}
    if all(p.exists() for p in paths.values()) and all(_valid(paths[n]) for n in ("ca.pem", "server.pem", "client.pem")):
        return paths, False
    pki = make_dev_pki()
    ca, ca_key, server, server_key, client, client_key = (
        pki.ca, pki.ca_key, pki.server, pki.server_key, pki.client, pki.client_key
    )
    pem = serialization.Encoding.PEM
    paths["ca.pem"].write_bytes(ca.public_bytes(pem))
    _write_key(paths["ca-key.pem"], ca_key)
    paths["server.pem"].write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    _write_key(paths["server-key.pem"], server_key)
    paths["client.pem"].write_bytes(client.public_bytes(pem))
    _write_key(paths["client-key.pem"], client_key)
    return paths, True


#: The self-signed fallback certificate of config mode (``-c`` without
#: ``--ssl-cert``), as Kong's ``ssl/kong-default.crt``: no CA behind it.
FALLBACK_FILES = ("kong-default.crt", "kong-default.key")


def ensure_fallback_cert(state_dir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (1 year), made once, reused while valid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = (state_dir / name for name in FALLBACK_FILES)
    if key_path.exists() and _valid(cert_path):
        return cert_path, key_path
    import ipaddress

    from cryptography.hazmat.primitives.asymmetric import ec

    from purekong._devpki import issue

    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = issue("localhost", key, None, None, days=365, sans=sans)
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def curl_commands(paths: dict[str, Path], port: int) -> list[str]:
    base = f"https://localhost:{port}/"
    return [
        f"curl --cacert {paths['ca.pem']} {base}",
        f"curl --cacert {paths['ca.pem']} --cert {paths['client.pem']} --key {paths['client-key.pem']} {base}",
        f"curl --cacert {paths['ca.pem']} --cert {paths['client.pem']} --key {paths['client-key.pem']} -H 'Accept: application/json' {base}",
    ]


# -- the certificate-phase plugin and the page ---------------------------------------


class RequestDevClientCert(NativePlugin):
    """Ask every client for an optional certificate, naming the dev CA."""

    name = "purekong-dev-client-cert"
    priority = 1_000_000
    ca_pem: str = ""

    def certificate(self, kong: Any) -> None:
        kong.client.tls.request_client_certificate(self.config["ca_pem"])


def dev_client_cert_schema() -> tuple[dict[str, Any], ...]:
    return ({"ca_pem": {"type": "string", "required": True}},)


RequestDevClientCert.schema = dev_client_cert_schema()


def describe(scope: dict) -> dict:
    """What the page shows, from the ASGI TLS extension and purekong's own."""
    tls = scope.get("extensions", {}).get("tls")
    kong = scope.get("extensions", {}).get("purekong.tls") or {}
    info = {"scheme": scope["scheme"], "client": list(scope.get("client") or ()), "tls": None}
    if tls is None:
        return info
    chain = tls["client_cert_chain"]
    leaf = None
    if chain:
        cert = x509.load_pem_x509_certificate(chain[0].encode())
        leaf = {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "X"),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        }
    info["tls"] = {
        "version": kong.get("version"),
        "cipher": kong.get("cipher"),
        "sni": kong.get("sni"),
        "alpn": kong.get("alpn"),
        "resumed": kong.get("resumed"),
        "client_verify": kong.get("client_verify"),
        "client_certificate": leaf,
        "client_cert_chain": "".join(chain) or None,
        "asgi_tls_extension": {k: v for k, v in tls.items() if k != "client_cert_chain"},
    }
    return info


def _html(info: dict) -> bytes:
    rows = []
    tls = info["tls"]
    if tls is None:
        rows.append(("connection", "plain HTTP"))
    else:
        for key in ("version", "cipher", "sni", "alpn", "resumed", "client_verify"):
            rows.append((key, tls[key]))
        leaf = tls["client_certificate"]
        if leaf:
            for key, value in leaf.items():
                rows.append((f"client {key}", value))
        else:
            rows.append(("client certificate", "none sent"))
    table = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(str(v))}</code></td></tr>" for k, v in rows)
    chain = ""
    if tls and tls["client_cert_chain"]:
        chain = f"<h2>Client chain (as sent)</h2><pre>{html.escape(tls['client_cert_chain'])}</pre>"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>purekong</title>
<style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}pre{{font-size:small}}</style></head>
<body><h1>purekong: this request's TLS</h1><table>{table}</table>{chain}
<p>JSON: send <code>Accept: application/json</code>.</p></body></html>
"""
    return page.encode()


async def info_app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """The default page (an ASGI app; also usable as a service's ``asgi``)."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    info = describe(scope)
    accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
    if "application/json" in accept or "text/html" not in accept:
        body, ctype = (json.dumps(info, indent=2) + "\n").encode(), b"application/json"
    else:
        body, ctype = _html(info), b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
