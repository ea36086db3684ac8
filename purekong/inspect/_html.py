"""One self-contained HTML page of a recording: no network, no CDN, opens from disk.

Python turns the Recording into a compact view model (``page_data``), the
page's own script (``_html_page.PAGE``) builds the ladder, the message
panel (fields, and their bytes highlighted on hover), the key schedule
tree, the decrypted records, the decisions and the findings from it.

Application data is summarised: each record shows its first and last bytes,
and past ``MAX_DATA_ROWS`` records only a count is kept, so the page of a
10 MB transfer stays small.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ._fields import message_fields, record_fields
from ._html_page import PAGE
from ._recording import CLIENT_TO_SERVER, EPOCH_UNKNOWN, Record, Recording
from ._registry import alert_name, cipher_suite_name, content_type_name, version_name
from ._summary import application_preview, byte_count, describe_ca_names, detail_text, message_title, unique_secrets

MAX_DATA_ROWS = 500
MAX_MESSAGE_BYTES = 16_384  # hex kept per handshake message (and per other record)
MAX_DATA_RECORD_BYTES = 256  # hex kept per application-data record


def render_html(recording: Recording, *, title: str | None = None) -> str:
    data = page_data(recording, title=title)
    # No "<" at all inside the JSON block: nothing recorded can close it or
    # open an HTML comment there.
    blob = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    return PAGE.replace("__TITLE__", html.escape(data["title"])).replace("__DATA__", blob)


def _dir(direction: str) -> str:
    return "c2s" if direction == CLIENT_TO_SERVER else "s2c"


def page_data(recording: Recording, *, title: str | None = None) -> dict[str, Any]:
    messages = []
    index_of = {}
    for i, message in enumerate(recording.handshake_messages):
        index_of[id(message)] = i
        messages.append({
            "title": message_title(message), "dir": _dir(message.direction), "epoch": message.epoch,
            "records": list(message.records), "size": len(message.raw),
            "hex": message.raw[:MAX_MESSAGE_BYTES].hex(), "cut": max(len(message.raw) - MAX_MESSAGE_BYTES, 0),
            "fields": [{"d": f.depth, "n": f.name, "o": f.offset, "l": f.length, "v": f.value, "rfc": f.rfc, "leaf": f.leaf}
                       for f in message_fields(message, tls13=recording.tls_version in (None, 0x0304))],
        })
    first_at: dict[int, list[int]] = {}
    for message in recording.handshake_messages:
        if message.records:
            first_at.setdefault(message.records[0], []).append(index_of[id(message)])
    data_budget = MAX_DATA_ROWS  # records of application data shown in detail
    records = []
    for r in recording.records:
        row = _record(r, first_at.get(r.index, []), messages)
        is_data = r.inner_content_type == 23
        if not is_data or data_budget > 0:
            data_budget -= is_data
            row.update(_record_detail(r, MAX_DATA_RECORD_BYTES if is_data else MAX_MESSAGE_BYTES))
        records.append(row)
    outcome = [version_name(recording.tls_version) if recording.tls_version else "no ServerHello seen"]
    if recording.cipher_suite is not None:
        outcome.append(cipher_suite_name(recording.cipher_suite))
    return {
        "title": title or recording.scenario or "recording",
        "summary": ", ".join(outcome),
        "client": _endpoint(recording.client), "server": _endpoint(recording.server),
        "records": records, "messages": messages,
        "keys": _keys(recording),
        "secrets": [{"label": label, "value": value.hex(), "sources": sources}
                    for (label, value), sources in unique_secrets(recording).items()],
        "data": _data_rows(recording),
        "decisions": [{"side": d.side, "what": d.what, "value": d.value, "reason": "\n".join([_with_rfc(d.reason, d.rfc)] + [f"{k}: {detail_text(v)}" for k, v in d.details.items()]),
                       "rfc": d.rfc}
                      for d in recording.decisions],
        "phase": _phase(recording),
        "alerts": [{"dir": _dir(a.direction), "name": a.name, "fatal": a.level == 2, "record": a.record,
                    "reason": a.reason, "rfc": a.rfc} for a in recording.alerts],
        "findings": [{"kind": f.kind, "message": f.message, "subject": f.subject, "severity": f.severity}
                     for f in recording.findings],
    }


def _with_rfc(reason: str, rfc: str) -> str:
    return f"{reason} ({rfc})" if rfc and rfc not in reason else reason


def _keys(recording: Recording) -> list[dict[str, Any]]:
    depth: dict[str, int] = {}  # how far each value is from the inputs: the tree's indentation
    rows = []
    for d in recording.key_schedule:
        depth[d.name] = 1 + max((depth.get(i, -1) for i in d.inputs), default=-1)
        rows.append({"name": d.name, "function": d.function, "label": d.label, "context": d.context.hex(),
                     "ctx": d.context_description, "inputs": list(d.inputs), "output": d.output.hex(), "rfc": d.rfc,
                     "depth": depth[d.name]})
    return rows


def _endpoint(endpoint: Any) -> str:
    return f"{endpoint.role} {endpoint.address or ''}" + (f" ({endpoint.implementation})" if endpoint.implementation else "")


def _record(record: Record, first: list[int], messages: list[dict[str, Any]]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    kind = record.inner_content_type
    if record.epoch == EPOCH_UNKNOWN and record.decrypted is None:
        items.append({"kind": "bad", "text": "encrypted record, not decrypted"})
    elif kind == 22:
        items += [{"kind": "hs", "text": messages[i]["title"], "msg": i} for i in first]
        if not items:
            items.append({"kind": "more", "text": "handshake data (continued)"})
    elif kind == 20:
        items.append({"kind": "ccs", "text": "ChangeCipherSpec"})
    elif kind == 21:
        content = record.content
        text = f"alert: {alert_name(content[1])}" + (" (fatal)" if content[0] == 2 else "") if len(content) >= 2 else "alert (malformed)"
        items.append({"kind": "alert", "text": text})
    elif kind == 23:
        items.append({"kind": "data", "text": f"application data, {byte_count(len(record.content))}"})
    else:
        items.append({"kind": "bad", "text": f"content type {kind}"})
    return {"i": record.index, "dir": _dir(record.direction), "epoch": record.epoch, "size": len(record.raw),
            "truncated": record.truncated, "items": items}


def _record_detail(record: Record, limit: int) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "hex": record.raw[:limit].hex(), "cut": max(len(record.raw) - limit, 0),
        "fields": [{"d": f.depth, "n": f.name, "o": f.offset, "l": f.length, "v": f.value, "rfc": f.rfc, "leaf": f.leaf}
                   for f in record_fields(record)],
    }
    d = record.decrypted
    if d is not None:
        detail["dec"] = {"key": d.key_label, "seq": d.sequence_number, "nonce": d.nonce.hex(), "aad": d.additional_data.hex(),
                         "tag": d.tag.hex(), "inner": f"{content_type_name(d.inner_content_type)} ({d.inner_content_type})", "padding": d.padding_length,
                         "plaintext": application_preview(d.plaintext, 96)}
    return detail


def _data_rows(recording: Recording) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    hidden = hidden_bytes = 0
    for record in recording.records:
        d = record.decrypted
        if d is None or d.inner_content_type != 23:
            continue
        if len(rows) >= MAX_DATA_ROWS:
            hidden += 1
            hidden_bytes += len(d.plaintext)
            continue
        rows.append({"i": record.index, "dir": _dir(record.direction), "epoch": record.epoch, "seq": d.sequence_number,
                     "len": len(d.plaintext), "nonce": d.nonce.hex(), "aad": d.additional_data.hex(), "tag": d.tag.hex(),
                     "padding": d.padding_length, "preview": application_preview(d.plaintext, 160)})
    return {"rows": rows, "hidden": hidden, "hidden_bytes": hidden_bytes}


def _phase(recording: Recording) -> dict[str, Any] | None:
    phase = recording.certificate_phase
    if phase is None:
        return None
    return {"server_name": phase.server_name, "chain": len(phase.certificate_chain),
            "request": phase.request_client_certificate, "cas": describe_ca_names(phase.client_ca_names),
            "reuse": phase.session_reuse, "alpn": list(phase.alpn_protocols)}
