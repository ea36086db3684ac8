"""The engine's own report (records and decisions), checked against the inspector's reading of the wire.

A traced purekong connection reports every record it sent or received
(``RecordTrace``: raw bytes, epoch, sequence number, nonce, additional
data, tag, inner type, padding, plaintext) and every decision with its
reason (``DecisionTrace``). The inspector has read the same records from
the bytes on its own; here the two are compared field by field, and the
engine's decisions against what the wire shows. Any disagreement is a
``mismatch`` finding. Events are read by their attributes, so this module
does not import the engine.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from ._recording import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Decision, Finding, Record

_ROLES = (("client", CLIENT_TO_SERVER), ("server", SERVER_TO_CLIENT))
#: Decisions the wire shows too, so the engine's can be checked.
_ON_THE_WIRE = ("version", "cipher_suite", "group", "hello_retry_request", "signature_scheme", "resumption")


def engine_decisions(client_trace: Iterable[object], server_trace: Iterable[object]) -> list[Decision]:
    """Each side's DecisionTrace events as the recording's Decisions (``side`` = who decided)."""
    out = []
    for role, trace in (("client", client_trace), ("server", server_trace)):
        for event in trace:
            if hasattr(event, "topic") and hasattr(event, "why"):
                details = dict(getattr(event, "details", {}) or {})
                out.append(Decision(event.topic, str(getattr(event, "what", "")), event.why, getattr(event, "rfc", ""), role,
                                    {str(k): _json(v) for k, v in details.items()}))
    return out


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return str(value)


def _same(topic: str, engine: str, wire: str) -> bool:
    if topic == "version":
        return re.sub(r"[\sv]", "", engine) == re.sub(r"[\sv]", "", wire)
    if topic == "resumption":
        return engine.split(" ")[0] == wire.split(" ")[0]
    return engine == wire


def check_decisions(engine: list[Decision], wire: list[Decision]) -> list[Finding]:
    """The engine's choice of each thing the wire also shows must be the one the wire shows."""
    shown = {d.what: d.value for d in wire}
    findings = []
    for decision in engine:
        if decision.what not in _ON_THE_WIRE:
            continue
        seen = shown.get(decision.what)
        if seen is None or not _same(decision.what, decision.value, seen):
            findings.append(Finding("mismatch", f"the {decision.side} reported {decision.what} {decision.value!r}; the wire shows "
                                    + (repr(seen) if seen is not None else "none"), f"{decision.side} decision {decision.what}"))
    return findings


def check_records(records: list[Record], client_trace: Iterable[object], server_trace: Iterable[object]) -> list[Finding]:
    """Every record each engine reported against the inspector's reading of the same record."""
    findings: list[Finding] = []
    traces: dict[str, list[Any]] = {"client": [e for e in client_trace if hasattr(e, "outer_type")],
              "server": [e for e in server_trace if hasattr(e, "outer_type")]}
    for role, sent_direction in _ROLES:
        for wanted, direction in (("sent", sent_direction), ("received", _other(sent_direction))):
            reported = [e for e in traces[role] if e.direction == wanted]
            on_wire = [r for r in records if r.direction == direction and not r.truncated]
            cut = any(r.truncated for r in records if r.direction == direction)
            if wanted == "sent" and len(reported) > len(on_wire) and not cut:
                findings.append(Finding("mismatch", f"the {role} reported {len(reported)} records sent; the wire has {len(on_wire)}",
                                        f"{role} records"))
            for event, record in zip(reported, on_wire):
                findings += _compare(role, event, record)
    return findings


def _other(direction: str) -> str:
    return SERVER_TO_CLIENT if direction == CLIENT_TO_SERVER else CLIENT_TO_SERVER


def _compare(role: str, event: Any, record: Record) -> list[Finding]:
    subject = f"record {record.index}"
    if event.raw != record.raw:
        return [Finding("mismatch", f"the {role}'s {event.direction} record differs from the wire's record #{record.index}", subject,
                        expected=record.raw, actual=event.raw)]
    d = record.decrypted
    if d is None:
        if event.seq is not None and record.epoch != "plaintext":
            return []  # the inspector could not open it: already a finding of its own
        ours: dict[str, object] = {"epoch": record.epoch, "inner content type": record.content_type, "plaintext": record.fragment}
    else:
        ours = {"epoch": record.epoch, "inner content type": d.inner_content_type, "padding length": d.padding_length,
                "sequence number": d.sequence_number, "nonce": d.nonce, "additional data": d.additional_data, "tag": d.tag,
                "plaintext": d.plaintext}
    theirs: dict[str, object] = {"epoch": event.epoch, "inner content type": event.inner_type, "padding length": event.padding,
                                 "sequence number": event.seq, "nonce": event.nonce, "additional data": event.additional_data,
                                 "tag": event.tag, "plaintext": event.plaintext}
    out = []
    for name, value in ours.items():
        if theirs[name] != value:
            other = theirs[name]
            expected = value if isinstance(value, bytes) else None
            actual = other if isinstance(other, bytes) else None
            out.append(Finding("mismatch", f"record #{record.index} ({role} {event.direction}): the engine's {name} is "
                                           f"{_show(theirs[name])}, the inspector read {_show(value)}", subject,
                               expected=expected, actual=actual))
    return out


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return value[:16].hex() + ("..." if len(value) > 16 else "")
    return repr(value)
