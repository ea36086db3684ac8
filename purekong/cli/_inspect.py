"""``purekong inspect``: read a TLS handshake, from a scenario, a live server,
a capture, RFC 8448 or a saved recording, in the terminal, HTML, JSON or pcapng.

    purekong inspect --list
    purekong inspect --scenario mtls --why
    purekong inspect --connect example.org:443 --html out.html
    purekong inspect --pcap trace.pcapng --keylog-in keys.log --data
    purekong inspect saved.json --keys
    purekong inspect diff a.json b.json

Errors in flags or inputs are one line naming the flag, and exit status 2
(usage) or 1 (the input could not be read or the connection failed).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from purekong._hostport import split_host_port, strip_brackets

MAX_RECORDING_BYTES = 64 * 1024 * 1024
MAX_KEYLOG_BYTES = 16 * 1024 * 1024

_SOURCES = ("scenario", "connect", "pcap", "rfc8448")


class InspectError(Exception):
    """A one-line message for the user."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a TLS handshake: ladder, bytes, keys, decrypted data, decisions",
        description="Show a TLS handshake. Give one source (a scenario, --connect, --pcap, --rfc8448 or a "
                    "RECORDING.json); with no output flag the terminal view is printed. "
                    "'purekong inspect diff A.json B.json' compares two recordings.",
    )
    source = parser.add_argument_group("source (one of)")
    source.add_argument("inputs", nargs="*", metavar="RECORDING.json", help="a recording saved with --json (or: diff A.json B.json)")
    source.add_argument("--scenario", metavar="NAME", help="a built-in scenario (see --list)")
    source.add_argument("--connect", metavar="HOST:PORT", help="connect to a TLS server as a purekong client")
    source.add_argument("--pcap", metavar="FILE", help="a pcap or pcapng capture of someone's TLS connection")
    source.add_argument("--rfc8448", metavar="SECTION", help="an RFC 8448 trace: 3, 4, 5, 6 or 7")
    source.add_argument("--live", action="store_true",
                        help="with --rfc8448 3: purekong's server replays the RFC's inputs; each value beside the RFC's")
    source.add_argument("--list", action="store_true", help="list the built-in scenarios")
    live = parser.add_argument_group("--scenario / --connect / --pcap options")
    live.add_argument("--seed", type=int, default=0, metavar="N", help="seed of a scenario's randomness (default 0)")
    live.add_argument("--keylog-in", metavar="FILE", help="SSLKEYLOGFILE for --pcap")
    live.add_argument("--sni", metavar="NAME", help="server name to send with --connect (default: the host)")
    live.add_argument("--cert", metavar="PEM", help="client certificate chain for --connect")
    live.add_argument("--key", metavar="PEM", help="client private key for --connect")
    live.add_argument("--ca", metavar="PEM", help="verify the --connect server against these CA certificates")
    live.add_argument("--tls12", action="store_true", help="--connect offering TLS 1.2 only")
    live.add_argument("--tls13", action="store_true", help="--connect offering TLS 1.3 only")
    live.add_argument("--alpn", metavar="P1,P2", help="ALPN protocols to offer with --connect")
    live.add_argument("--http", action="store_true", help="send one HTTP/1.1 GET after the --connect handshake")
    live.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="--connect socket timeout (default 5)")
    view = parser.add_argument_group("terminal view")
    view.add_argument("--bytes", action="store_true", help="every handshake message field by field, with its bytes")
    view.add_argument("--keys", action="store_true", help="the key schedule and every secret")
    view.add_argument("--data", action="store_true", help="the decrypted records")
    view.add_argument("--why", action="store_true", help="the decisions, the certificate phase and the alerts")
    view.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour (default: auto)")
    out = parser.add_argument_group("outputs (any number; with none, the terminal view)")
    out.add_argument("--html", metavar="FILE", help="one self-contained HTML page")
    out.add_argument("--json", metavar="FILE", help="the recording as JSON (docs/inspect-schema.md)")
    out.add_argument("--pcapng", metavar="FILE", help="a pcapng with the secrets embedded: opens decrypted in Wireshark")
    out.add_argument("--keylog", metavar="FILE", help="the NSS key log (SSLKEYLOGFILE format)")
    parser.set_defaults(func=run)

    def one_line_error(message: str) -> NoReturn:
        parser.exit(2, f"purekong inspect: {message}\n")
        raise AssertionError  # exit() raises SystemExit

    parser.error = one_line_error


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except InspectError as exc:
        print(f"purekong inspect: {exc}", file=sys.stderr)
        return 1 if not str(exc).startswith("usage") else 2
    except BrokenPipeError:  # `purekong inspect ... | head`
        return 0
    except ModuleNotFoundError as exc:
        if exc.name not in ("rich", "dpkt"):
            raise
        print(f"purekong inspect: needs {exc.name}: pip install 'purekong[inspect]'", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    if args.list:
        return _list()
    if args.inputs[:1] == ["diff"]:
        return _diff(args)
    recording, title, chunks = _load(args)
    wrote = False
    if args.json:
        text = recording.to_json()
        _write_text(args.json, "--json", text)
        if len(text) > MAX_RECORDING_BYTES:
            print(f"purekong inspect: note: --json {args.json} is {len(text):,} bytes, more than the {MAX_RECORDING_BYTES:,} "
                  "this command reads back; --pcapng keeps the same connection in a quarter of the space", file=sys.stderr)
        wrote = True
    if args.keylog:
        _write_text(args.keylog, "--keylog", recording.keylog())
        wrote = True
    if args.pcapng:
        from purekong.inspect._pcapng import write_pcapng

        try:
            with open(args.pcapng, "wb") as stream:
                write_pcapng(stream, chunks, recording.keylog(), client=_split(recording.client.address, "192.0.2.1", 50_000),
                             server=_split(recording.server.address, "192.0.2.2", 443))
        except OSError as exc:
            raise InspectError(f"--pcapng {args.pcapng}: {exc.strerror}") from None
        wrote = True
    if args.html:
        from purekong.inspect._html import render_html

        _write_text(args.html, "--html", render_html(recording, title=title))
        wrote = True
    if not wrote or args.bytes or args.keys or args.data or args.why:
        from purekong.inspect._terminal import Options, make_console, render

        color = {"auto": None, "always": True, "never": False}[args.color]
        render(recording, make_console(color=color), Options(args.bytes, args.keys, args.data, args.why), title=title)
        if args.rfc8448 is not None and args.live:
            _print_live_checks(args.live_replay)
        elif args.rfc8448 is not None:
            _print_rfc8448_checks(args.rfc8448)
    return 0


def _list() -> int:
    from purekong.inspect._scenarios import SCENARIOS

    width = max(len(name) for name in SCENARIOS)
    for scenario in SCENARIOS.values():
        print(f"{scenario.name:<{width}}  {scenario.title}: {scenario.teaches}")
    return 0


def _load(args: argparse.Namespace) -> tuple[Any, str, list[tuple[str, bytes]]]:
    chosen = [name for name in _SOURCES if getattr(args, name) is not None] + (["RECORDING.json"] if args.inputs else [])
    if len(chosen) != 1:
        flags = ", ".join(f"--{c}" if c in _SOURCES else c for c in chosen)
        raise InspectError("usage: give exactly one source: --scenario, --connect, --pcap, --rfc8448 or a RECORDING.json"
                           + (f" (got {flags})" if chosen else " (try --list)"))
    if args.live and args.rfc8448 is None:
        raise InspectError("usage: --live goes with --rfc8448")
    if args.keylog_in and not args.pcap:
        raise InspectError("usage: --keylog-in goes with --pcap")
    if args.connect is None:
        live_only = [f"--{name}" for name in ("sni", "cert", "key", "ca", "alpn") if getattr(args, name)]
        live_only += [f"--{name}" for name in ("tls12", "tls13", "http") if getattr(args, name)]
        if live_only:
            raise InspectError(f"usage: {', '.join(live_only)} go(es) with --connect")
    if args.scenario is not None:
        return _from_capture(_scenario(args))
    if args.connect is not None:
        return _from_capture(_connect(args))
    if args.pcap is not None:
        from purekong.inspect._pcapread import CaptureError, read_capture

        keylog = _read_text(args.keylog_in, "--keylog-in", MAX_KEYLOG_BYTES) if args.keylog_in else ""
        try:
            return _from_capture(read_capture(args.pcap, keylog))
        except CaptureError as exc:
            raise InspectError(str(exc)) from None
    if args.rfc8448 is not None and args.live:
        return _rfc8448_live(args)
    if args.rfc8448 is not None:
        return _rfc8448(args.rfc8448)
    if len(args.inputs) != 1:
        raise InspectError(f"usage: one RECORDING.json at a time (got {len(args.inputs)}); to compare two, use 'inspect diff A B'")
    recording = _read_recording(args.inputs[0])
    return recording, os.path.basename(args.inputs[0]), _chunks(recording)


def _from_capture(capture: Any) -> tuple[Any, str, list[tuple[str, bytes]]]:
    from purekong.inspect._adapter import recording_from_capture

    chunks = [(c.direction, c.data) for c in capture.chunks]
    return recording_from_capture(capture), capture.title, chunks


def _chunks(recording: Any) -> list[tuple[str, bytes]]:
    return [(record.direction, record.raw) for record in recording.records]


def _scenario(args: argparse.Namespace) -> Any:
    from purekong.inspect._scenarios import SCENARIOS, run_scenario

    if args.scenario not in SCENARIOS:
        raise InspectError(f"usage: --scenario {args.scenario!r} is not a scenario; one of: {', '.join(SCENARIOS)}")
    return run_scenario(args.scenario, args.seed)


def _connect(args: argparse.Namespace) -> Any:
    from purekong.engine import CertifiedKey, load_pem_certificates
    from purekong.inspect._live import LiveError, LiveOptions, connect

    host, port_text = split_host_port(args.connect)
    if not host or port_text is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InspectError(f"usage: --connect {args.connect!r}: expected HOST:PORT, e.g. localhost:8443 or [::1]:8443")
    host = strip_brackets(host)
    if args.tls12 and args.tls13:
        raise InspectError("usage: --tls12 and --tls13 together; give one (or neither for both)")
    if bool(args.cert) != bool(args.key):
        raise InspectError("usage: --cert and --key go together")
    certificate = None
    if args.cert:
        try:
            certificate = CertifiedKey.load(args.cert, args.key)
        except (OSError, ValueError) as exc:
            raise InspectError(f"--cert/--key: {exc}") from None
    trusted: tuple[Any, ...] = ()
    if args.ca:
        try:
            trusted = tuple(load_pem_certificates(_read_text(args.ca, "--ca", MAX_KEYLOG_BYTES)))
        except ValueError as exc:
            raise InspectError(f"--ca {args.ca}: {exc}") from None
    versions = ("TLSv1.2",) if args.tls12 else ("TLSv1.3",) if args.tls13 else ("TLSv1.3", "TLSv1.2")
    alpn = tuple(p for p in (args.alpn or "").split(",") if p)
    options = LiveOptions(host, int(port_text), args.sni, versions, alpn, certificate, trusted, args.http, args.timeout)
    try:
        return connect(options)
    except LiveError as exc:
        raise InspectError(str(exc)) from None


def _rfc8448(section: str) -> tuple[Any, str, list[tuple[str, bytes]]]:
    from purekong.inspect import RFC8448Error, rfc8448

    number = section.lstrip("§")
    if not number.isdigit():
        raise InspectError(f"usage: --rfc8448 {section!r}: give a section number: 3, 4, 5, 6 or 7")
    try:
        recording = rfc8448(int(number))
    except RFC8448Error as exc:
        raise InspectError(f"usage: --rfc8448 {section!r}: {exc}") from None
    return recording, f"RFC 8448 §{number}", _chunks(recording)


def _rfc8448_live(args: argparse.Namespace) -> tuple[Any, str, list[tuple[str, bytes]]]:
    from purekong.inspect import RFC8448Error
    from purekong.inspect._rfc8448_live import replay

    number = args.rfc8448.lstrip("§")
    try:
        args.live_replay = replay(int(number) if number.isdigit() else -1)
    except RFC8448Error as exc:
        raise InspectError(f"usage: --rfc8448 {args.rfc8448!r} --live: {exc}") from None
    return _from_capture(args.live_replay.capture)


def _print_live_checks(live: Any) -> None:
    """The engine's values beside the RFC's: what matches, and why the rest differs."""
    computed = [c for c in live.checks if not c.given]
    same = sum(c.ok for c in computed)
    print(f"\nRFC 8448 live: purekong's server on the RFC's inputs: {same} of {len(computed)} values the same as the RFC's")
    for check in live.checks:
        mark = "DIFFERS" if not check.ok else "GIVEN" if check.given else "SAME"
        print(f"  {mark:<8} {check.name}")
        if check.given or not check.ok:
            print(f"           {check.why}")
        if not check.ok:
            print(f"           RFC:      {check.rfc.hex()[:64]}{'...' if len(check.rfc) > 32 else ''}")
            engine = check.engine.hex()[:64] + ("..." if len(check.engine) > 32 else "") if check.engine is not None else "(none)"
            print(f"           purekong: {engine}")
    print("  random= draws, in order: " + ", ".join(f"{label} ({n} B)" for label, n in live.drawn))


def _print_rfc8448_checks(section: str) -> None:
    """The RFC's printed values beside the inspector's: a count, and every one that differs."""
    from purekong.inspect import rfc8448_checks

    checks = rfc8448_checks(int(section.lstrip("§")))
    wrong = [c for c in checks if not c.ok]
    print(f"\nRFC 8448 §{section.lstrip('§')}: {len(checks) - len(wrong)} of {len(checks)} printed values reproduced by the inspector")
    for check in wrong:
        actual = check.actual.hex() if check.actual is not None else "(not computed)"
        print(f"  DIFFERS  {check.step}: {check.label}\n    RFC:       {check.expected.hex()}\n    inspector: {actual}")


def _diff(args: argparse.Namespace) -> int:
    from purekong.inspect._diff import diff

    if len(args.inputs) != 3:
        raise InspectError("usage: purekong inspect diff A.json B.json")
    a, b = (_read_recording(path) for path in args.inputs[1:])
    differences = diff(a, b)
    for difference in differences:
        print(difference.line())
    if not differences:
        print("no semantic differences (randoms, keys and ciphertext are not compared)")
    return 0


def _read_text(path: str, flag: str, limit: int) -> str:
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise InspectError(f"{flag} {path}: {size:,} bytes is more than the {limit:,}-byte limit")
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.read()
    except OSError as exc:
        raise InspectError(f"{flag} {path}: {exc.strerror}") from None


def _read_recording(path: str) -> Any:
    from purekong.inspect import Recording, RecordingFormatError

    text = _read_text(path, "RECORDING.json", MAX_RECORDING_BYTES)
    try:
        return Recording.from_json(text)
    except RecordingFormatError as exc:
        raise InspectError(f"{path}: not a recording: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:  # a value of the right type but an impossible meaning
        raise InspectError(f"{path}: not a recording: {type(exc).__name__}: {exc}") from None


def _write_text(path: str, flag: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as exc:
        raise InspectError(f"{flag} {path}: {exc.strerror}") from None


def _split(address: str | None, host: str, port: int) -> tuple[str, int]:
    if address:
        name, number = split_host_port(address)
        if number is not None and number.isdigit():
            return strip_brackets(name), int(number)
    return host, port
