"""The terminal view: a ladder of the connection, and on request the bytes,
the key schedule, the decrypted data and the decisions.

Rendered with ``rich`` as plain lines of styled text, never tables sized to
the terminal: piped into a file or ``less`` the output is the same text
without colour, and no line depends on the terminal's width. Where stdout
cannot encode the box-drawing characters, ASCII arrows are used instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Iterable, Iterator

from rich.console import Console
from rich.text import Text

from ._recording import CLIENT_TO_SERVER, EPOCH_PLAINTEXT, EPOCH_UNKNOWN, HandshakeMessage, Record, Recording
from ._registry import alert_name, cipher_suite_name, version_name
from ._summary import application_preview, byte_count, describe_ca_names, detail_text, message_title, unique_secrets

LANE = 46  # characters between the client and the server column
HEX_LIMIT = 4096  # bytes of one message shown by --bytes before it is cut


@dataclass(frozen=True)
class Options:
    bytes: bool = False
    keys: bool = False
    data: bool = False
    why: bool = False


@dataclass(frozen=True)
class _Glyphs:
    line: str
    right: str
    left: str
    top: str
    mid: str
    bottom: str


_UNICODE = _Glyphs("─", "▶", "◀", "┌", "│", "└")
_ASCII = _Glyphs("-", ">", "<", "/", "|", "\\")

_EPOCH_STYLE = {"plaintext": "dim", "early": "magenta", "handshake": "yellow", "unknown": "bold red"}


def make_console(stream: IO[str] | None = None, *, color: bool | None = None) -> Console:
    """A console for the views: colour only on a terminal (or when asked), never wrapping."""
    return Console(file=stream, force_terminal=color, no_color=color is False, soft_wrap=True, highlight=False,
                   emoji=False, markup=False)


def _glyphs(console: Console) -> _Glyphs:
    encoding = (console.encoding or "").lower().replace("-", "")
    return _UNICODE if encoding.startswith("utf") else _ASCII


def render(recording: Recording, console: Console, options: Options = Options(), *, title: str | None = None) -> None:
    """Print the ladder, then the sections ``options`` asks for, then any findings."""
    glyphs = _glyphs(console)
    for line in header(recording, title):
        console.print(line)
    console.print()
    for line in ladder(recording, glyphs):
        console.print(line)
    if options.why:
        _section(console, "Decisions and the certificate phase", why_lines(recording))
    if options.keys:
        _section(console, "Key schedule", key_lines(recording, glyphs))
    if options.data:
        _section(console, "Decrypted records", data_lines(recording))
    if options.bytes:
        _section(console, "Handshake messages, byte by byte", byte_lines(recording))
    findings = list(finding_lines(recording))
    if findings:
        _section(console, "Findings", findings)


def _section(console: Console, title: str, lines: Iterable[Text | str]) -> None:
    console.print()
    console.print(Text(title, style="bold underline"))
    for line in lines:
        console.print(line)


def header(recording: Recording, title: str | None = None) -> Iterator[Text]:
    title = title or recording.scenario or "recording"
    line = Text("purekong inspect: ", style="bold")
    line.append(title, style="bold cyan")
    if recording.seed is not None:
        line.append(f"  (seed {recording.seed})", style="dim")
    yield line
    outcome = []
    if recording.tls_version is not None:
        outcome.append(version_name(recording.tls_version))
    if recording.cipher_suite is not None:
        outcome.append(cipher_suite_name(recording.cipher_suite))
    resumption = [d.value for d in recording.decisions if d.what == "resumption"]
    if resumption:
        outcome.append(resumption[0])
    yield Text("  " + ", ".join(outcome) if outcome else "  (no ServerHello seen)")
    ends = []
    for end in (recording.client, recording.server):
        ends.append(f"{end.role} {end.address or '?'}" + (f" ({end.implementation})" if end.implementation else ""))
    yield Text("  " + "  <->  ".join(ends), style="dim")


def ladder(recording: Recording, glyphs: _Glyphs = _UNICODE) -> Iterator[Text]:
    """One arrow per message, records grouped by a bracket, the epoch of each record.

    A long run of application-data records one way (a bulk transfer) shows
    its first and last record and one line for those between.
    """
    head = Text(f"{'#':>4}   {'epoch':<14}")
    head.append("client".ljust(LANE) + "server", style="bold")
    yield head
    messages_at: dict[int, list[HandshakeMessage]] = {}
    for message in recording.handshake_messages:
        if message.records:
            messages_at.setdefault(message.records[0], []).append(message)
    records = recording.records
    i = 0
    while i < len(records):
        run = _data_run(records, i)
        if run >= COLLAPSE_RUN:
            yield from _record_lines(records[i], [], recording, glyphs)
            hidden = records[i + 1:i + run - 1]
            size = sum(len(r.content) for r in hidden)
            yield Text(f"{'':>4}   {'':<14}" + f"  ... {len(hidden)} more records of application data, {byte_count(size)} ...", style="dim")
            yield from _record_lines(records[i + run - 1], [], recording, glyphs)
            i += run
        else:
            yield from _record_lines(records[i], messages_at.get(records[i].index, []), recording, glyphs)
            i += 1


COLLAPSE_RUN = 6  # consecutive application-data records one way shown as first, "...", last


def _data_run(records: tuple[Record, ...], start: int) -> int:
    first = records[start]
    if first.decrypted is None or first.inner_content_type != 23:
        return 1
    end = start + 1
    while (end < len(records) and records[end].direction == first.direction and records[end].epoch == first.epoch
           and records[end].decrypted is not None and records[end].inner_content_type == 23):
        end += 1
    return end - start


def _epoch_style(epoch: str) -> str:
    return "green" if epoch.startswith("application") else _EPOCH_STYLE.get(epoch, "")


def _record_lines(record: Record, messages: list[HandshakeMessage], recording: Recording, glyphs: _Glyphs) -> Iterator[Text]:
    labels = list(_record_labels(record, messages, recording))
    for i, (label, style) in enumerate(labels):
        if len(labels) == 1:
            bracket = " "
        else:
            bracket = glyphs.top if i == 0 else glyphs.bottom if i == len(labels) - 1 else glyphs.mid
        line = Text(f"{record.index:>4}" if i == 0 else "    ")
        line.append(f" {bracket} ")
        line.append(f"{record.epoch if i == 0 else '':<14}", style=_epoch_style(record.epoch))
        line.append_text(_arrow(label, record.direction, glyphs, style))
        if i == len(labels) - 1:
            line.append(f"{len(record.raw):>6} B", style="dim")
            if record.truncated:
                line.append("  truncated", style="bold red")
        yield line


def _arrow(label: str, direction: str, glyphs: _Glyphs, style: str) -> Text:
    room = LANE - len(label) - 3
    if room < 3:  # a long label: keep the arrow, let the line grow
        room = 3
    text = Text()
    if direction == CLIENT_TO_SERVER:
        text.append(label, style=style)
        text.append(" " + glyphs.line * room + glyphs.right + " ")
    else:
        text.append(" " + glyphs.left + glyphs.line * room + " ")
        text.append(label, style=style)
    return text


def _record_labels(record: Record, messages: list[HandshakeMessage], recording: Recording) -> Iterator[tuple[str, str]]:
    if record.epoch == EPOCH_UNKNOWN and record.decrypted is None:
        yield "encrypted record, not decrypted", "bold red"
        return
    kind = record.inner_content_type
    if kind == 22:
        if not messages:
            yield "handshake data (continued)", "dim"
        for message in messages:
            more = f" (+{len(message.records) - 1} records)" if len(message.records) > 1 else ""
            yield message_title(message) + more, "bold"
    elif kind == 20:
        yield "ChangeCipherSpec", "cyan"
    elif kind == 21:
        content = record.content
        if len(content) >= 2:
            level = {1: "warning", 2: "fatal"}.get(content[0], str(content[0]))
            yield f"alert: {alert_name(content[1])} ({level})", "bold red" if content[0] == 2 else "yellow"
        else:
            yield "alert (malformed)", "bold red"
    elif kind == 23:
        yield f"application data, {byte_count(len(record.content))}", "green"
    else:
        yield f"content type {kind}", "bold red"


# -- sections ------------------------------------------------------------------

def why_lines(recording: Recording) -> Iterator[Text]:
    if not recording.decisions and recording.certificate_phase is None and not recording.alerts:
        yield Text("  no decisions recorded (a capture read offline shows only what the wire says)", style="dim")
    for decision in recording.decisions:
        line = Text(f"  {decision.side:<7}", style="cyan")
        line.append(f"{decision.what}: ", style="bold")
        line.append(decision.value)
        yield line
        why, *more = decision.reason.split("\n")
        if decision.rfc and decision.rfc not in why:
            why = f"{why} ({decision.rfc})" if why else decision.rfc
        if why:
            yield Text(f"           why: {why}", style="dim")
        for detail in more + [f"{key}: {detail_text(value)}" for key, value in decision.details.items()]:
            yield Text(f"           {detail}", style="dim")
    phase = recording.certificate_phase
    if phase is not None:
        yield Text("  certificate phase (what the server application chose at proceed()):", style="bold")
        yield Text(f"    server name seen: {phase.server_name!r}")
        yield Text(f"    certificate chain: {len(phase.certificate_chain)} certificate(s)")
        yield Text(f"    request client certificate: {'yes' if phase.request_client_certificate else 'no'}")
        for name in describe_ca_names(phase.client_ca_names):
            yield Text(f"      CA DN: {name}")
        yield Text(f"    session reuse: {'allowed' if phase.session_reuse else 'disabled (disable_session_reuse)'}")
        if phase.alpn_protocols:
            yield Text(f"    ALPN offered: {', '.join(phase.alpn_protocols)}")
    for alert in recording.alerts:
        who = "client" if alert.direction == CLIENT_TO_SERVER else "server"
        line = Text(f"  {who:<7}", style="cyan")
        line.append(f"sent alert {alert.name} ({'fatal' if alert.level == 2 else 'warning'})",
                    style="bold red" if alert.level == 2 else "")
        if alert.record is not None:
            line.append(f"  in record #{alert.record}", style="dim")
        yield line
        if alert.reason:
            yield Text(f"           why: {alert.reason}" + (f" ({alert.rfc})" if alert.rfc else ""), style="dim")


def key_lines(recording: Recording, glyphs: _Glyphs = _UNICODE) -> Iterator[Text]:
    """The key schedule top-down, as RFC 8448 prints it: each call, its inputs, its output."""
    depth: dict[str, int] = {}
    for d in recording.key_schedule:
        depth[d.name] = 1 + max((depth.get(i, -1) for i in d.inputs), default=-1)
    if not recording.key_schedule:
        yield Text("  no key schedule was recomputed; the secrets reported:", style="dim")
    for d in recording.key_schedule:
        indent = "  " + "  " * depth[d.name]
        line = Text(indent)
        line.append(d.name, style="bold yellow")
        line.append(f" = {d.function}", style="cyan")
        args = list(d.inputs) + ([f'"{d.label}"'] if d.label else [])
        line.append("(" + ", ".join(args) + ")")
        if d.rfc:
            line.append(f"  {d.rfc}", style="dim")
        yield line
        if d.context_description or d.context:
            yield Text(f"{indent}    context: {d.context_description or ''} {d.context.hex()}".rstrip(), style="dim")
        yield Text(f"{indent}    {d.output.hex()}")
    yield Text("  secrets:", style="bold")
    for (label, value), sources in unique_secrets(recording).items():
        line = Text(f"    {label:<34}", style="yellow")
        line.append(value.hex())
        line.append(f"  ({', '.join(sources)})", style="dim")
        yield line


def data_lines(recording: Recording, limit: int = 64) -> Iterator[Text]:
    any_data = False
    for record in recording.records:
        if record.decrypted is None or record.inner_content_type != 23:
            continue
        any_data = True
        d = record.decrypted
        who = "client" if record.direction == CLIENT_TO_SERVER else "server"
        line = Text(f"  #{record.index:<4} {who:<7}", style="cyan")
        line.append(f"{record.epoch:<14} seq {d.sequence_number:<4} {byte_count(len(d.plaintext))}", style="dim")
        yield line
        yield Text(f"        key {d.key_label or '?'}  nonce {d.nonce.hex()}  aad {d.additional_data.hex()}  tag {d.tag.hex()}"
                   + (f"  padding {d.padding_length}" if d.padding_length else ""), style="dim")
        yield Text("        " + application_preview(d.plaintext, limit))
    undecrypted = [r.index for r in recording.records if r.epoch == EPOCH_UNKNOWN]
    if undecrypted:
        yield Text(f"  not decrypted: records {', '.join(f'#{i}' for i in undecrypted)} (no key opened them)", style="bold red")
    elif not any_data:
        yield Text("  no application data", style="dim")


def byte_lines(recording: Recording) -> Iterator[Text]:
    from ._fields import message_fields

    for message in recording.handshake_messages:
        who = "client" if message.direction == CLIENT_TO_SERVER else "server"
        records = ", ".join(f"#{i}" for i in message.records)
        yield Text(f"  {message_title(message)}  ({who}, {len(message.raw)} B, record {records}, {message.epoch})", style="bold")
        raw = message.raw[:HEX_LIMIT]
        for field in message_fields(message, tls13=recording.tls_version in (None, 0x0304)):
            if field.offset >= len(raw):
                break
            chunk = raw[field.offset:field.offset + min(field.length, 32)]
            more = "..." if field.length > 32 else ""
            line = Text(f"    {field.offset:>5}  ")
            line.append(f"{'  ' * field.depth}{field.name}", style="bold red" if field.status == "malformed" else "yellow")
            if field.value:
                line.append(f" = {field.value}")
            yield line
            if field.leaf and field.length:
                yield Text(f"           {'  ' * field.depth}{chunk.hex(' ')}{more}", style="dim")
        if len(message.raw) > HEX_LIMIT:
            yield Text(f"    ... {len(message.raw) - HEX_LIMIT} more bytes not shown", style="dim")


def finding_lines(recording: Recording) -> Iterator[Text]:
    for finding in recording.findings:
        style = "bold red" if finding.severity == "error" else "yellow"
        line = Text(f"  {finding.severity.upper():<8}", style=style)
        line.append(f"{finding.kind}: ", style="bold")
        line.append(finding.message)
        if finding.subject:
            line.append(f"  [{finding.subject}]", style="dim")
        yield line
