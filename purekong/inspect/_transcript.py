"""Building a :class:`Recording` from raw byte streams and a key log.

The steps, each its own function: split each direction's bytes into records
(RFC 8446 §5.1); read the two hellos for the version, the suite and the
randoms; open every protected record with keys derived from the secrets
(trying the next epoch's keys when the current ones fail, which finds the
switch to application keys and every KeyUpdate without parsing encrypted
messages first); reassemble the handshake messages and read the alerts;
compare with what the engine reported; recompute the key schedule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable

from . import _keyschedule
from ._decisions import wire_decisions
from ._engine_report import check_decisions, check_records, engine_decisions
from ._dissect import Field, dissect_handshake
from ._kdf import next_traffic_secret, traffic_keys
from ._protection import SUITES, SuiteParameters, TrafficKey, open_record, tls12_key_block
from ._recording import (
    CLIENT_TO_SERVER,
    DIRECTIONS,
    EPOCH_APPLICATION,
    EPOCH_EARLY,
    EPOCH_HANDSHAKE,
    EPOCH_PLAINTEXT,
    EPOCH_UNKNOWN,
    SERVER_TO_CLIENT,
    Alert,
    CertificatePhase,
    Decision,
    Peer,
    Finding,
    HandshakeMessage,
    Record,
    Recording,
    Secret,
    application_epoch,
)
from ._registry import HRR_RANDOM, is_hello_retry_request

MAX_KEY_UPDATES = 1000  # a bound on how far the inspector looks ahead for KeyUpdate keys


def build_recording(
    transcript: Iterable[tuple[str, bytes]],
    keylog: str | Iterable[str],
    *,
    client_trace: Iterable[object],
    server_trace: Iterable[object],
    secrets: Iterable[Secret],
    decisions: Iterable[Decision],
    certificate_phase: CertificatePhase | None,
    scenario: str | None,
    seed: int | None,
    client: Peer,
    server: Peer,
    previous: Recording | None = None,
) -> Recording:
    """See :meth:`Recording.from_transcript`."""
    from .. import __version__

    findings: list[Finding] = []
    records = split_records(transcript, findings)
    hellos = _read_hellos(records)
    client_trace, server_trace = list(client_trace), list(server_trace)
    all_secrets = list(secrets)
    if previous is not None:
        all_secrets += _ticket_psk(previous, records, findings)
    all_secrets += parse_keylog(keylog, findings)
    all_secrets += _trace_secrets(client_trace) + _trace_secrets(server_trace)
    chosen = _secrets_for(all_secrets, hellos.client_random, findings)
    suite = SUITES.get(hellos.cipher_suite) if hellos.cipher_suite is not None else None
    # Decrypting shows messages, which give more of the key schedule, which
    # opens more records (from an (EC)DHE secret alone: the handshake keys,
    # then after the Finished the application keys): repeat until stable.
    derived: dict[str, bytes] = {}
    for _ in range(4):
        passing: list[Finding] = []
        opened = _decrypt(records, hellos, suite, {**derived, **chosen}, passing)
        messages, alerts = _reassemble(opened, passing)
        draft = Recording(client, server, tls_version=hellos.version, cipher_suite=hellos.cipher_suite, handshake_messages=tuple(messages), secrets=tuple(all_secrets))
        _, recomputed = _keyschedule.compute(draft)
        new = {label: v for label, v in recomputed.items() if label not in chosen and label not in derived}
        if not new:
            break
        derived.update(new)
    findings += passing
    all_secrets += [Secret(label, value, hellos.client_random, "inspector") for label, value in derived.items()]
    _compare_with_engine(messages, client_trace, server_trace, opened, findings)
    findings += check_records(opened, client_trace, server_trace)
    reported = engine_decisions(client_trace, server_trace)
    findings += check_decisions(reported, wire_decisions(messages))
    if certificate_phase is None:
        certificate_phase = _traced_certificate_phase(server_trace)
    recording = Recording(
        client=client,
        server=server,
        scenario=scenario,
        seed=seed,
        purekong_version=__version__,
        tls_version=hellos.version,
        cipher_suite=hellos.cipher_suite,
        records=tuple(opened),
        handshake_messages=tuple(messages),
        secrets=tuple(all_secrets),
        decisions=_with_wire_decisions(_with_engine_decisions(tuple(decisions), reported), messages),
        certificate_phase=certificate_phase,
        alerts=tuple(alerts),
        findings=tuple(findings),
    )
    return _keyschedule.recompute(recording)


def _with_engine_decisions(given: tuple[Decision, ...], reported: list[Decision]) -> tuple[Decision, ...]:
    """The caller's decisions, then the engine's own (with their reasons) for anything they did not cover."""
    covered = {(d.what, d.side) for d in given}
    return given + tuple(d for d in reported if (d.what, d.side) not in covered)


def _with_wire_decisions(given: tuple[Decision, ...], messages: list[HandshakeMessage]) -> tuple[Decision, ...]:
    """The caller's decisions, then what the wire shows about anything they did not cover."""
    covered = {d.what for d in given}
    return given + tuple(d for d in wire_decisions(messages) if d.what not in covered)


def split_records(transcript: Iterable[tuple[str, bytes]], findings: list[Finding]) -> list[Record]:
    """Cut each direction's byte stream into records, in the order they completed.

    >>> rs = split_records([(CLIENT_TO_SERVER, bytes.fromhex("150303000202")), (CLIENT_TO_SERVER, b"\\x28")], [])
    >>> [(r.index, r.offset, r.raw.hex()) for r in rs]
    [(0, 0, '15030300020228')]
    """
    buffers = {d: bytearray() for d in DIRECTIONS}
    offsets = dict.fromkeys(DIRECTIONS, 0)
    records: list[Record] = []
    for direction, data in transcript:
        if direction not in buffers:
            raise ValueError(f"direction must be {CLIENT_TO_SERVER!r} or {SERVER_TO_CLIENT!r}, not {direction!r}")
        buf = buffers[direction]
        buf += data
        while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[3:5], "big"):
            size = 5 + int.from_bytes(buf[3:5], "big")
            records.append(Record(len(records), direction, offsets[direction], bytes(buf[:size])))
            offsets[direction] += size
            del buf[:size]
    for direction, buf in buffers.items():
        if buf:
            records.append(Record(len(records), direction, offsets[direction], bytes(buf), truncated=True))
            findings.append(
                Finding("truncated", f"the {direction} stream ends inside a record ({len(buf)} bytes kept)", f"record {len(records) - 1}")
            )
    return records


@dataclass
class _Hellos:
    client_random: bytes = b""
    server_random: bytes = b""
    cipher_suite: int | None = None
    version: int | None = None


def _read_hellos(records: list[Record]) -> _Hellos:
    """The randoms, suite and version from the plaintext ClientHello and ServerHello (the dissector's reading)."""
    found = _Hellos()
    hello = _first_plaintext(records, CLIENT_TO_SERVER, 1)
    if hello is not None:
        randoms = _leaves(dissect_handshake(hello), "random")
        found.client_random = randoms[0] if randoms else b""
    server_hello = _first_plaintext(records, SERVER_TO_CLIENT, 2)
    if server_hello is not None:
        tree = dissect_handshake(server_hello)
        fields = {f.name: f.value for f in tree.walk() if not f.children}
        random = fields.get("random")
        found.server_random = random if isinstance(random, bytes) else b""
        suite, version = fields.get("cipher_suite"), fields.get("selected_version", fields.get("legacy_version"))
        found.cipher_suite = suite if isinstance(suite, int) else None
        found.version = version if isinstance(version, int) else None
    return found


def _first_plaintext(records: list[Record], direction: str, msg_type: int) -> bytes | None:
    """The first plaintext handshake message of this type (a HelloRetryRequest is not a ServerHello)."""
    stream = b"".join(r.fragment for r in records if r.direction == direction and r.content_type == 22 and not r.truncated)
    for found_type, body in _plaintext_messages(stream):
        raw = bytes([found_type]) + len(body).to_bytes(3, "big") + body
        if found_type == msg_type and not is_hello_retry_request(raw):
            return raw
    return None


def _plaintext_messages(stream: bytes) -> Iterable[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(stream):
        size = int.from_bytes(stream[pos + 1 : pos + 4], "big")
        yield stream[pos], stream[pos + 4 : pos + 4 + size]
        if stream[pos] == 2 and stream[pos + 6 : pos + 38] != HRR_RANDOM:
            return  # what follows a ServerHello may be encrypted; a HelloRetryRequest is followed by another
        pos += 4 + size


def _leaves(tree: Field, name: str) -> list[bytes]:
    return [f.value for f in tree.walk() if f.name == name and not f.children and isinstance(f.value, bytes)]


def _ticket_psk(previous: Recording, records: list[Record], findings: list[Finding]) -> list[Secret]:
    """The PSK of the earlier connection's ticket this ClientHello offers (RFC 8446 §4.6.1)."""
    hello = _first_plaintext(records, CLIENT_TO_SERVER, 1)
    if hello is None:
        return []
    offered = _leaves(dissect_handshake(hello), "ticket")
    tickets = [m for m in previous.handshake_messages if m.msg_type == 4 and m.direction == SERVER_TO_CLIENT]
    for i, message in enumerate(tickets):
        psk = previous.secret(f"ticket_psk_{i}")
        if psk is not None and set(_leaves(dissect_handshake(message.raw), "ticket")) & set(offered):
            return [Secret("psk", psk, source="inspector")]
    findings.append(Finding("missing_key", "the ClientHello offers no ticket of the previous recording whose PSK is known", "psk", "warning"))
    return []


def parse_keylog(keylog: str | Iterable[str], findings: list[Finding]) -> list[Secret]:
    """Read NSS key-log lines (RFC 9850); a malformed line is a finding, not an error.

    >>> parse_keylog("# comment\\nCLIENT_RANDOM 0a 0b\\nnonsense\\n", found := [])
    [Secret(label='CLIENT_RANDOM', value=b'\\x0b', client_random=b'\\n', source='keylog')]
    >>> found[0].message
    'key-log line 3 is not LABEL CLIENT_RANDOM SECRET'
    """
    lines = keylog.splitlines() if isinstance(keylog, str) else list(keylog)
    result = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 3 and not parts[0].isupper():
            continue  # a purekong trace name (e.g. ecdhe_shared_secret), not a key-log label
        try:
            if len(parts) != 3:
                raise ValueError
            result.append(Secret(parts[0], bytes.fromhex(parts[2]), bytes.fromhex(parts[1]), "keylog"))
        except ValueError:
            findings.append(Finding("keylog", f"key-log line {number} is not LABEL CLIENT_RANDOM SECRET", f"key-log line {number}", "warning"))
    return result


def _trace_secrets(trace: list[object]) -> list[Secret]:
    result = []
    for event in trace:
        label, value, client_random = (getattr(event, name, None) for name in ("label", "secret", "client_random"))
        if isinstance(label, str) and isinstance(value, bytes) and isinstance(client_random, bytes):
            result.append(Secret(label, value, client_random, "engine"))
    return result


def _traced_certificate_phase(server_trace: list[object]) -> CertificatePhase | None:
    """What a traced ServerConnection reported at proceed() (its CertificatePhaseTrace)."""
    for event in reversed(server_trace):
        chains = getattr(event, "certificate_chains", None)
        if isinstance(chains, tuple):
            return CertificatePhase(
                certificate_chain=chains[0] if chains else (),
                request_client_certificate=bool(getattr(event, "request_client_certificate", False)),
                client_ca_names=tuple(getattr(event, "client_ca_names", ())),
                session_reuse=bool(getattr(event, "session_reuse", True)),
                alpn_protocols=tuple(getattr(event, "alpn_protocols", ())),
                server_name=getattr(event, "server_name", None),
            )
    return None


def _secrets_for(secrets: list[Secret], client_random: bytes, findings: list[Finding]) -> dict[str, bytes]:
    """The secrets of this connection by label; two sources disagreeing is a finding."""
    chosen: dict[str, Secret] = {}
    for s in secrets:
        if s.client_random and client_random and s.client_random != client_random:
            continue
        first = chosen.setdefault(s.label, s)
        if first.value != s.value:
            findings.append(
                Finding("mismatch", f"{s.label}: {first.source} and {s.source} report different values", s.label, expected=first.value, actual=s.value)
            )
    if secrets and not chosen:
        findings.append(Finding("keylog", "no key-log line is for this connection's client random", "keylog", "warning"))
    return {label: s.value for label, s in chosen.items()}


@dataclass
class _Keys:
    """The keys one direction will use, in order, and where it is in them."""

    suite: SuiteParameters
    candidates: list[tuple[str, str, TrafficKey | None]]  # (epoch, secret label, keys)
    prefix: str  # "CLIENT" or "SERVER", for KeyUpdate labels
    secrets: dict[str, bytes]
    position: int = -1
    seq: int = 0
    missing: dict[str, int] = field(default_factory=dict)

    def candidate(self, j: int) -> tuple[str, str, TrafficKey | None] | None:
        while j >= len(self.candidates) and self.suite.tls13 and len(self.candidates) < MAX_KEY_UPDATES:
            epoch, label, last = self.candidates[-1]
            if not epoch.startswith(EPOCH_APPLICATION):
                return None
            generation = len([c for c in self.candidates if c[0].startswith(EPOCH_APPLICATION)])
            new_label = f"{self.prefix}_TRAFFIC_SECRET_{generation}"
            secret = self.secrets.get(new_label)
            if secret is None and label in self.secrets:
                secret = next_traffic_secret(self.suite.hash_name, self.secrets[label])
                self.secrets[new_label] = secret
            self.candidates.append((application_epoch(generation), new_label, self._keys(application_epoch(generation), new_label)))
        return self.candidates[j] if j < len(self.candidates) else None

    def _keys(self, epoch: str, label: str) -> TrafficKey | None:
        secret = self.secrets.get(label)
        if secret is None:
            return None
        key, iv = traffic_keys(self.suite.hash_name, secret, self.suite.key_length)
        return TrafficKey(epoch, label, key, iv)


def _key_plan(direction: str, hellos: _Hellos, suite: SuiteParameters, secrets: dict[str, bytes]) -> _Keys:
    prefix = "CLIENT" if direction == CLIENT_TO_SERVER else "SERVER"
    keys = _Keys(suite, [], prefix, secrets)
    if suite.tls13:
        labels = [(EPOCH_HANDSHAKE, f"{prefix}_HANDSHAKE_TRAFFIC_SECRET"), (EPOCH_APPLICATION, f"{prefix}_TRAFFIC_SECRET_0")]
        if direction == CLIENT_TO_SERVER:
            labels.insert(0, (EPOCH_EARLY, "CLIENT_EARLY_TRAFFIC_SECRET"))
        keys.candidates = [(epoch, label, keys._keys(epoch, label)) for epoch, label in labels]
    else:
        master = secrets.get("CLIENT_RANDOM")
        key: TrafficKey | None = None
        if master is not None:
            _, parts = tls12_key_block(suite, master, hellos.client_random, hellos.server_random)
            side = prefix.lower()
            key = TrafficKey(EPOCH_APPLICATION, "CLIENT_RANDOM", parts[f"{side}_write_key"], parts[f"{side}_write_iv"])
        keys.candidates = [(EPOCH_APPLICATION, "CLIENT_RANDOM", key)]
    return keys


def _decrypt(
    records: list[Record], hellos: _Hellos, suite: SuiteParameters | None, secrets: dict[str, bytes], findings: list[Finding]
) -> list[Record]:
    plans = {d: _key_plan(d, hellos, suite, dict(secrets)) if suite else None for d in DIRECTIONS}
    after_ccs = dict.fromkeys(DIRECTIONS, False)
    out = []
    for record in records:
        plan = plans[record.direction]
        protected = record.content_type == 23 or (suite is not None and not suite.tls13 and after_ccs[record.direction])
        if suite is not None and not suite.tls13 and record.content_type == 20 and not after_ccs[record.direction]:
            after_ccs[record.direction] = True
            if plan is not None:
                plan.position = 0
        if not protected or record.truncated:
            out.append(record)
            continue
        out.append(_open(record, plan))
    for direction, plan in plans.items():
        for label, count in (plan.missing.items() if plan else ()):
            findings.append(Finding("missing_key", f"{count} {direction} record(s) not decrypted: {label} is not known", label))
    undecrypted = [r.index for r in out if r.epoch == EPOCH_UNKNOWN]
    if suite is None and undecrypted:
        findings.append(Finding("undecryptable", f"{len(undecrypted)} protected record(s) and no ServerHello naming a known AEAD suite", "records"))
    return out


def _open(record: Record, plan: _Keys | None) -> Record:
    if plan is None:
        return dataclasses.replace(record, epoch=EPOCH_UNKNOWN)
    start = max(plan.position, 0)
    j = start
    tried_missing = ""
    while (cand := plan.candidate(j)) is not None and j <= start + 3:
        epoch, label, key = cand
        if key is None:
            tried_missing = label  # the latest epoch without keys is the likeliest one
        else:
            seq = plan.seq if j == plan.position else 0
            opened = open_record(plan.suite, key, seq, record.raw)
            if opened is not None:
                plan.position, plan.seq = j, seq + 1
                return dataclasses.replace(record, epoch=epoch, decrypted=opened)
        j += 1
    plan.seq += 1
    reason = tried_missing or "(the keys known do not open it)"
    plan.missing[reason] = plan.missing.get(reason, 0) + 1
    return dataclasses.replace(record, epoch=EPOCH_UNKNOWN)


def _reassemble(records: list[Record], findings: list[Finding]) -> tuple[list[HandshakeMessage], list[Alert]]:
    """Handshake messages from the (decrypted) handshake records, and the alerts."""
    messages: list[HandshakeMessage] = []
    alerts: list[Alert] = []
    pending: dict[str, tuple[bytearray, list[int], str]] = {d: (bytearray(), [], "") for d in DIRECTIONS}
    for record in records:
        if record.epoch == EPOCH_UNKNOWN or record.truncated:
            continue
        content_type, content = record.inner_content_type, record.content
        buf, indexes, epoch = pending[record.direction]
        if buf and (content_type != 22 or epoch != record.epoch):
            findings.append(Finding("malformed", f"a {record.direction} handshake message is cut by record {record.index}", f"record {record.index}"))
            pending[record.direction] = (bytearray(), [], "")
            buf, indexes, epoch = pending[record.direction]
        if content_type == 21:
            for pos in range(0, len(content) - 1, 2):
                alerts.append(Alert(record.direction, content[pos], content[pos + 1], record.epoch, record.index))
            if len(content) % 2:
                findings.append(Finding("malformed", f"record {record.index}: an alert is 2 bytes, not {len(content)}", f"record {record.index}"))
            continue
        if content_type != 22:
            continue
        if not buf:
            epoch = record.epoch
        buf += content
        indexes.append(record.index)
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[1:4], "big"):
            size = 4 + int.from_bytes(buf[1:4], "big")
            messages.append(HandshakeMessage(record.direction, buf[0], bytes(buf[:size]), epoch, tuple(indexes)))
            del buf[:size]
            indexes = [record.index] if buf else []
        pending[record.direction] = (buf, indexes, epoch)
    for direction, (buf, _, _) in pending.items():
        if buf:
            findings.append(Finding("truncated", f"the {direction} handshake stream ends inside a message ({len(buf)} bytes)", direction))
    return messages, alerts


def _compare_with_engine(
    messages: list[HandshakeMessage], client_trace: list[object], server_trace: list[object], records: list[Record], findings: list[Finding]
) -> None:
    """Every handshake message the engine reported must be the one on the wire."""
    for role, trace in (("client", client_trace), ("server", server_trace)):
        for direction in DIRECTIONS:
            sent = (direction == CLIENT_TO_SERVER) == (role == "client")
            wanted = "sent" if sent else "received"
            reported = [getattr(e, "raw") for e in trace if getattr(e, "direction", None) == wanted and hasattr(e, "msg_type")
                        and isinstance(getattr(e, "raw", None), bytes)]
            on_wire = [m.raw for m in messages if m.direction == direction]
            complete = not any(r.epoch == EPOCH_UNKNOWN for r in records if r.direction == direction)
            for i, raw in enumerate(reported):
                if i >= len(on_wire):
                    if complete:
                        findings.append(Finding("mismatch", f"the {role} reported a {direction} handshake message #{i} the wire does not show", f"{role} trace", actual=raw))
                    break
                if raw != on_wire[i]:
                    findings.append(
                        Finding("mismatch", f"the {role}'s {direction} handshake message #{i} differs from the wire", f"{role} trace", expected=on_wire[i], actual=raw)
                    )


__all__ = ["EPOCH_PLAINTEXT", "build_recording", "parse_keylog", "split_records"]
