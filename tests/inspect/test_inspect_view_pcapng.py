"""The pcapng writer, read back by the real tshark: framing, decryption, handshake."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import pytest

from purekong.inspect._pcapng import MSS, tcp_packets, write_pcapng
from purekong.inspect._scenarios import run_scenario

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (.ci/run installs it from Debian's tshark package)")


def _write(tmp_path, name: str, *, embed: bool = True):
    capture = run_scenario(name, 0)
    path = tmp_path / f"{name}.pcapng"
    with path.open("wb") as out:
        write_pcapng(out, [(c.direction, c.data) for c in capture.chunks], capture.keylog() if embed else "")
    return capture, path


def _tshark(path, *fields: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    args = [TSHARK, "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "separator=|", *extra]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def test_blocks_are_well_formed():
    capture = run_scenario("tls13", 0)
    out = io.BytesIO()
    write_pcapng(out, [(c.direction, c.data) for c in capture.chunks], capture.keylog())
    data = out.getvalue()
    offset, types = 0, []
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        assert length % 4 == 0 and struct.unpack_from("<I", data, offset + length - 4)[0] == length
        types.append(block_type)
        offset += length
    assert offset == len(data)
    assert types[:3] == [0x0A0D0D0A, 1, 0x0A] and set(types[3:]) == {6}
    secrets = data.index(struct.pack("<I", 0x544C534B))
    assert capture.keylog().encode() in data[secrets:secrets + 2000]


def test_segments_carry_every_byte_in_order_with_consistent_seq_ack():
    chunks = [("client_to_server", b"a" * (2 * MSS + 7)), ("server_to_client", b"b" * 10), ("client_to_server", b"c")]
    seqs = {"c": [], "s": []}
    payload = {"c": b"", "s": b""}
    for packet in tcp_packets(chunks):
        ihl = (packet[0] & 0x0F) * 4
        sport, dport, seq, ack, off, flags = struct.unpack_from("!HHIIBB", packet, ihl)
        side = "c" if sport == 50_000 else "s"
        seqs[side].append((seq, len(packet) - ihl - 20, flags))
        payload[side] += packet[ihl + 20:]
    assert payload == {"c": b"a" * (2 * MSS + 7) + b"c", "s": b"b" * 10}
    for side in seqs:  # each segment starts where the previous one ended (SYN and FIN count one)
        for (seq, size, flags), (next_seq, _, _) in zip(seqs[side], seqs[side][1:]):
            assert next_seq == (seq + size + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF


@needs_tshark
@pytest.mark.parametrize("name", ["tls13", "tls12", "mtls", "key-update", "tls13-psk"])
def test_tshark_decrypts_with_the_embedded_secrets(tmp_path, name):
    capture, path = _write(tmp_path, name)
    rows = _tshark(path, "tcp.analysis.flags", "tls.handshake.type", "http.request.method", "http.response.code", "tls.alert_message.desc")
    assert not any(row[0] for row in rows), "tshark saw TCP problems (retransmission, lost segment...)"
    types = {t for row in rows for t in row[1].split(",") if t}
    if name != "key-update":  # its scenario sends plain lines, not HTTP
        assert [r[2] for r in rows if r[2]] == ["GET"] and [r[3] for r in rows if r[3]] == ["200"]
    if name == "tls12":
        assert {"1", "2", "11", "12", "14", "16", "20", "4"} <= types
    elif name == "tls13-psk":
        assert {"1", "2", "8", "20"} <= types and "11" not in types
    else:  # only visible decrypted in TLS 1.3
        assert {"1", "2", "8", "11", "15", "20"} <= types
    if name == "mtls":
        assert {"13"} <= types
    if name == "key-update":
        assert sum(row[1].split(",").count("24") for row in rows) == 4


@needs_tshark
def test_without_secrets_tshark_sees_only_the_cleartext(tmp_path):
    _, path = _write(tmp_path, "tls13", embed=False)
    rows = _tshark(path, "tls.handshake.type", "http.request.method")
    types = {t for row in rows for t in row[0].split(",") if t}
    assert types == {"1", "2"} and not any(row[1] for row in rows)


@needs_tshark
def test_failed_handshake_shows_the_alert(tmp_path):
    _, path = _write(tmp_path, "bad-certificate-verify")
    rows = _tshark(path, "tls.alert_message.desc", "tls.handshake.type")
    assert "51" in [r[0] for r in rows]  # decrypt_error, read decrypted from the handshake epoch
    assert "15" in {t for row in rows for t in row[1].split(",")}
