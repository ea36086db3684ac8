"""The key schedule, recomputed independently of the engine, as a tree.

TLS 1.3 (RFC 8446 §7.1)::

    PSK (or 0) -> HKDF-Extract = early_secret -> binder_key, client_early_traffic_secret, ...
    Derive-Secret(., "derived", "") -> HKDF-Extract with the (EC)DHE secret = handshake_secret
        -> client/server_handshake_traffic_secret (ClientHello..ServerHello)
    Derive-Secret(., "derived", "") -> HKDF-Extract with 0 = master_secret
        -> client/server_application_traffic_secret_0, exporter_master_secret (..server Finished)
        -> resumption_master_secret (..client Finished) -> each ticket's PSK

and from every traffic secret its key, IV and finished key; KeyUpdates
give ``..._traffic_secret_N``. TLS 1.2 (RFC 5246 §8.1, RFC 7627 §4):
pre-master secret -> master secret (or extended master secret over the
session hash) -> key block. Each step is a :class:`KeyDerivation` naming its
inputs. Start from the (EC)DHE shared secret (``ecdhe_shared_secret``, or
``pre_master_secret`` in TLS 1.2) and ``psk`` when known, or offline from a
key log's traffic secrets; either way the Finished MACs on the wire and the
PSK binders are checked, and every value a key log or the engine also
reported is compared: a difference is a ``mismatch`` finding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ._dissect import dissect_handshake
from ._kdf import HASH_LENGTHS, hkdf_expand_label, hkdf_extract, hmac_digest, prf12, transcript_hash
from ._protection import SUITES, SuiteParameters
from ._recording import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Finding, HandshakeMessage, KeyDerivation, Recording, Secret
from ._registry import is_hello_retry_request

RFC_EXTRACT = "RFC 8446 §7.1"
RFC_KEYS = "RFC 8446 §7.3"

NSS_LABELS = {
    "client_early_traffic_secret": "CLIENT_EARLY_TRAFFIC_SECRET",
    "early_exporter_master_secret": "EARLY_EXPORTER_SECRET",
    "client_handshake_traffic_secret": "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "server_handshake_traffic_secret": "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "exporter_master_secret": "EXPORTER_SECRET",
}


def nss_label(name: str) -> str | None:
    """The key-log label of a key-schedule value, if a key log carries it.

    >>> nss_label("server_application_traffic_secret_2"), nss_label("master_secret_12")
    ('SERVER_TRAFFIC_SECRET_2', 'CLIENT_RANDOM')
    """
    if name in NSS_LABELS:
        return NSS_LABELS[name]
    for side in ("client", "server"):
        prefix = f"{side}_application_traffic_secret_"
        if name.startswith(prefix):
            return f"{side.upper()}_TRAFFIC_SECRET_{name[len(prefix):]}"
    return "CLIENT_RANDOM" if name == "master_secret_12" else None


@dataclass
class KeySchedule:
    """The derivations computed so far, and what they showed."""

    hash_name: str
    derivations: list[KeyDerivation] = field(default_factory=list)
    values: dict[str, bytes] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, name: str, function: str, inputs: tuple[str, ...], output: bytes, label: str = "", context: bytes = b"", described: str = "", rfc: str = RFC_EXTRACT) -> bytes:
        self.derivations.append(KeyDerivation(name, function, inputs, output, label, context, described, rfc))
        self.values[name] = output
        return output

    def extract(self, name: str, salt_name: str, ikm_name: str) -> bytes:
        return self.add(name, "HKDF-Extract", (salt_name, ikm_name), hkdf_extract(self.hash_name, self.values[salt_name], self.values[ikm_name]))

    def derive_secret(self, name: str, secret: str, label: str, messages: bytes, described: str) -> bytes:
        context = transcript_hash(self.hash_name, messages)
        return self.add(name, "Derive-Secret", (secret,), hkdf_expand_label(self.hash_name, self.values[secret], label, context, HASH_LENGTHS[self.hash_name]), label, context, described)

    def expand_label(self, name: str, secret: str, label: str, context: bytes, length: int, rfc: str = RFC_KEYS) -> bytes:
        return self.add(name, "HKDF-Expand-Label", (secret,), hkdf_expand_label(self.hash_name, self.values[secret], label, context, length), label, context, "", rfc)


def recompute(recording: Recording) -> Recording:
    """The recording with its key schedule recomputed, checked and compared."""
    schedule, _ = compute(recording)
    if schedule is None:
        return recording
    from ._signatures import check_signatures

    schedule.findings += check_signatures(recording, _transcript13(list(recording.handshake_messages), schedule.hash_name), schedule.hash_name)
    reported: dict[str, Secret] = {}
    for s in recording.secrets:
        if s.source != "inspector":
            reported.setdefault(s.label, s)
    findings = list(schedule.findings)
    for name, value in schedule.values.items():
        label = nss_label(name)
        if label and label in reported and reported[label].value != value:
            findings.append(
                Finding("mismatch", f"{label} from the {reported[label].source} differs from the value recomputed from the transcript", label, expected=value, actual=reported[label].value)
            )
    return dataclasses.replace(recording, key_schedule=tuple(schedule.derivations), findings=recording.findings + tuple(findings))


def compute(recording: Recording) -> tuple[KeySchedule | None, dict[str, bytes]]:
    """The key schedule and the key-log values it recomputed (None: unknown suite)."""
    suite = SUITES.get(recording.cipher_suite) if recording.cipher_suite is not None else None
    if suite is None:
        return None, {}
    schedule = KeySchedule(suite.hash_name)
    secrets: dict[str, bytes] = {}
    for s in recording.secrets:
        secrets.setdefault(s.label, s.value)
    messages = list(recording.handshake_messages)
    if suite.tls13:
        _tls13(schedule, suite, messages, secrets)
    else:
        _tls12(schedule, suite, messages, secrets)
    nss = {label: v for name, v in schedule.values.items() if (label := nss_label(name))}
    return schedule, nss


def _transcript13(messages: list[HandshakeMessage], hash_name: str) -> list[tuple[HandshakeMessage, bytes]]:
    """The messages of the TLS 1.3 transcript with their bytes in it (RFC 8446 §4.4.1)."""
    kept = [m for m in messages if m.msg_type not in (4, 24)]
    out = [(m, m.raw) for m in kept]
    if len(kept) > 1 and is_hello_retry_request(kept[1].raw):
        digest = transcript_hash(hash_name, kept[0].raw)
        out[0] = (kept[0], bytes([254, 0, 0, len(digest)]) + digest)
    return out


def _first(items: list[tuple[HandshakeMessage, bytes]], msg_type: int, direction: str, after: int = -1) -> int | None:
    for i, (m, _) in enumerate(items):
        if i > after and m.msg_type == msg_type and m.direction == direction and not is_hello_retry_request(m.raw):
            return i
    return None


def _tls13(ks: KeySchedule, suite: SuiteParameters, messages: list[HandshakeMessage], secrets: dict[str, bytes]) -> None:
    h, length = suite.hash_name, HASH_LENGTHS[suite.hash_name]
    items = _transcript13(messages, h)
    sh = _first(items, 2, SERVER_TO_CLIENT)
    sf = _first(items, 20, SERVER_TO_CLIENT, sh if sh is not None else -1)
    cf = _first(items, 20, CLIENT_TO_SERVER, sf if sf is not None else -1)

    def upto(i: int) -> bytes:
        return b"".join(raw for _, raw in items[: i + 1])

    ks.add("zeros", "input", (), bytes(length), described="HashLen zero bytes", rfc=RFC_EXTRACT)
    psk = secrets.get("psk")
    if psk is not None:
        ks.add("psk", "input", (), psk, described="the pre-shared key (a ticket's PSK when resuming)", rfc="RFC 8446 §4.6.1")
    ks.extract("early_secret", "zeros", "psk" if psk is not None else "zeros")
    if psk is not None and items:
        ks.derive_secret("binder_key", "early_secret", "res binder", b"", "empty")
        _check_binder(ks, items, length)
        ch = (sh - 1) if sh is not None else len(items) - 1
        ks.derive_secret("client_early_traffic_secret", "early_secret", "c e traffic", upto(ch), "ClientHello")
        ks.derive_secret("early_exporter_master_secret", "early_secret", "e exp master", upto(ch), "ClientHello")
    ks.derive_secret("derived_early_secret", "early_secret", "derived", b"", "empty")
    shared = secrets.get("ecdhe_shared_secret")
    resumed = sh is not None and any(f.name == "selected_identity" for f in dissect_handshake(items[sh][1]).walk())
    if resumed and psk is None and shared is not None:
        # The handshake secret mixes in the PSK: without it the chain would
        # be wrong, so stop here and use the key log's traffic secrets.
        ks.findings.append(Finding("missing_key", "the handshake resumed with a PSK this recording does not hold: the early, handshake and master secrets are not recomputed (give the ticket's PSK as the secret 'psk')", "psk", "warning"))
        shared = None
    if shared is not None and sh is not None:
        ks.add("ecdhe_shared_secret", "input", (), shared, described="the (EC)DHE shared secret", rfc="RFC 8446 §7.4")
        ks.extract("handshake_secret", "derived_early_secret", "ecdhe_shared_secret")
        ks.derive_secret("client_handshake_traffic_secret", "handshake_secret", "c hs traffic", upto(sh), "ClientHello..ServerHello")
        ks.derive_secret("server_handshake_traffic_secret", "handshake_secret", "s hs traffic", upto(sh), "ClientHello..ServerHello")
        ks.derive_secret("derived_handshake_secret", "handshake_secret", "derived", b"", "empty")
        ks.extract("master_secret", "derived_handshake_secret", "zeros")
        if sf is not None:
            described = "ClientHello..server Finished"
            ks.derive_secret("client_application_traffic_secret_0", "master_secret", "c ap traffic", upto(sf), described)
            ks.derive_secret("server_application_traffic_secret_0", "master_secret", "s ap traffic", upto(sf), described)
            ks.derive_secret("exporter_master_secret", "master_secret", "exp master", upto(sf), described)
        if cf is not None:
            ks.derive_secret("resumption_master_secret", "master_secret", "res master", upto(cf), "ClientHello..client Finished")
    # Offline: a key log's traffic secrets stand in where the chain above stops.
    for name, label in [*NSS_LABELS.items(), ("client_application_traffic_secret_0", "CLIENT_TRAFFIC_SECRET_0"), ("server_application_traffic_secret_0", "SERVER_TRAFFIC_SECRET_0")]:
        if name not in ks.values and label in secrets:
            ks.add(name, "input", (), secrets[label], described=f"{label}, from the key log", rfc="RFC 9850")
    for side, direction in (("client", CLIENT_TO_SERVER), ("server", SERVER_TO_CLIENT)):
        for epoch in ("early", "handshake"):
            if f"{side}_{epoch}_traffic_secret" in ks.values:
                _traffic_keys(ks, suite, f"{side}_{epoch}_traffic_secret", f"{side}_{epoch}")
        updates = sum(1 for m in messages if m.msg_type == 24 and m.direction == direction)
        for n in range(updates + 1):
            name = f"{side}_application_traffic_secret_{n}"
            if name not in ks.values:
                if n == 0:
                    break
                ks.expand_label(name, f"{side}_application_traffic_secret_{n - 1}", "traffic upd", b"", length, "RFC 8446 §7.2")
            _traffic_keys(ks, suite, name, f"{side}_application_{n}", finished=False)
    if sf is not None and "server_handshake_traffic_secret" in ks.values:
        _check_finished13(ks, "server", items, sf)
    if cf is not None and "client_handshake_traffic_secret" in ks.values:
        _check_finished13(ks, "client", items, cf)
    if "resumption_master_secret" in ks.values:
        tickets = [m for m in messages if m.msg_type == 4 and m.direction == SERVER_TO_CLIENT]
        for i, ticket in enumerate(tickets):
            nonce = dissect_handshake(ticket.raw).find("nonce")
            value = nonce.value if nonce is not None and isinstance(nonce.value, bytes) else b""
            ks.expand_label(f"ticket_psk_{i}", "resumption_master_secret", "resumption", value, length, "RFC 8446 §4.6.1")


def _traffic_keys(ks: KeySchedule, suite: SuiteParameters, secret: str, prefix: str, finished: bool = True) -> None:
    ks.expand_label(f"{prefix}_key", secret, "key", b"", suite.key_length)
    ks.expand_label(f"{prefix}_iv", secret, "iv", b"", 12)
    if finished:
        ks.expand_label(f"{prefix}_finished_key", secret, "finished", b"", HASH_LENGTHS[suite.hash_name], "RFC 8446 §4.4.4")


def _check_finished13(ks: KeySchedule, side: str, items: list[tuple[HandshakeMessage, bytes]], index: int) -> None:
    key = ks.values[f"{side}_handshake_finished_key"]
    context = transcript_hash(ks.hash_name, b"".join(raw for _, raw in items[:index]))
    expected = hmac_digest(ks.hash_name, key, context)
    ks.add(f"{side}_finished_verify_data", "HMAC", (f"{side}_handshake_finished_key",), expected, "", context, f"ClientHello..before the {side} Finished", "RFC 8446 §4.4.4")
    on_wire = items[index][0].raw[4:]
    if on_wire != expected:
        ks.findings.append(Finding("bad_finished", f"the {side} Finished on the wire is not HMAC(finished_key, transcript hash)", f"{side} Finished", expected=expected, actual=on_wire))


def _check_binder(ks: KeySchedule, items: list[tuple[HandshakeMessage, bytes]], length: int) -> None:
    """The first PSK binder of the ClientHello (RFC 8446 §4.2.11.2), when it offers one."""
    hello = next((m for m, _ in items if m.msg_type == 1), None)
    if hello is None or len(items) > 1 and is_hello_retry_request(items[1][0].raw):
        return  # after a HelloRetryRequest the binder covers a longer transcript; not checked
    tree = dissect_handshake(hello.raw)
    binders, binder = tree.find("binders"), tree.find("binder")
    if binders is None or binder is None:
        return
    ks.expand_label("binder_finished_key", "binder_key", "finished", b"", length, "RFC 8446 §4.2.11.2")
    context = transcript_hash(ks.hash_name, hello.raw[: binders.offset])
    expected = ks.add("psk_binder", "HMAC", ("binder_finished_key",), hmac_digest(ks.hash_name, ks.values["binder_finished_key"], context), "", context, "the ClientHello up to the binders", "RFC 8446 §4.2.11.2")
    if binder.value != expected:
        ks.findings.append(Finding("mismatch", "the ClientHello's PSK binder is not the one the PSK gives", "psk_binder", expected=expected, actual=binder.value if isinstance(binder.value, bytes) else None))


def _has_ems(message: HandshakeMessage) -> bool:
    return any(f.name == "extension_type" and f.value == 23 for f in dissect_handshake(message.raw, tls13=False).walk())


def _tls12(ks: KeySchedule, suite: SuiteParameters, messages: list[HandshakeMessage], secrets: dict[str, bytes]) -> None:
    hellos = {m.msg_type: m for m in messages if m.msg_type in (1, 2)}
    if 1 not in hellos or 2 not in hellos:
        return
    client_random, server_random = hellos[1].raw[6:38], hellos[2].raw[6:38]
    ks.add("client_random", "input", (), client_random, described="ClientHello.random", rfc="RFC 5246 §7.4.1.2")
    ks.add("server_random", "input", (), server_random, described="ServerHello.random", rfc="RFC 5246 §7.4.1.3")
    pms = secrets.get("pre_master_secret", secrets.get("ecdhe_shared_secret"))
    if pms is not None:
        ks.add("pre_master_secret", "input", (), pms, described="the ECDHE shared secret (RFC 8422 §5.10)", rfc="RFC 5246 §8.1")
        if _has_ems(hellos[1]) and _has_ems(hellos[2]):
            cke = next((i for i, m in enumerate(messages) if m.msg_type == 16), None)
            if cke is not None:
                session_hash = transcript_hash(ks.hash_name, b"".join(m.raw for m in messages[: cke + 1]))
                ks.add("session_hash", "Hash", (), session_hash, "", b"", "ClientHello..ClientKeyExchange", "RFC 7627 §3")
                master = prf12(ks.hash_name, pms, "extended master secret", session_hash, 48)
                ks.add("master_secret_12", "PRF", ("pre_master_secret", "session_hash"), master, "extended master secret", session_hash, "session_hash", "RFC 7627 §4")
        else:
            master = prf12(ks.hash_name, pms, "master secret", client_random + server_random, 48)
            ks.add("master_secret_12", "PRF", ("pre_master_secret", "client_random", "server_random"), master, "master secret", client_random + server_random, "ClientHello.random + ServerHello.random", "RFC 5246 §8.1")
    if "master_secret_12" not in ks.values and "CLIENT_RANDOM" in secrets:
        ks.add("master_secret_12", "input", (), secrets["CLIENT_RANDOM"], described="CLIENT_RANDOM, from the key log", rfc="RFC 9850")
    if "master_secret_12" not in ks.values:
        return
    from ._protection import tls12_key_block

    block, parts = tls12_key_block(suite, ks.values["master_secret_12"], client_random, server_random)
    ks.add("key_block", "PRF", ("master_secret_12", "server_random", "client_random"), block, "key expansion", server_random + client_random, "ServerHello.random + ClientHello.random", "RFC 5246 §6.3")
    for name, value in parts.items():
        ks.add(name, "slice", ("key_block",), value, "", b"", "", "RFC 5246 §6.3")
    for side, direction in (("client", CLIENT_TO_SERVER), ("server", SERVER_TO_CLIENT)):
        index = next((i for i, m in enumerate(messages) if m.msg_type == 20 and m.direction == direction), None)
        if index is None:
            continue
        context = transcript_hash(ks.hash_name, b"".join(m.raw for m in messages[:index]))
        expected = prf12(ks.hash_name, ks.values["master_secret_12"], f"{side} finished", context, 12)
        ks.add(f"{side}_finished_verify_data", "PRF", ("master_secret_12",), expected, f"{side} finished", context, f"handshake messages before the {side} Finished", "RFC 5246 §7.4.9")
        if messages[index].raw[4:] != expected:
            ks.findings.append(Finding("bad_finished", f"the {side} Finished on the wire is not PRF(master_secret, \"{side} finished\", hash)", f"{side} Finished", expected=expected, actual=messages[index].raw[4:]))
