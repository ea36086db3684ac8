"""``purekong tls-server``: serve TLS on a TCP port with the purekong engine.

See docs/tls-server.md for the flags, the JSON reply and the log format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from purekong.engine import CertifiedKey, ServerConfig, load_pem_certificates
from purekong.server._settings import MAX_REQUEST_HEAD, ClientTimeouts

from ._args import port, positive_float, positive_int

_TIMEOUTS = ClientTimeouts()


class UsageError(Exception):
    """A bad flag or file: the message is shown and the exit status is 2."""


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "tls-server",
        help="serve TLS on a TCP port (JSON connection report, or echo)",
        description=(
            "Accept TLS 1.2/1.3 connections with the purekong engine. Without --echo, "
            "each connection gets one HTTP/1.0 reply describing it as JSON (version, "
            "cipher, SNI, ALPN, resumption, client certificate chain); with --echo, "
            "application data is echoed back. One log line per connection goes to stderr."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=4433, help="TCP port; 0 picks a free one (default 4433)")
    parser.add_argument("--cert", action="append", default=[], metavar="CERT.pem",
                        help="certificate chain, end-entity first (repeat, paired with --key, for RSA and ECDSA)")
    parser.add_argument("--key", action="append", default=[], metavar="KEY.pem",
                        help="private key of the --cert at the same position (unencrypted PEM)")
    parser.add_argument("--request-cert", action="store_true",
                        help="request an optional client certificate")
    parser.add_argument("--ca", action="append", default=[], metavar="CA.pem",
                        help="certificates whose subjects are sent as acceptable client CA names, "
                             "in file order and flag order (repeatable; needs --request-cert)")
    parser.add_argument("--no-session-reuse", action="store_true",
                        help="no session IDs, no tickets: every handshake is a full one")
    parser.add_argument("--echo", action="store_true", help="echo application data instead of answering HTTP")
    versions = parser.add_mutually_exclusive_group()
    versions.add_argument("--tls12-only", action="store_true", help="offer TLS 1.2 only")
    versions.add_argument("--tls13-only", action="store_true", help="offer TLS 1.3 only")
    parser.add_argument("--alpn", action="append", default=[], metavar="PROTO",
                        help="ALPN protocol to accept, in preference order (repeatable; default: no ALPN)")
    parser.add_argument("--keylog", metavar="FILE", help="append NSS key-log lines (SSLKEYLOGFILE format) to FILE")
    parser.add_argument("--handshake-timeout", type=positive_float, default=_TIMEOUTS.handshake, metavar="SECONDS",
                        help=f"drop a connection whose handshake has not finished after this long (default {_TIMEOUTS.handshake:g})")
    parser.add_argument("--idle-timeout", type=positive_float, default=_TIMEOUTS.idle, metavar="SECONDS",
                        help=f"close an established connection silent for this long (default {_TIMEOUTS.idle:g})")
    parser.add_argument("--max-request-head", type=positive_int, default=MAX_REQUEST_HEAD, metavar="BYTES",
                        help=f"close a connection whose request head is longer (default {MAX_REQUEST_HEAD})")
    parser.add_argument("--inspect", metavar="DIR",
                        help="write one handshake recording per connection to DIR (at most 100 kept, 1 MiB of "
                             "bytes each; mode 0600, they hold the keys); read one with 'purekong inspect FILE'")
    parser.set_defaults(func=run)


def _inspect_dir(text: str) -> Path:
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--inspect {text}: {exc.strerror or exc}") from None
    return path


def run(args: argparse.Namespace) -> int:
    from purekong.server import TLSServerOptions, run_server

    try:
        config = build_config(args)
        keylog = _open_keylog(args.keylog) if args.keylog else None
        inspect = _inspect_dir(args.inspect) if args.inspect else None
    except UsageError as exc:
        print(f"purekong tls-server: error: {exc}", file=sys.stderr)
        return 2
    if args.ca and not args.request_cert:
        print("purekong tls-server: warning: --ca has no effect without --request-cert", file=sys.stderr)
    options = TLSServerOptions(
        config=config,
        echo=args.echo,
        timeouts=ClientTimeouts(handshake=args.handshake_timeout, idle=args.idle_timeout),
        max_request_head=args.max_request_head,
        keylog=keylog,
        inspect_dir=inspect,
    )

    def announce(line: str) -> None:
        print(line, flush=True)

    try:
        return run_server(options, args.host, args.port, announce=announce)
    except OSError as exc:
        print(f"purekong tls-server: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        if keylog is not None:
            keylog.close()


def build_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig the flags describe; UsageError names the bad flag and file."""
    if not args.cert:
        raise UsageError("at least one --cert/--key pair is required")
    if len(args.cert) != len(args.key):
        raise UsageError(f"--cert and --key must come in pairs (got {len(args.cert)} --cert, {len(args.key)} --key)")
    certificates = tuple(_load_pair(cert, key) for cert, key in zip(args.cert, args.key))
    client_cas = tuple(cert for path in args.ca for cert in _load_certificates("--ca", path))
    versions: tuple[str, ...]
    if args.tls12_only:
        versions = ("TLSv1.2",)
    elif args.tls13_only:
        versions = ("TLSv1.3",)
    else:
        versions = ("TLSv1.3", "TLSv1.2")
    try:
        return ServerConfig(
            certificates=certificates,
            versions=versions,
            alpn_protocols=tuple(args.alpn),
            request_client_certificate=args.request_cert,
            client_ca_certificates=client_cas,
            session_resumption=not args.no_session_reuse,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _read(flag: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None


def _load_certificates(flag: str, path: str) -> list:
    data = _read(flag, path)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageError(f"{flag} {path}: no PEM certificate in the file")
    try:
        certificates = load_pem_certificates(data)
    except ValueError as exc:
        raise UsageError(f"{flag} {path}: invalid PEM certificate ({exc})") from None
    if not certificates:
        raise UsageError(f"{flag} {path}: no PEM certificate in the file")
    return certificates


def _load_pair(cert_path: str, key_path: str) -> CertifiedKey:
    chain = _load_certificates("--cert", cert_path)
    key_data = _read("--key", key_path)
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise UsageError(f"--key {key_path}: the key is encrypted; give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"--key {key_path}: not a PEM private key ({exc})") from None
    try:
        return CertifiedKey(tuple(chain), key)  # type: ignore[arg-type]
    except ValueError as exc:
        raise UsageError(f"--cert {cert_path} / --key {key_path}: {exc}") from None


def _open_keylog(path: str) -> TextIO:
    try:
        return open(path, "a", encoding="ascii", buffering=1)
    except OSError as exc:
        raise UsageError(f"--keylog {path}: cannot open: {exc.strerror or exc}") from None
