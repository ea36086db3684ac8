"""``purekong probe HOST:PORT``: the testing kit's server properties against any TLS server.

See docs/testing.md. Bounded: ``--examples`` connections per property (a few
more while shrinking a failure), ``--timeout`` seconds per read,
``--max-time`` for the whole probe, 256 KiB read per connection; only the
given address is contacted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ._args import host_and_port, positive_float, positive_int


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "probe",
        help="run purekong.testing's server properties against a TLS server",
        description="Send generated ClientHellos, malformed records, early CCS and more to HOST:PORT and report "
                    "each property passed or failed, with the shrunk counterexample as bytes and in words.",
    )
    parser.add_argument("target", metavar="HOST:PORT", help="the server to probe (nothing else is contacted)")
    parser.add_argument("--sni", metavar="NAME", help="server_name to send (default: HOST unless it is an IP address)")
    versions = parser.add_mutually_exclusive_group()
    versions.add_argument("--tls12", action="store_true", help="offer TLS 1.2 only in valid hellos")
    versions.add_argument("--tls13", action="store_true", help="offer TLS 1.3 only in valid hellos")
    parser.add_argument("--client-cert", metavar="PEM", help="client certificate chain to present when asked (mTLS servers)")
    parser.add_argument("--key", metavar="PEM", help="the private key of --client-cert")
    parser.add_argument("--examples", type=positive_int, default=20, metavar="N", help="connections per property (default 20)")
    parser.add_argument("--seed", type=int, help="hypothesis seed (default: derandomized, the same run every time)")
    parser.add_argument("--timeout", type=positive_float, default=3.0, metavar="SECONDS", help="per read (default 3)")
    parser.add_argument("--max-time", type=positive_float, default=300.0, metavar="SECONDS", help="the whole probe (default 300)")
    parser.add_argument("--report", metavar="FILE.json", help="also write the report as JSON")
    parser.add_argument("--recordings", metavar="DIR",
                        help="write each failing property's counterexample as a recording for 'purekong inspect DIR/NAME.json'")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from purekong.testing._probe import Answer, Target, exchange, properties, run_property, run_sni_binding
        from purekong.testing._probe_flight import run_flight_property
        from purekong.testing._wire import records
        from purekong.testing.strategies import client_hellos
    except ImportError as exc:  # pragma: no cover - hypothesis missing
        print(f"purekong probe: needs hypothesis ({exc.name}): pip install 'purekong[testing]'", file=sys.stderr)
        return 2
    try:
        host, port = host_and_port(args.target)
    except ValueError as exc:
        print(f"purekong probe: {exc}", file=sys.stderr)
        return 2
    try:
        client_config = _client_config(args)
    except ValueError as exc:
        print(f"purekong probe: {exc}", file=sys.stderr)
        return 2
    sni = args.sni if args.sni is not None else (None if host.replace(".", "").isdigit() or ":" in host else host)
    versions = ("TLSv1.2",) if args.tls12 else ("TLSv1.3",) if args.tls13 else ("TLSv1.3", "TLSv1.2")
    target = Target(host, port, sni, versions, args.timeout)
    started = time.monotonic()

    # One valid hello first: a target that is not a TLS server gets one clear line.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hello = client_hellos(versions=versions, server_name=sni, grease=False).example()
    first: Answer = exchange(target, records(22, hello.encode(), 0x0301))
    problem = {
        "unreachable": f"cannot connect to {host}:{port}: {first.detail}",
        "closed": f"{host}:{port} closed the connection without answering a ClientHello: not a TLS server?",
        "silent": f"{host}:{port} did not answer a ClientHello within {args.timeout:g} s: not a TLS server, or stalled",
        "garbage": f"{host}:{port} answered a ClientHello with bytes that are not TLS records ({first.detail}): not a TLS server",
    }.get(first.kind)
    if problem:
        print(f"purekong probe: {problem}", file=sys.stderr)
        _write_report(args.report, {"target": args.target, "error": problem, "properties": []})
        return 2

    deadline = started + args.max_time
    results = []
    print(f"purekong probe {host}:{port} (sni {sni or '-'}, {args.examples} connections per property)")
    for prop in properties(target):
        if time.monotonic() > deadline:
            print(f"  stopped: --max-time {args.max_time:g} s reached")
            break
        result = run_property(target, prop, args.examples, args.seed, deadline)
        results.append(result)
        _print_result(result)
    if time.monotonic() < deadline:
        result = run_flight_property(target, client_config, args.examples, deadline)
        results.append(result)
        _print_result(result)
    if time.monotonic() < deadline:
        result = run_sni_binding(target)
        results.append(result)
        print(f"  {'PASS' if result.passed else 'FAIL'}  {result.name}: {result.description} ({result.answer})")
        if not result.passed:
            print(f"        counterexample: {result.counterexample}")
    findings = [r for r in results if not r.passed]
    if args.recordings:
        _write_recordings(args.recordings, findings)
    print(f"{len(findings)} finding(s) in {time.monotonic() - started:.1f} s")
    _write_report(args.report, {"target": args.target, "server_name": sni, "findings": len(findings),
                                "properties": [r.as_dict() for r in results]})
    return 1 if findings else 0


def _print_result(result: Any) -> None:
    print(f"  {'PASS' if result.passed else 'FAIL'}  {result.name}: {result.description} ({result.connections} connections)")
    if not result.passed:
        print(f"        counterexample: {result.counterexample}")
        print(f"        bytes: {result.counterexample_bytes[:160]}{'...' if len(result.counterexample_bytes) > 160 else ''}")
    for divergence in result.divergences:
        kind = "" if divergence.startswith("not applicable") else "divergence (named, not a finding): "
        print(f"        {kind}{divergence}")


def _client_config(args: argparse.Namespace) -> Any:
    """The probe's client: the server is not verified; ``--client-cert``/``--key`` when given (both or neither)."""
    from purekong.engine import CertifiedKey, ClientConfig

    if bool(args.client_cert) != bool(args.key):
        raise ValueError("--client-cert and --key go together")
    if not args.client_cert:
        return ClientConfig(verify_server=False)
    try:
        certificate = CertifiedKey.load(args.client_cert, args.key)
    except OSError as exc:
        raise ValueError(f"--client-cert/--key: cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"--client-cert/--key: {exc}") from None
    return ClientConfig(verify_server=False, certificate=certificate)


def _write_recordings(directory: str, findings: list) -> None:
    import os

    os.makedirs(directory, exist_ok=True)
    for result in findings:
        recording = result.recording
        if recording is None and result.counterexample_bytes:
            from purekong.inspect import CLIENT_TO_SERVER, Recording

            recording = Recording.from_transcript([(CLIENT_TO_SERVER, bytes.fromhex(result.counterexample_bytes))])
        if recording is not None:
            path = os.path.join(directory, f"{result.name}.json")
            with open(path, "w") as out:
                out.write(recording.to_json())
            print(f"        recording: purekong inspect {path}")


def _write_report(path: str | None, report: dict) -> None:
    if path:
        with open(path, "w") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
