"""What a view needs from one connection, captured as it happens.

A ``Capture`` is the inspector's raw material before any dissection: the
bytes each way in the order they crossed the wire, every handshake message
and secret the engine traced (with the side that traced it), and the notes
the scenario (or the live client) made about decisions: the ClientHello's
offers, what the application chose at ``proceed()``, the outcome, the
alert. Scenarios, ``--connect`` and the offline pcap reader all produce one;
``_adapter.recording_from_capture`` turns it into the shared ``Recording``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["client_to_server", "server_to_client"]  # the Recording's spelling
Side = Literal["client", "server"]


@dataclass(frozen=True)
class Chunk:
    """Bytes one endpoint wrote, as the peer received them."""

    direction: Direction
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class CapturedDecision:
    """Something an endpoint decided, with why, as far as the caller knows it.

    ``topic`` is a short key (``"certificate_phase"``, ``"version"``,
    ``"alert"``...), ``who`` the side that decided, ``what`` the choice and
    ``why`` the reason in words (with the RFC clause where there is one).
    ``details`` holds structured values (lists offered, DN names...).
    """

    who: Side
    topic: str
    what: str
    why: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Capture:
    """One connection's bytes, traces and decisions, in order."""

    title: str
    description: str = ""
    client_address: tuple[str, int] = ("192.0.2.1", 50_000)
    server_address: tuple[str, int] = ("192.0.2.2", 443)
    chunks: list[Chunk] = field(default_factory=list)
    #: What each side's ``trace=`` callback received, in order (the engine's
    #: HandshakeMessageTrace and SecretTrace objects, untouched).
    traces: dict[Side, list[Any]] = field(default_factory=lambda: {"client": [], "server": []})
    decisions: list[CapturedDecision] = field(default_factory=list)
    #: Application data as each side's engine handed it over (not decrypted
    #: by the inspector: the engine's own view, for cross-checking).
    plaintext: list[tuple[Direction, bytes]] = field(default_factory=list)
    #: What the server application chose at ``proceed()`` (Kong's
    #: certificate phase): the keyword arguments as given, plus
    #: ``server_name`` and the ``certificate_chain`` used (DER).
    certificate_phase: dict[str, Any] | None = None
    #: Key-schedule inputs from elsewhere, as (name, value): e.g. ("psk", ...)
    #: for a resumption, the first connection's ticket PSK.
    extra_secrets: list[tuple[str, bytes]] = field(default_factory=list)
    #: Key-log text from elsewhere (an SSLKEYLOGFILE given with a capture).
    extra_keylog: str = ""
    #: Problems found while capturing (a peer that died, a missing key-log line).
    findings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def wire(self, direction: Direction, data: bytes) -> None:
        if data:
            self.chunks.append(Chunk(direction, bytes(data)))

    def stream(self, direction: Direction) -> bytes:
        """Every byte sent one way, concatenated."""
        return b"".join(c.data for c in self.chunks if c.direction == direction)

    def keylog(self) -> str:
        """The NSS key log (one line per secret, no duplicates, in order).

        Only the NSS labels (upper case): the engine also traces values no
        key-log file carries, such as ``ecdhe_shared_secret``.
        """
        seen: set[str] = set()
        lines = []
        for secret in self.traces["client"] + self.traces["server"]:
            if not hasattr(secret, "keylog_line") or not secret.label.isupper():
                continue
            line = secret.keylog_line()
            if line not in seen:
                seen.add(line)
                lines.append(line)
        lines += [line for line in self.extra_keylog.splitlines() if line.strip() and line not in seen]
        return "".join(line + "\n" for line in lines)
