"""``purekong demo``: kept as a short name for ``purekong inspect --scenario mtls --why``.

The demo was one canned mTLS handshake printed message by message; the
inspector's ``mtls`` scenario is the same handshake (in memory, Kong's
certificate phase requesting the client's certificate with a CA DN list),
shown as a ladder with the decisions. ``--tls12`` picks ``mtls12``.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="an mTLS handshake in memory (purekong inspect --scenario mtls --why)")
    parser.add_argument("--tls12", action="store_true", help="use TLS 1.2 instead of TLS 1.3 (the mtls12 scenario)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from purekong.cli import main

    return main(["inspect", "--scenario", "mtls12" if args.tls12 else "mtls", "--why"])
