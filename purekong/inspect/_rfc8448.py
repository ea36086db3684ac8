"""RFC 8448's example handshakes, read offline, and every printed value checked.

``purekong/inspect/rfc8448/sectionN.txt`` (package data) holds the RFC's own lines for §3 (1-RTT),
§4 (resumed 0-RTT), §5 (HelloRetryRequest), §6 (client authentication) and
§7 (compatibility mode). :func:`rfc8448` turns a section into a
:class:`Recording` the way any capture is read: its records go through
:meth:`Recording.from_transcript` with no secret but the (EC)DHE shared
secret, computed here from the RFC's x25519 private keys (and for §4 the
PSK, which §3's ticket gives). :func:`rfc8448_checks` then compares every
value the RFC prints with the inspector's own: each HKDF call's PRK, hash,
info and output, each key and IV, each Finished and binder, each message
(decrypted from the records) and each record.

>>> checks = rfc8448_checks(3)
>>> len(checks) > 100, all(c.ok for c in checks)
(True, True)
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, x25519

from ._dissect import dissect_handshake
from ._kdf import hkdf_label
from ._recording import CLIENT_TO_SERVER, SERVER_TO_CLIENT, KeyDerivation, Recording, Secret

SECTIONS = {3: "Simple 1-RTT Handshake", 4: "Resumed 0-RTT Handshake", 5: "HelloRetryRequest", 6: "Client Authentication", 7: "Compatibility Mode"}


@dataclass(frozen=True)
class Step:
    """One step of a trace: ``{client}  derive secret "tls13 c hs traffic":`` and its values."""

    side: str  # "client" or "server"
    title: str
    values: tuple[tuple[str, bytes | None], ...]  # None: "0 (all zero octets)"

    def value(self, label: str) -> bytes | None:
        return next((v for k, v in self.values if k == label), None)


@dataclass(frozen=True)
class Check:
    """One printed value of the RFC next to the inspector's."""

    step: str
    label: str
    expected: bytes
    actual: bytes | None

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


class RFC8448Error(ValueError):
    """A section that does not exist, or whose data file is missing or damaged."""


_STEP = re.compile(r"^   \{(client|server)\}  (.*?):?$")
_VALUE = re.compile(r"^      ([A-Za-z][A-Za-z ]*?)(?: \((\d+) octets\))?:  (.*)$")


def parse_trace(text: str) -> list[Step]:
    """The steps of one section's text (RFC 8448's layout), each value's length checked."""
    steps: list[Step] = []
    side = title = ""
    values: list[tuple[str, bytes | None]] = []
    current: list[str] | None = None  # label, declared length, hex so far

    def finish_value() -> None:
        nonlocal current
        if current is None:
            return
        label, declared, hex_text = current
        if hex_text.startswith("0 (all zero"):
            values.append((label, None))
        else:
            data = b"" if hex_text == "(empty)" else bytes.fromhex(hex_text)
            if declared and len(data) != int(declared):
                raise RFC8448Error(f"{title}: {label} declares {declared} octets, has {len(data)}")
            values.append((label, data))
        current = None

    def finish_step() -> None:
        nonlocal values
        finish_value()
        if side:
            steps.append(Step(side, title, tuple(values)))
        values = []

    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if m := _STEP.match(line):
            finish_step()
            side, title = m.group(1), m.group(2)
        elif m := _VALUE.match(line):
            finish_value()
            current = [m.group(1), m.group(2) or "", m.group(3).strip()]
        elif line.startswith("         ") and current is not None:
            current[2] += " " + line.strip()
        elif line.startswith("      ") and not values and current is None:
            title += " " + line.strip()  # a title wrapped onto a second line
        else:
            raise RFC8448Error(f"unexpected line in the trace: {line!r}")
    finish_step()
    return steps


@functools.cache
def steps_of(section: int) -> tuple[Step, ...]:
    if section not in SECTIONS:
        raise RFC8448Error(f"RFC 8448 has traces in sections {', '.join(map(str, SECTIONS))}, not {section}")
    # Package data (pyproject's package-data), so an installed wheel has it too.
    path = importlib.resources.files("purekong.inspect") / "rfc8448" / f"section{section}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise RFC8448Error(f"{path} is missing: this purekong was installed without its RFC 8448 data") from None
    return tuple(parse_trace(text))


def _direction(side: str) -> str:
    return CLIENT_TO_SERVER if side == "client" else SERVER_TO_CLIENT


def _key_pairs(steps: tuple[Step, ...]) -> list[tuple[str, str, bytes]]:
    """(side, curve, private key) of every "create an ephemeral ... key pair" step."""
    pairs = []
    for step in steps:
        if step.title.startswith("create an ephemeral"):
            curve = "x25519" if "x25519" in step.title else "secp256r1"
            private = step.value("private key")
            assert private is not None
            pairs.append((step.side, curve, private))
    return pairs


def _shared_secret(steps: tuple[Step, ...]) -> tuple[bytes, KeyDerivation]:
    """The (EC)DHE secret from the client's last private key and the server's key share."""
    side, curve, private = [p for p in _key_pairs(steps) if p[0] == "client"][-1]
    server_hello = [s.value("ServerHello") for s in steps if s.value("ServerHello") is not None][-1]
    assert server_hello is not None
    share = dissect_handshake(server_hello).find("public_key")
    assert share is not None and isinstance(share.value, bytes)
    if curve == "x25519":
        shared = x25519.X25519PrivateKey.from_private_bytes(private).exchange(x25519.X25519PublicKey.from_public_bytes(share.value))
    else:
        key = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256R1())
        shared = key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), share.value))
    step = KeyDerivation("ecdhe_shared_secret", "ECDHE", ("client_private_key", "server_key_share"), shared, curve, share.value, "the server's key_share", "RFC 8446 §7.4")
    return shared, step


def rfc8448(section: int) -> Recording:
    """The recording of one RFC 8448 section, read offline from its records.

    §4's PSK comes from §3's ticket (its ``ticket_psk_0``), as the RFC says.
    """
    steps = steps_of(section)
    transcript = [(_direction(s.side), v) for s in steps for label, v in s.values if label == "complete record" and v is not None]
    shared, ecdhe = _shared_secret(steps)
    secrets = [Secret("ecdhe_shared_secret", shared, source="rfc8448")]
    if section == 4:
        psk = rfc8448(3).secret("ticket_psk_0")
        assert psk is not None
        secrets.append(Secret("psk", psk, source="rfc8448"))
    recording = Recording.from_transcript(transcript, secrets=secrets, scenario=f"rfc8448-{section}")
    schedule = tuple(ecdhe if d.name == "ecdhe_shared_secret" else d for d in recording.key_schedule)
    return dataclasses.replace(recording, key_schedule=schedule)


def _without_binders(hello: bytes) -> bytes:
    """A ClientHello up to its PSK binders (RFC 8446 §4.2.11.2), as the binder covers it."""
    binders = dissect_handshake(hello).find("binders")
    return hello[: binders.offset] if binders is not None else hello


_EXTRACTS = {"early": "early_secret", "handshake": "handshake_secret", "master": "master_secret"}
_MESSAGES = {
    "ClientHello": 1, "ServerHello": 2, "HelloRetryRequest": 2, "NewSessionTicket": 4, "EndOfEarlyData": 5,
    "EncryptedExtensions": 8, "Certificate": 11, "CertificateRequest": 13, "CertificateVerify": 15, "Finished": 20,
}  # fmt: skip


def rfc8448_checks(section: int) -> list[Check]:
    """Every value RFC 8448 prints for ``section``, next to the inspector's."""
    steps = steps_of(section)
    rec = rfc8448(section)
    derivations = list(rec.key_schedule)
    values = {d.name: d.output for d in derivations}
    checks: list[Check] = []

    def check(step: Step, label: str, actual: bytes | None) -> None:
        expected = step.value(label)
        if expected is None:
            raise RFC8448Error(f"{step.title}: no {label!r} printed")
        checks.append(Check(f"{{{step.side}}} {step.title}", label, expected, actual))

    def expand(label: str, prk: bytes | None, context: bytes | None = None) -> KeyDerivation | None:
        for d in derivations:
            if d.label == label and d.function in ("Derive-Secret", "HKDF-Expand-Label") and values.get(d.inputs[0]) == prk:
                if context is None or d.context == context:
                    return d
        return None

    def info(d: KeyDerivation | None) -> bytes | None:
        return hkdf_label(d.label, d.context, len(d.output)) if d else None

    messages: dict[tuple[str, int], list[bytes]] = {}
    for message in rec.handshake_messages:
        messages.setdefault((message.direction, message.msg_type), []).append(message.raw)
    records = {(r.direction, r.raw): r for r in rec.records}
    for step in steps:
        title = step.title
        if not step.values:
            continue  # "(same as server ...)"
        if title.startswith("create an ephemeral"):
            private, public = step.value("private key"), step.value("public key")
            assert private is not None
            if "x25519" in title:
                derived = x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
            else:
                from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

                derived = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            checks.append(Check(f"{{{step.side}}} {title}", "public key", public or b"", derived))
        elif m := re.match(r'extract secret "(\w+)"', title):
            d = next((x for x in derivations if x.name == _EXTRACTS[m.group(1)]), None)
            for label, index in (("salt", 0), ("IKM", 1)):
                if any(k == label for k, _ in step.values):
                    # "salt: 0 (all zero octets)" is HashLen zeros (SHA-256 in every trace)
                    printed = step.value(label)
                    shown = bytes(32) if printed is None else printed
                    checks.append(Check(f"{{{step.side}}} {title}", label, shown, values.get(d.inputs[index]) if d else None))
            check(step, "secret", d.output if d else None)
        elif m := re.match(r'derive secret (?:for \w+ )?"tls13 ([\w ]+)"', title):
            d = expand(m.group(1), step.value("PRK"), step.value("hash") if m.group(1) != "derived" else None)
            check(step, "PRK", values.get(d.inputs[0]) if d else None)
            check(step, "hash", d.context if d else None)
            check(step, "info", info(d))
            check(step, "expanded", d.output if d else None)
        elif "traffic keys" in title:
            prk = step.value("PRK")
            key, iv = expand("key", prk), expand("iv", prk)
            check(step, "PRK", values.get(key.inputs[0]) if key else None)
            check(step, "key info", info(key))
            check(step, "key expanded", key.output if key else None)
            check(step, "iv info", info(iv))
            check(step, "iv expanded", iv.output if iv else None)
        elif title.startswith("calculate finished") or title.startswith("calculate PSK binder"):
            binder = title.startswith("calculate PSK binder")
            key = expand("finished", step.value("PRK"))
            mac = next((x for x in derivations if x.function == "HMAC" and key is not None and x.inputs == (key.name,)), None)
            if binder:
                hellos = messages.get((CLIENT_TO_SERVER, 1), [])
                check(step, "ClientHello prefix", _without_binders(hellos[0]) if hellos else None)
                check(step, "binder hash", mac.context if mac else None)
            check(step, "PRK", values.get(key.inputs[0]) if key else None)
            check(step, "hash", key.context if key else None)
            check(step, "info", info(key))
            check(step, "expanded", key.output if key else None)
            check(step, "finished", mac.output if mac else None)
        elif title.startswith("generate resumption secret"):
            d = expand("resumption", step.value("PRK"), step.value("hash"))
            check(step, "PRK", values.get(d.inputs[0]) if d else None)
            check(step, "hash", d.context if d else None)
            check(step, "info", info(d))
            check(step, "expanded", d.output if d else None)
        elif m := re.match(r"construct an? (\w+) handshake message", title):
            (label, expected), *_ = step.values
            wanted = messages.get((_direction(step.side), _MESSAGES[m.group(1)]), [])
            wanted += [_without_binders(w) for w in wanted if w[0] == 1]  # §4 prints the ClientHello up to its binders
            checks.append(Check(f"{{{step.side}}} {title}", label, expected or b"", expected if expected in wanted else (wanted[0] if wanted else None)))
        elif title.startswith("send"):
            raw = step.value("complete record")
            record = records.get((_direction(step.side), raw or b""))
            check(step, "complete record", record.raw if record else None)
            if step.value("payload") is not None:
                check(step, "payload", record.content if record else None)
        else:
            raise RFC8448Error(f"a step the checker does not know: {title!r}")
    return checks
