"""A pcapng file that Wireshark and tshark open already decrypted.

The recorded bytes are framed as one TCP connection between two IPv4
addresses: a SYN handshake, the data in segments of at most ``MSS`` bytes
with sequence and acknowledgement numbers as a real stack would set them,
and a FIN exchange. The key log goes in a Decryption Secrets Block
(pcapng, draft-ietf-opsawg-pcapng §4.7, secrets type ``TLSK``) ahead of the
first packet, so no SSLKEYLOGFILE is needed.

Blocks written: Section Header, Interface Description (LINKTYPE_RAW: IPv4
packets with no link layer), Decryption Secrets, then one Enhanced Packet
per segment. Little-endian, microsecond timestamps.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO, Iterable

MSS = 1460
_LINKTYPE_RAW = 101
_SECRETS_TLS_KEYLOG = 0x544C534B  # "TLSK"
_SYN, _ACK, _PSH, _FIN = 0x02, 0x10, 0x08, 0x01
_DEFAULT_CLIENT = ("192.0.2.1", 50_000)
_DEFAULT_SERVER = ("192.0.2.2", 443)


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _section_header() -> bytes:
    # byte-order magic, version 1.0, section length unknown (-1), no options
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def _interface() -> bytes:
    return _block(0x00000001, struct.pack("<HHI", _LINKTYPE_RAW, 0, 0))


def _secrets(keylog: str) -> bytes:
    data = keylog.encode("ascii")
    return _block(0x0000000A, struct.pack("<II", _SECRETS_TLS_KEYLOG, len(data)) + data)


def _packet(timestamp_us: int, packet: bytes) -> bytes:
    head = struct.pack("<IIIII", 0, timestamp_us >> 32, timestamp_us & 0xFFFFFFFF, len(packet), len(packet))
    return _block(0x00000006, head + packet)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(address: str, fallback: str) -> bytes:
    try:
        return ipaddress.IPv4Address(address).packed
    except ValueError:  # a host name or an IPv6 address: keep the framing simple
        return ipaddress.IPv4Address(fallback).packed


class _TcpFramer:
    """Turns the bytes each way into IPv4/TCP packets with consistent seq/ack."""

    def __init__(self, client: tuple[str, int], server: tuple[str, int]) -> None:
        self.addresses = {
            "client_to_server": (_ipv4(client[0], _DEFAULT_CLIENT[0]), client[1], _ipv4(server[0], _DEFAULT_SERVER[0]), server[1]),
            "server_to_client": (_ipv4(server[0], _DEFAULT_SERVER[0]), server[1], _ipv4(client[0], _DEFAULT_CLIENT[0]), client[1]),
        }
        # Fixed initial sequence numbers: same input, same file.
        self.next_seq = {"client_to_server": 0x10000000, "server_to_client": 0x20000000}
        self.ip_id = 0

    def segment(self, direction: str, flags: int, payload: bytes = b"") -> bytes:
        other = "server_to_client" if direction == "client_to_server" else "client_to_server"
        src, sport, dst, dport = self.addresses[direction]
        seq = self.next_seq[direction]
        ack = self.next_seq[other] if flags & _ACK else 0
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp + payload)) + tcp[18:]
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), self.ip_id, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        self.next_seq[direction] = (seq + len(payload) + (1 if flags & (_SYN | _FIN) else 0)) & 0xFFFFFFFF
        return ip + tcp + payload


def tcp_packets(chunks: Iterable[tuple[str, bytes]], client: tuple[str, int] = _DEFAULT_CLIENT,
                server: tuple[str, int] = _DEFAULT_SERVER) -> Iterable[bytes]:
    """The IPv4 packets of one TCP connection carrying ``chunks`` ((direction, bytes), in order)."""
    tcp = _TcpFramer(client, server)
    yield tcp.segment("client_to_server", _SYN)
    yield tcp.segment("server_to_client", _SYN | _ACK)
    yield tcp.segment("client_to_server", _ACK)
    for direction, data in chunks:
        for start in range(0, len(data), MSS):
            yield tcp.segment(direction, _PSH | _ACK, data[start:start + MSS])
    yield tcp.segment("client_to_server", _FIN | _ACK)
    yield tcp.segment("server_to_client", _FIN | _ACK)
    yield tcp.segment("client_to_server", _ACK)


def write_pcapng(out: BinaryIO, chunks: Iterable[tuple[str, bytes]], keylog: str, *,
                 client: tuple[str, int] = _DEFAULT_CLIENT, server: tuple[str, int] = _DEFAULT_SERVER,
                 start_time: float = 1_767_225_600.0) -> None:
    """Write the connection as pcapng, ``keylog`` (NSS format) embedded.

    Timestamps start at ``start_time`` and step one millisecond per packet:
    the recording keeps no wall-clock times, only the order.
    """
    out.write(_section_header())
    out.write(_interface())
    if keylog:
        out.write(_secrets(keylog))
    time_us = int(start_time * 1_000_000)
    for packet in tcp_packets(chunks, client, server):
        out.write(_packet(time_us, packet))
        time_us += 1000
