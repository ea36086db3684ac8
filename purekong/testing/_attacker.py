"""AttackerPeer: a man in the middle between a purekong client and server that holds both sides' keys.

Both endpoints are traced; the attacker takes every secret they log and every
handshake message they hash. It reads each side's records (decrypting with
the sender's keys), cuts them into handshake messages, applies its
:class:`Edit` list (skip, duplicate, reorder, replace, flip a byte, inject),
and hands each message to the other side on its own, encrypted under the
epoch the *receiver* is in, with the receiver's keys. With
``fix_finished=True`` it also rewrites every Finished to what the receiver
expects, so an attack reaches the check it targets instead of failing at
the transcript MAC (a real attacker has no keys; the point is to show that
the state machine, not only the MAC, refuses it). ``padding`` pads every
TLS 1.3 record it protects (RFC 8446 §5.4)::

    from purekong.testing import AttackerPeer, Edit

    peer = AttackerPeer(edits=[Edit("skip", "server", "CertificateVerify")])
    peer.run()
    assert peer.client.alert.name == "unexpected_message"
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from hypothesis import strategies as st

from purekong.engine import ClientConfig, ClientSession, HandshakeMessageTrace, ServerConfig

from ._pair import PurekongEndpoint
from ._pki import HOST, kit_client_config, kit_server_config
from ._protect import RecordProtection, SuiteParams, finished_tls12, finished_tls13, suite_params, transcript_hash
from ._wire import CONTENT_TYPES, HANDSHAKE_TYPES, MAX_RECORD, parse_server_hello, record, split_handshake, u8

OPS = ("skip", "duplicate", "swap_with_next", "replace", "flip", "rewrite", "inject_before", "inject_after")
_NAMES = {20: "ChangeCipherSpec", 21: "Alert", 23: "ApplicationData", 24: "Heartbeat"}


@dataclass(frozen=True)
class Item:
    """One thing on the wire between the two: a handshake message, a CCS, an alert, data, or raw bytes."""

    content_type: int
    data: bytes
    #: Deliver ``data`` verbatim (already framed as records), unprotected.
    raw: bool = False

    @property
    def name(self) -> str:
        if self.raw:
            return "raw bytes"
        if self.content_type != 22:
            return _NAMES.get(self.content_type, f"record type {self.content_type}")
        if self.data[:1] == b"\x02" and len(self.data) >= 38 and parse_server_hello(self.data)["hello_retry_request"]:
            return "HelloRetryRequest"
        return HANDSHAKE_TYPES.get(self.data[0], f"handshake type {self.data[0]}") if self.data else "empty handshake"


@dataclass(frozen=True)
class Edit:
    """What the attacker does to the ``occurrence``-th ``message`` that ``sender`` sends.

    ``op``: ``skip``; ``duplicate``; ``swap_with_next`` (deliver it after the
    sender's next message); ``replace`` (with ``data`` of ``content_type``);
    ``flip`` (xor ``0x01`` into body byte ``offset`` mod the body length);
    ``rewrite`` (``rewrite(message bytes)`` gives the new bytes);
    ``inject_before`` / ``inject_after`` (``data`` of ``content_type``).
    """

    op: str
    sender: str
    message: str
    occurrence: int = 1
    data: bytes = b""
    content_type: int = 22
    offset: int = 0
    rewrite: Callable[[bytes], bytes] | None = field(default=None, compare=False)
    #: Words for what ``rewrite`` does, for the label.
    description: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}, not {self.op!r}")
        if self.sender not in ("client", "server"):
            raise ValueError(f"sender must be 'client' or 'server', not {self.sender!r}")
        if self.occurrence < 1:
            raise ValueError("occurrence counts from 1")
        if self.op == "rewrite" and self.rewrite is None:
            raise ValueError("a rewrite edit needs rewrite=")
        if self.content_type not in CONTENT_TYPES:
            raise ValueError(f"content_type {self.content_type} is none of {sorted(CONTENT_TYPES)}")

    @property
    def label(self) -> str:
        nth = "" if self.occurrence == 1 else f" #{self.occurrence}"
        target = f"the {self.sender}'s {self.message}{nth}"
        what = Item(self.content_type, self.data).name if self.data or self.content_type != 22 else "nothing"
        return {
            "skip": f"skip {target}",
            "duplicate": f"send {target} twice",
            "swap_with_next": f"send {target} after the message that follows it",
            "replace": f"replace {target} with {what}",
            "flip": f"flip bit 0 of body byte {self.offset} of {target}",
            "rewrite": f"rewrite {target}: {self.description or 'changed'}",
            "inject_before": f"inject {what} before {target}",
            "inject_after": f"inject {what} after {target}",
        }[self.op]


class AttackError(Exception):
    """The attacker could not do what it was asked (a key it needed was never derived)."""


@dataclass
class _Direction:
    sender: str
    receiver: str
    incoming: bytearray = field(default_factory=bytearray)
    fragments: bytes = b""
    read: RecordProtection | None = None
    write: RecordProtection | None = None
    held: list[Item] = field(default_factory=list)
    #: What the sender sent and what the receiver was given, in order.
    read_items: list[Item] = field(default_factory=list)
    delivered_items: list[Item] = field(default_factory=list)


class AttackerPeer:
    """A purekong client and server with an editing attacker between them."""

    def __init__(
        self,
        server_config: ServerConfig | None = None,
        client_config: ClientConfig | None = None,
        *,
        edits: Sequence[Edit] = (),
        fix_finished: bool = True,
        padding: int = 0,
        server_name: str | None = HOST,
        session: ClientSession | None = None,
        proceed: dict[str, Any] | None = None,
    ) -> None:
        self.edits = tuple(edits)
        self.fix_finished = fix_finished
        #: Zero bytes added to every TLS 1.3 protected record it sends (RFC 8446 §5.4).
        self.padding = padding
        self.transcripts: dict[str, list[bytes]] = {"client": [], "server": []}
        self.server = PurekongEndpoint.server(server_config or kit_server_config(), trace=self._tracer("server"), proceed=proceed)
        self.client = PurekongEndpoint.client(client_config or kit_client_config(), server_name, session=session, trace=self._tracer("client"))
        self.directions = {"to_server": _Direction("client", "server"), "to_client": _Direction("server", "client")}
        self.counts: Counter[tuple[str, str]] = Counter()
        #: What happened, in order: "client -> server: ClientHello", "edit: skip ...".
        self.log: list[str] = []
        self.applied: list[Edit] = []
        self.version: int | None = None
        self.params: SuiteParams | None = None
        self._server_hello_sent = False

    def _tracer(self, side: str) -> Any:
        def trace(item: Any) -> None:
            if isinstance(item, HandshakeMessageTrace):
                self.transcripts[side].append(item.raw)

        return trace

    def endpoint(self, side: str) -> PurekongEndpoint:
        return self.client if side == "client" else self.server

    @property
    def tls13(self) -> bool:
        return self.version == 0x0304

    @property
    def changed(self) -> bool:
        """Whether a receiver got something other than what its peer sent (TLS 1.3 CCS records aside: they mean nothing)."""
        def counted(items: list[Item]) -> list[tuple[int, bytes]]:
            return [(i.content_type, i.data) for i in items if not (self.tls13 and i.content_type == 20)]

        return any(counted(d.read_items) != counted(d.delivered_items) for d in self.directions.values())

    # -- running --------------------------------------------------------------
    def run(self, rounds: int = 64) -> "AttackerPeer":
        """Shuttle and edit until both sides are quiet; returns self (see ``client``, ``server``, ``log``)."""
        for _ in range(rounds):
            progress = False
            for name, direction in self.directions.items():
                data = self.endpoint(direction.sender).take()
                if data:
                    progress = True
                    direction.incoming += data
                    for item in self._read_items(direction):
                        self._handle(name, direction, item)
            if not progress:
                # Nothing followed a held message: it goes out as it was, and
                # its swap changed nothing.
                for name, direction in self.directions.items():
                    held, direction.held = direction.held, []
                    for item in held:
                        self.applied = [e for e in self.applied if not (e.op == "swap_with_next" and e.sender == direction.sender and e.message == item.name)]
                        self.log.append(f"edit undone: nothing followed the {direction.sender}'s {item.name}")
                        self._deliver(name, direction, item)
                        progress = True
            if not progress:
                return self
        raise AttackError(f"the connection did not settle in {rounds} rounds")

    def inject(self, sender: str, content_type: int, data: bytes) -> "AttackerPeer":
        """Send ``data`` as if from ``sender``, protected under the receiver's current epoch, then run."""
        name = "to_server" if sender == "client" else "to_client"
        self._deliver(name, self.directions[name], Item(content_type, data))
        return self.run()

    def inject_raw(self, sender: str, data: bytes) -> "AttackerPeer":
        """Hand the receiver ``data`` verbatim (records built by the test), then run."""
        name = "to_server" if sender == "client" else "to_client"
        self._deliver(name, self.directions[name], Item(0, data, raw=True))
        return self.run()

    # -- reading ----------------------------------------------------------------
    def _read_items(self, direction: _Direction) -> list[Item]:
        items: list[Item] = []
        data = direction.incoming
        while len(data) >= 5:
            length = int.from_bytes(data[3:5], "big")
            if len(data) < 5 + length:
                break
            content_type, payload = data[0], bytes(data[5 : 5 + length])
            del data[: 5 + length]
            if content_type == 20 and (self.tls13 or direction.read is None):
                items.append(Item(20, payload))
                if not self.tls13:
                    direction.read = self._tls12_keys(direction.sender, direction.sender)
                continue
            if self.tls13 and content_type == 23 and direction.read is None and direction.sender == "client":
                direction.read = self._tls13_keys(direction.sender, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
            if direction.read is not None:
                content_type, payload = direction.read.open(content_type, payload)
            if content_type != 22:
                items.append(Item(content_type, payload))
                continue
            messages, direction.fragments = split_handshake(direction.fragments + payload)
            for message in messages:
                items.append(Item(22, message))
                self._after_read(direction, Item(22, message))
        return items

    def _after_read(self, direction: _Direction, item: Item) -> None:
        """The sender's read-side epoch changes: ServerHello, Finished, KeyUpdate."""
        if direction.sender == "server" and item.name == "ServerHello":
            fields = parse_server_hello(item.data)
            self.version, self.params = fields["version"], suite_params(fields["cipher_suite"])
            if self.tls13:
                self._server_hello_sent = True
                direction.read = self._tls13_keys("server", "SERVER_HANDSHAKE_TRAFFIC_SECRET")
        elif self.tls13 and item.name == "Finished":
            label = "SERVER_TRAFFIC_SECRET_0" if direction.sender == "server" else "CLIENT_TRAFFIC_SECRET_0"
            direction.read = self._tls13_keys(direction.sender, label)
        elif self.tls13 and item.name == "KeyUpdate" and direction.read is not None:
            direction.read = direction.read.next_generation()

    # -- editing ----------------------------------------------------------------
    def _handle(self, name: str, direction: _Direction, item: Item) -> None:
        direction.read_items.append(item)
        self.counts[(direction.sender, item.name)] += 1
        count = self.counts[(direction.sender, item.name)]
        edits = [e for e in self.edits if e.sender == direction.sender and e.message == item.name and e.occurrence == count]
        # Messages held back by swap_with_next go out after this one.
        previously_held, direction.held = direction.held, []
        out: list[Item] = [item]
        for edit in edits:
            self.applied.append(edit)
            self.log.append(f"edit: {edit.label}")
            injected = Item(edit.content_type, edit.data)
            if edit.op == "skip":
                out = [i for i in out if i is not item]
            elif edit.op == "duplicate":
                out = out + [item]
            elif edit.op == "replace":
                out = [injected if i is item else i for i in out]
            elif edit.op == "flip":
                out = [_flip(i, edit.offset) if i is item else i for i in out]
            elif edit.op == "rewrite" and edit.rewrite is not None:
                out = [Item(i.content_type, edit.rewrite(i.data)) if i is item else i for i in out]
            elif edit.op == "inject_before":
                out = [injected] + out
            elif edit.op == "inject_after":
                out = out + [injected]
            elif edit.op == "swap_with_next":
                out = [i for i in out if i is not item]
                direction.held = previously_held + [item]
                previously_held = []  # still waiting for a message that is not held
        for piece in out + previously_held:
            self._deliver(name, direction, piece)

    # -- delivering ---------------------------------------------------------------
    def _deliver(self, name: str, direction: _Direction, item: Item) -> None:
        receiver = self.endpoint(direction.receiver)
        if item.raw:
            self.log.append(f"{direction.sender} -> {direction.receiver}: raw {item.data[:16].hex()}")
            receiver.receive(item.data)
            return
        if item.content_type == 22 and item.name == "Finished" and self.fix_finished:
            item = self._fixed_finished(direction) or item
        if (self.tls13 and direction.sender == "client" and direction.write is None and self._server_hello_sent
                and item.content_type != 20 and "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in self.server.secrets):
            direction.write = self._tls13_keys("server", "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
        protection = None if (item.content_type == 20 and self.tls13) else direction.write
        wire = b""
        for start in range(0, max(len(item.data), 1), MAX_RECORD):
            chunk = item.data[start : start + MAX_RECORD]
            padding = self.padding if self.tls13 else 0
            wire += protection.seal(item.content_type, chunk, padding) if protection else record(item.content_type, chunk)
        self.log.append(f"{direction.sender} -> {direction.receiver}: {item.name}{' (protected)' if protection else ''}")
        direction.delivered_items.append(item)
        receiver.receive(wire)
        self._after_delivery(direction, item)

    def _after_delivery(self, direction: _Direction, item: Item) -> None:
        """The receiver's epoch changes, in the receiver's keys."""
        receiver = direction.receiver
        if item.content_type == 20 and not self.tls13 and self.version is not None:
            direction.write = self._tls12_keys(receiver, direction.sender)
        elif item.content_type == 22 and self.tls13:
            if item.name == "ServerHello" and direction.sender == "server":
                direction.write = self._tls13_keys(receiver, "SERVER_HANDSHAKE_TRAFFIC_SECRET", required=False)
            elif item.name == "Finished":
                label = "SERVER_TRAFFIC_SECRET_0" if direction.sender == "server" else "CLIENT_TRAFFIC_SECRET_0"
                direction.write = self._tls13_keys(receiver, label, required=False)
            elif item.name == "KeyUpdate" and direction.write is not None:
                direction.write = direction.write.next_generation()

    # -- keys ---------------------------------------------------------------------
    def _tls13_keys(self, side: str, label: str, required: bool = True) -> RecordProtection | None:
        secret = self.endpoint(side).secrets.get(label)
        if secret is None or self.params is None:
            if required:
                raise AttackError(f"the {side} never derived {label}")
            return None
        return RecordProtection.tls13(secret, self.params)

    def _tls12_keys(self, side: str, writer: str) -> RecordProtection | None:
        master = self.endpoint(side).secrets.get("CLIENT_RANDOM")
        randoms = self._randoms(side)
        if master is None or randoms is None or self.params is None:
            return None  # the side has no keys yet: what follows stays plaintext
        return RecordProtection.tls12(master, randoms[0], randoms[1], self.params, writer)

    def _randoms(self, side: str) -> tuple[bytes, bytes] | None:
        transcript = self.transcripts[side]
        hello = next((m for m in transcript if m[0] == 1), None)
        server_hello = next((m for m in transcript if m[0] == 2), None)
        if hello is None or server_hello is None:
            return None
        return hello[6:38], server_hello[6:38]

    def _fixed_finished(self, direction: _Direction) -> Item | None:
        """The Finished the receiver will check, from its own transcript and keys."""
        receiver, params = direction.receiver, self.params
        transcript = list(self.transcripts[receiver])
        if params is None or not transcript:
            return None
        if self.tls13:
            if len(transcript) > 1 and Item(22, transcript[1]).name == "HelloRetryRequest":
                transcript[0] = b"\xfe\x00\x00" + u8(params.hash_length) + transcript_hash(transcript[:1], params.hash_name)
            label = "SERVER_HANDSHAKE_TRAFFIC_SECRET" if direction.sender == "server" else "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
            secret = self.endpoint(receiver).secrets.get(label)
            return Item(22, finished_tls13(secret, transcript, params)) if secret else None
        master = self.endpoint(receiver).secrets.get("CLIENT_RANDOM")
        return Item(22, finished_tls12(master, direction.sender, transcript, params)) if master else None


def _flip(item: Item, offset: int) -> Item:
    if item.content_type == 22 and len(item.data) > 4:
        index = 4 + offset % (len(item.data) - 4)
    elif item.data:
        index = offset % len(item.data)
    else:
        return item
    data = bytearray(item.data)
    data[index] ^= 0x01
    return Item(item.content_type, bytes(data))


#: Handshake messages each side sends in a full handshake (TLS 1.3 and 1.2 together).
SENT = {
    "client": ("ClientHello", "Certificate", "CertificateVerify", "ClientKeyExchange", "ChangeCipherSpec", "Finished"),
    "server": ("ServerHello", "EncryptedExtensions", "CertificateRequest", "Certificate", "CertificateVerify",
               "ServerKeyExchange", "ServerHelloDone", "ChangeCipherSpec", "Finished"),
}


def edits(*, senders: Sequence[str] = ("client", "server"), ops: Sequence[str] = ("skip", "duplicate", "swap_with_next", "flip"),
          messages: Sequence[str] | None = None, max_size: int = 2) -> st.SearchStrategy[list[Edit]]:
    """Lists of attacker edits on handshake messages (shrinks towards one edit, the first op and message)::

        >>> plan = edits(senders=["server"], ops=["skip"], max_size=1).example()
        >>> all(e.op == "skip" and e.sender == "server" for e in plan)
        True
    """
    bad_ops = [o for o in ops if o not in OPS]
    if not ops or bad_ops:
        raise ValueError(f"ops: {'empty' if not ops else 'unknown ' + ', '.join(bad_ops)} (choose from {', '.join(OPS)})")
    if not senders or any(s not in SENT for s in senders):
        raise ValueError("senders must be a non-empty selection of 'client' and 'server'")
    if max_size < 1:
        raise ValueError("max_size must be at least 1")

    def one(sender: str) -> st.SearchStrategy[Edit]:
        names = tuple(messages) if messages is not None else SENT[sender]
        return st.builds(Edit, op=st.sampled_from(tuple(ops)), sender=st.just(sender), message=st.sampled_from(names),
                         offset=st.integers(0, 200))

    # One edit per message: two edits of the same message could cancel out.
    return st.lists(st.sampled_from(tuple(senders)).flatmap(one), min_size=1, max_size=max_size,
                    unique_by=lambda e: (e.sender, e.message, e.occurrence))
