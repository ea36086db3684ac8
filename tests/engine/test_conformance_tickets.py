"""TLS 1.3 NewSessionTicket fields (RFC 8446 §4.6.1; issue 10, defect 6):
ticket_age_add a random 32-bit value, ticket_nonce a per-connection counter."""

from __future__ import annotations



from purekong.engine import ServerConfig

from _conformance_helpers import s_client, serve_one, text
from _engine_helpers import Recorder, det_random, pk_client, pk_client_config, pump, server, std_client


def sent_tickets(trace: Recorder) -> list[bytes]:
    return [m.raw for m in trace.messages("sent", 4)]


def tickets(trace: Recorder) -> list[tuple[int, int, bytes]]:
    """(lifetime, age_add, nonce) of each NewSessionTicket the server sent."""
    return fields(sent_tickets(trace))


def fields(raws: list[bytes]) -> list[tuple[int, int, bytes]]:
    out = []
    for raw in raws:
        body = raw[4:]
        lifetime = int.from_bytes(body[:4], "big")
        age_add = int.from_bytes(body[4:8], "big")
        nonce = body[9 : 9 + body[8]]
        out.append((lifetime, age_add, bytes(nonce)))
    return out


def test_ticket_nonces_count_from_zero(pki):
    trace = Recorder()
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),), tls13_tickets=3), trace=trace)
    pump(std_client(pki, "1.3"), srv)
    assert [nonce for _, _, nonce in tickets(trace)] == [b"\x00\x00", b"\x00\x01", b"\x00\x02"]


def test_ticket_age_add_uses_all_32_bits(pki):
    """tlslite drew it from 1..4096; 20 values from a 32-bit range all under 2**16 is a 2**-320 event."""
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    values = []
    for _ in range(10):
        trace = Recorder()
        pump(std_client(pki, "1.3"), server(config, trace=trace))
        values += [age_add for _, age_add, _ in tickets(trace)]
    assert len(values) == 20
    assert max(values) >= 2**16
    assert len(set(values)) == 20


def test_fixed_inputs_reproduce_the_resumption_psk(pki):
    """RFC 8448's replay: the same randomness on both ends gives the same
    tickets, nonces 00 00 and 00 01 (so the same resumption PSKs, which are
    HKDF-Expand-Label(resumption_master_secret, "resumption", nonce))."""
    config = ServerConfig(certificates=(pki.server_key("ec"),), ticket_keys=(b"k" * 32,), ciphers=("AES_128_GCM",))
    runs = []
    for _ in range(2):
        trace = Recorder()
        srv = server(config, trace=trace, random=det_random(b"server"))
        cli = pk_client(pk_client_config(pki, "1.3"), random=det_random(b"client"))
        pump(cli, srv)
        runs.append(sent_tickets(trace))
    assert runs[0] == runs[1]
    assert [nonce for _, _, nonce in fields(runs[0])] == [b"\x00\x00", b"\x00\x01"]


def test_openssl_client_sees_counter_nonces_and_resumes(pki, tmp_path):
    session = str(tmp_path / "session.pem")
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    served = serve_one(config)
    output = text(s_client(served.port, "-tls1_3", "-trace", "-sess_out", session))
    served.join()
    assert "ticket_nonce (len=2): 0000" in output and "ticket_nonce (len=2): 0001" in output
    served = serve_one(config)
    output = text(s_client(served.port, "-tls1_3", "-sess_in", session))
    served.join()
    assert "Reused, TLSv1.3" in output and served.server.handshake.resumed
