"""The manual's alert table and the code agree (issue 10, defect 11).

Each row of docs/manual.md's "Alerts" table is driven here with crafted
bytes, or named in PINNED_ELSEWHERE with the test that drives it; every row
must cite a clause (or say which OpenSSL behaviour it follows)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from purekong.engine import PAUSED, AlertReceived, RemoteProtocolError, ServerConfig, ServerConnection

from _engine_helpers import Hello, pk_client, pk_client_config, pump, records, server, std_client, u16_list

MANUAL = Path(__file__).resolve().parents[2] / "docs" / "manual.md"
TESTS = Path(__file__).resolve().parent


def alert_table() -> dict[str, tuple[str, str]]:
    """situation -> (alert, clause), from the manual."""
    text = MANUAL.read_text()
    section = text[text.index("## Alerts") :]
    section = section[: section.index("\n## ", 5)]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("situation", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def base(pki, version: str) -> Hello:
    cli = std_client(pki, version)
    cli.step()
    return Hello.parse(cli.out())


def hello_alert(pki, build, config=None) -> str:
    srv = ServerConnection(config or ServerConfig(certificates=(pki.server_key("ec"),), alpn_protocols=("h2",)))
    srv.receive_data(build(pki))
    try:
        while True:
            event = srv.next_event()
            if event is PAUSED:
                srv.proceed()
                continue
            if not hasattr(event, "server_name"):
                break
    except RemoteProtocolError as exc:
        out = srv.data_to_send()
        assert out[-7:-1] == bytes([21, 3, 3, 0, 2, 2]) and out[-1] == int(exc.alert)  # the alert really went out
        return exc.alert.name
    raise AssertionError("no alert")


def tls11(pki):
    h = base(pki, "1.2")
    h.version = b"\x03\x02"
    return h.set_ext(43, None).record()


def with_suites(*suites, groups=None):
    def build(pki):
        h = base(pki, "1.2")
        h.suites = list(suites)
        if groups:
            h.set_ext(10, u16_list(groups))
        return h.record()
    return build


def without(version, ext):
    return lambda pki: base(pki, version).set_ext(ext, None).record()


def tls13_compression_only(pki):
    h = base(pki, "1.3")
    h.compression = b"\x01"
    return h.record()


def duplicate_extension(pki):
    h = base(pki, "1.3")
    h.exts.insert(0, [23, b""])
    h.exts.insert(0, [23, b""])
    return h.record()


def sni(name: bytes):
    def build(pki):
        entry = b"\x00" + len(name).to_bytes(2, "big") + name
        return base(pki, "1.3").set_ext(0, len(entry).to_bytes(2, "big") + entry).record()
    return build


def alpn_mismatch(pki):
    return base(pki, "1.3").set_ext(16, b"\x00\x09\x08http/1.1").record()


def not_a_client_hello(pki):
    return bytes([22, 3, 3, 0, 4, 2, 0, 0, 0])


def oversize_record(pki):
    return bytes([22, 3, 3, 0x48, 0x01]) + b"\x01" * 0x4801


def huge_hello(pki):
    return bytes([22, 3, 3, 0, 4, 1, 0x01, 0x90, 0x01])  # announces 102,401 bytes


CRAFTED = {
    "the client offers only TLS 1.1 or older": tls11,
    "no cipher suite in common (CBC-only, DHE-only, static RSA)": with_suites(0x002F, 0x009E, 0x0035),
    "no suite in common, and the client lists an FFDHE group and a DHE suite": with_suites(0x009E, 0x0033, groups=[0x0100, 0x0017]),
    "TLS 1.2 ClientHello without `signature_algorithms` (a full handshake signs)": without("1.2", 13),
    "TLS 1.3 ClientHello without `key_share`, `supported_groups` or `signature_algorithms`": without("1.3", 51),
    "a TLS 1.3 ClientHello without the null compression method": tls13_compression_only,
    "the same extension twice in a ClientHello": duplicate_extension,
    "a `server_name` with a NUL byte or over 255 bytes": sni(b"a\x00b"),
    "a `server_name` extension with no host name": lambda pki: base(pki, "1.3").set_ext(0, b"\x00\x00").record(),
    "both sides use ALPN and nothing matches": alpn_mismatch,
    "the first handshake message is not a ClientHello": not_a_client_hello,
    "a record over 2^14 bytes of plaintext": oversize_record,
    "a handshake message over `max_handshake_message_size`": huge_hello,
    # the later records are driven in test_engine_fuzz.py::test_unknown_record_type_in_plaintext_handshake
    "a record of unknown type (the first one too, unless it can be an SSLv2 ClientHello), or a heartbeat record":
        lambda pki: bytes([99, 3, 3, 0, 1, 0]),
}

PINNED_ELSEWHERE = {
    "no signature scheme in common with `ServerConfig.signature_schemes`":
        "test_conformance_signatures.py::test_no_scheme_in_common_with_the_configured_list_is_handshake_failure",
    "a TLS 1.3 ChangeCipherSpec other than `01`, a second one, one after the handshake, or a protected one":
        "test_conformance_ccs.py::test_second_ccs_before_finished_is_unexpected_message",
    "an unprotected alert after the TLS 1.3 handshake": "test_engine_fuzz.py::test_tls13_unprotected_alert_after_handshake_is_rejected",
    "the 5th consecutive TLS 1.2 warning alert": "test_conformance_warning_alerts.py::test_warning_alert_limit_is_openssls",
    "a compressed certificate that cannot be decompressed, or over that limit":
        "test_engine_fuzz.py::test_compressed_client_certificate_bounded_by_the_limit",
    "a client CertificateVerify with a scheme that was not offered (SHA-1 included)":
        "test_conformance_signatures.py::test_tls12_client_certificate_verify_with_sha1_is_refused",
    "a bad Finished or CertificateVerify signature": "test_engine_interop.py::test_client_certificate_verify_with_the_wrong_key_is_rejected",
    "a record that fails authentication": "test_engine_records.py::test_tampered_record_gets_bad_record_mac",
    "a malformed message": "test_engine_fuzz.py::test_mutated_client_hello",
    "the client rejects the server's chain (`verify_server`)": "test_client_chain.py::test_a_rejected_chain_gets_no_client_finished",
    "a ServerHello extension the client did not offer":
        "test_client_alerts.py::test_a_server_hello_extension_the_client_did_not_offer_is_unsupported_extension",
    "a ServerHello pre_shared_key selecting an identity the client did not offer":
        "test_client_alerts.py::test_a_psk_identity_the_client_did_not_offer_is_illegal_parameter",
    "a server CertificateVerify with a scheme the client did not offer, or one its key cannot make":
        "test_client_alerts.py::test_a_server_signature_with_a_scheme_the_client_did_not_offer_is_illegal_parameter",
    "a bug in tlslite-ng": "test_engine_fuzz.py::test_internal_error_alert_has_a_record_version",
    "a TLS 1.2 renegotiation attempt": "test_conformance_alerts.py::test_tls12_renegotiation_gets_a_no_renegotiation_warning",
}


def test_every_row_cites_a_clause_and_is_driven():
    table = alert_table()
    assert len(table) >= 20
    for situation, (alert, clause) in table.items():
        assert re.search(r"RFC \d+ (§|Appendix)", clause) or "OpenSSL" in clause, situation
        assert re.match(r"`[a-z_]+`", alert), situation
    assert set(table) == set(CRAFTED) | set(PINNED_ELSEWHERE)


@pytest.mark.parametrize("situation", sorted(PINNED_ELSEWHERE))
def test_rows_pinned_elsewhere_name_real_tests(situation):
    path, name = PINNED_ELSEWHERE[situation].split("::")
    assert f"def {name}(" in (TESTS / path).read_text()


@pytest.mark.parametrize("situation", sorted(CRAFTED))
def test_crafted_row_gets_the_tables_alert(pki, situation):
    alert, _ = alert_table()[situation]
    assert f"`{hello_alert(pki, CRAFTED[situation])}`" == alert


def test_heartbeat_record_after_the_handshake_is_unexpected_message(pki):
    """A heartbeat (type 24) record under the session keys: never answered, unexpected_message."""
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    out: list[bytes] = []
    assert cli.conn._driver.records.seal(b"\x01\x00\x10" + b"\x00" * 32, out, 24)
    srv.feed(b"".join(out))
    with pytest.raises(RemoteProtocolError) as info:
        srv.step()
    assert info.value.alert.name == "unexpected_message"


def test_tls12_renegotiation_gets_a_no_renegotiation_warning(pki):
    """A ClientHello under the session keys: a warning no_renegotiation, and the connection goes on."""
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    out: list[bytes] = []
    assert cli.conn._driver.records.seal(base(pki, "1.2").message(), out, 22)
    srv.feed(b"".join(out))
    srv.step()
    reply = srv.out()
    assert [ctype for ctype, _ in records(reply)] == [21]  # one (encrypted) alert record
    cli.feed(reply)
    cli.step()
    assert [(a.level.name, a.description.name) for a in cli.of(AlertReceived)] == [("warning", "no_renegotiation")]
    cli.send(b"still open")
    pump(cli, srv)
    assert bytes(srv.received) == b"still open"
