"""Kong EE's TLS plugins end to end through ``purekong serve``.

mtls-auth (send_ca_dn, consumers by credential), tls-handshake-modifier and
tls-metadata-headers, with httpx, curl and ``openssl s_client`` as clients and
the test upstream receiving what the gateway forwards.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from _serve_helpers import HAVE_CURL, HAVE_OPENSSL, TIMEOUT, certificates_yml, client, indent, start_gateway, write_plugins

CA_ID = str(uuid.UUID(int=0xCA))

CONSUMER_TAG = """
priority = 10

class Plugin:
    def __init__(self, config):
        pass

    def access(self, kong):
        kong.service.request.set_header("X-Consumer-Plugin", "ran")
"""


@pytest.fixture(scope="module")
def mtls(tmp_path_factory, upstream, files):
    tmp = tmp_path_factory.mktemp("serve-mtls")
    plugins = write_plugins(tmp, {"consumer-tag.py": CONSUMER_TAG})
    config = tmp / "kong.yml"
    config.write_text(f"""_format_version: "3.0"
ca_certificates:
- id: {CA_ID}
  cert: |
{indent(files.ca.pem, 4)}
consumers:
- username: alice
  custom_id: alice-1
  mtls_auth_credentials:
  - subject_name: good client
    ca_certificate: {CA_ID}
  plugins:
  - name: consumer-tag
services:
- name: echo
  url: http://127.0.0.1:{upstream}/up
  routes:
  - name: secure
    paths: [/secure]
    plugins:
    - name: mtls-auth
      config:
        ca_certificates: [{CA_ID}]
        send_ca_dn: true
  - name: meta
    paths: [/meta]
    plugins:
    - name: tls-handshake-modifier
    - name: tls-metadata-headers
      config:
        inject_client_cert_details: true
{certificates_yml(files)}""")
    g = start_gateway(tmp, ["-c", str(config), "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0",
                            "--access-log", str(tmp / "access.log"), "--state-dir", str(tmp / "state"),
                            "--plugins-dir", str(plugins)])
    yield g
    assert g.stop() == 0, g.stderr()


def _log_entry(gw, uri: str) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for entry in gw.access():
            if entry["request"]["uri"] == uri:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {uri}")


def _upstream_headers(response) -> dict:
    return {k.lower(): v for k, v in response.json()["headers"]}


def test_mtls_auth_trusted_certificate_is_a_consumer(mtls, files):
    with client(files, cert="good") as c:
        r = c.get(mtls.url("/secure/trusted"))
    assert r.status_code == 200, r.text
    headers = _upstream_headers(r)
    assert headers["x-consumer-username"] == "alice" and headers["x-consumer-custom-id"] == "alice-1"
    # alice's own plugin runs once mtls-auth (priority 1600) identified her.
    assert headers["x-consumer-plugin"] == "ran"
    entry = _log_entry(mtls, "/secure/trusted")
    assert entry["request"]["tls"]["client_verify"] == "SUCCESS"
    assert entry["consumer"]["username"] == "alice"


def test_mtls_auth_untrusted_certificate_is_401_with_the_reason_logged(mtls, files):
    with client(files, cert="rogue") as c:
        r = c.get(mtls.url("/secure/rogue"))
    assert r.status_code == 401 and r.json() == {"message": "TLS certificate failed verification"}
    verdict = _log_entry(mtls, "/secure/rogue")["request"]["tls"]["client_verify"]
    assert verdict.startswith("FAILED:"), verdict


def test_mtls_auth_without_certificate_is_401(mtls, files):
    with client(files) as c:
        r = c.get(mtls.url("/secure/none"))
    assert r.status_code == 401 and r.json() == {"message": "No required TLS certificate was sent"}
    assert _log_entry(mtls, "/secure/none")["request"]["tls"]["client_verify"] == "NONE"
    with httpx.Client(timeout=TIMEOUT) as c:
        plain = c.get(mtls.url("/secure/plain", tls=False))
    assert plain.status_code == 401 and plain.json() == {"message": "No required TLS certificate was sent"}


@pytest.mark.skipif(not HAVE_OPENSSL, reason="openssl not installed")
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_send_ca_dn_is_visible_in_s_client(mtls, files, version):
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{mtls.https}", "-servername", "localhost", version,
         "-CAfile", files.path("ca.pem")],
        input=b"", capture_output=True, timeout=TIMEOUT,
    )
    text = out.stdout.decode(errors="replace")
    assert "Acceptable client certificate CA names" in text
    names = text.split("Acceptable client certificate CA names", 1)[1]
    assert "CN=Serve Test CA" in names.splitlines()[1] or "CN = Serve Test CA" in names.splitlines()[1]


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
@pytest.mark.parametrize("version", ["--tlsv1.2 --tls-max 1.2", "--tlsv1.3"])
def test_metadata_headers_reach_the_upstream(mtls, files, version):
    out = subprocess.run(
        ["curl", "-sS", *version.split(), "--cacert", files.path("ca.pem"), "--cert", files.path("good.pem"),
         "--key", files.path("good-key.pem"), mtls.url("/meta/x")],
        capture_output=True, timeout=TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    headers = {k.lower(): v for k, v in json.loads(out.stdout)["headers"]}
    assert headers["x-client-cert-subject-dn"] == "CN=good client,O=purekong tests"
    assert headers["x-client-cert-issuer-dn"] == "CN=Serve Test CA,O=purekong tests"
    assert headers["x-client-cert"].startswith("-----BEGIN%20CERTIFICATE-----")
    assert headers["x-client-cert-serial"] and len(headers["x-client-cert-fingerprint"]) == 40
    assert "x-client-cert-chain" in headers
    assert "x-consumer-plugin" not in headers  # no consumer on this route
