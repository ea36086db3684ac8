"""``--pcap``: someone else's TLS connection from a capture file, offline.

Captures are read with dpkt (pcap and pcapng, Ethernet, raw IP, Linux
cooked and loopback link types): a small, pure-Python, maintained packet
library with no native dependency, which is all this needs (scapy would
also do, at ten times the size and start-up time). What is ours is only
the TCP reassembly of one connection: each direction's payload put in
sequence order, retransmitted bytes dropped, and a gap (a segment the
capture missed) reported as a finding, never papered over.

The connection read is the first one whose first client payload looks
like a TLS record; others are counted in a finding.

Limits: the capture file may be at most ``MAX_CAPTURE_BYTES``; a larger one
is refused with a message saying so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

from ._capture import Capture

MAX_CAPTURE_BYTES = 64 * 1024 * 1024


class CaptureError(Exception):
    """The capture cannot be read at all (the message is for the user)."""


@dataclass
class _Direction:
    start: int | None = None  # the sequence number of the first payload byte
    delivered: int = 0  # payload bytes handed on, in order
    pending: dict[int, bytes] = field(default_factory=dict)  # out-of-order segments by offset
    fin: bool = False


def read_capture(path: str, keylog: str = "") -> Capture:
    """One TLS connection from ``path`` (pcap or pcapng) as a Capture; ``keylog`` is NSS text."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise CaptureError(f"--pcap {path}: {exc.strerror}") from None
    if size > MAX_CAPTURE_BYTES:
        raise CaptureError(f"--pcap {path}: {size:,} bytes is more than the {MAX_CAPTURE_BYTES:,}-byte limit; "
                           "cut it first (editcap -r FILE OUT 1-1000)")
    capture = Capture(os.path.basename(path), meta={"source": "pcap", "file": path})
    capture.extra_keylog = keylog
    with open(path, "rb") as stream:
        _read(stream, capture, path)
    return capture


def _packets(stream: BinaryIO, capture: Capture, path: str) -> Iterator[tuple[float, Any]]:
    import dpkt

    try:
        reader = dpkt.pcap.UniversalReader(stream)
    except Exception as exc:  # dpkt raises ValueError and struct errors alike
        raise CaptureError(f"--pcap {path}: not a pcap or pcapng file ({exc})") from None
    link = reader.datalink()
    decode = {
        dpkt.pcap.DLT_EN10MB: dpkt.ethernet.Ethernet,
        dpkt.pcap.DLT_LINUX_SLL: dpkt.sll.SLL,
        dpkt.pcap.DLT_NULL: dpkt.loopback.Loopback,
        dpkt.pcap.DLT_LOOP: dpkt.loopback.Loopback,
    }.get(link)
    count = 0
    try:
        for timestamp, buf in reader:
            count += 1
            try:
                if decode is not None:
                    frame = decode(buf)
                    ip = frame.data
                else:  # raw IP (101, and 228/229 on some systems)
                    ip = dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
            except Exception:
                capture.findings.append(f"packet {count}: not a frame dpkt can decode; skipped")
                continue
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.tcp.TCP):
                yield timestamp, ip
    except Exception as exc:
        capture.findings.append(f"the capture is cut or corrupt after packet {count} ({type(exc).__name__}); "
                                "showing what came before")


def _address(ip: Any, port: int) -> tuple[str, int]:
    import socket

    family = socket.AF_INET6 if len(ip) == 16 else socket.AF_INET
    return socket.inet_ntop(family, ip), port


def _read(stream: BinaryIO, capture: Capture, path: str) -> None:
    connection: tuple | None = None
    others: set[tuple] = set()
    flows: dict[str, _Direction] = {"client_to_server": _Direction(), "server_to_client": _Direction()}
    for _, ip in _packets(stream, capture, path):
        tcp = ip.data
        key = (ip.src, tcp.sport, ip.dst, tcp.dport)
        if connection is None:
            payload = bytes(tcp.data)
            if not (len(payload) >= 3 and payload[0] == 22 and payload[1] == 3):
                continue  # wait for a ClientHello: its sender is the client
            connection = key
            capture.client_address = _address(ip.src, tcp.sport)
            capture.server_address = _address(ip.dst, tcp.dport)
        reverse = (key[2], key[3], key[0], key[1])
        if key == connection:
            direction = "client_to_server"
        elif reverse == connection:
            direction = "server_to_client"
        else:
            others.add(frozenset((key, reverse)))  # type: ignore[arg-type]
            continue
        _segment(capture, flows[direction], direction, tcp)
    if connection is None:
        raise CaptureError(f"--pcap {path}: no TCP connection carrying TLS found")
    for direction, flow in flows.items():
        if flow.pending:
            first = min(flow.pending)
            missing = first - flow.delivered
            capture.findings.append(
                f"{direction.replace('_', ' ')}: {missing} byte(s) missing at stream offset {flow.delivered} "
                f"(a segment the capture did not see); {sum(map(len, flow.pending.values()))} byte(s) after the gap are not shown")
    if others:
        capture.findings.append(f"{len(others)} other TCP connection(s) in the capture were not read")


def _segment(capture: Capture, flow: _Direction, direction: str, tcp: Any) -> None:
    import dpkt

    payload = bytes(tcp.data)
    seq = tcp.seq
    if tcp.flags & dpkt.tcp.TH_SYN:
        flow.start = (seq + 1) & 0xFFFFFFFF
        return
    if not payload:
        return
    if flow.start is None:  # the capture began after the SYN
        flow.start = seq
    offset = (seq - flow.start) & 0xFFFFFFFF
    if offset >= 0x80000000:  # before the start: an old retransmission
        return
    end = offset + len(payload)
    if end <= flow.delivered:
        return  # a retransmission of what we have
    if offset > flow.delivered:
        flow.pending[offset] = payload  # out of order: wait for the gap to fill
        return
    capture.wire(direction, payload[flow.delivered - offset:])  # type: ignore[arg-type]
    flow.delivered = end
    while flow.pending:
        nearest = min(flow.pending)
        if nearest > flow.delivered:
            break
        data = flow.pending.pop(nearest)
        if nearest + len(data) > flow.delivered:
            capture.wire(direction, data[flow.delivered - nearest:])  # type: ignore[arg-type]
            flow.delivered = nearest + len(data)
