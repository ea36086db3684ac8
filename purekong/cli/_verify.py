"""``purekong verify``: print the ``$ssl_client_verify`` nginx would log.

    purekong verify --ca root.pem --depth 1 client-chain.pem
    SUCCESS

CHAIN.pem holds what the client sends, leaf first. Without ``--depth`` the
depth is Kong's 0, so most chains report ``FAILED:...`` as they do in Kong.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import sys

from purekong.verify import CertificateDecodeError, client_verify

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="print the $ssl_client_verify value for a client certificate chain",
        description="Print the value nginx/Kong puts in $ssl_client_verify when a client "
        "sends CHAIN.pem (leaf first) and the verify store holds the --ca certificates.",
    )
    parser.add_argument("chain", metavar="CHAIN.pem", help="the client's certificates, leaf first")
    parser.add_argument("--ca", action="append", default=[], metavar="CA.pem",
                        help="trusted certificates (repeatable; a file may hold several)")
    parser.add_argument("--depth", type=int, default=0, metavar="N",
                        help="nginx's ssl_verify_depth (default 0, as Kong's request_client_certificate)")
    parser.add_argument("--partial-chain", action="store_true",
                        help="let any trusted certificate anchor the chain (X509_V_FLAG_PARTIAL_CHAIN)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.depth < 0:
        return _error("--depth must be 0 or more")
    try:
        chain = _read_certificates(args.chain)
        trusted = [cert for path in args.ca for cert in _read_certificates(path)]
    except _InputError as exc:
        return _error(str(exc))
    try:
        result = client_verify(chain, trusted, depth=args.depth, allow_partial_chain=args.partial_chain)
    except CertificateDecodeError as exc:
        # OpenSSL would refuse the handshake: there is no value to print.
        trusted_files = ", ".join(args.ca) or "none"
        return _error(f"{exc} (chain: {args.chain}; trusted: {trusted_files})")
    print(result)
    return 0


class _InputError(Exception):
    pass


def _read_certificates(path: str) -> list[bytes]:
    """The DER of each PEM certificate in the file.

    The DER is passed on as is (not parsed here) so that client_verify sees
    certificates that OpenSSL accepts and ``cryptography`` would not load.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise _InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        certificates = [base64.b64decode(body, validate=False) for body in _PEM_CERTIFICATE.findall(data)]
    except binascii.Error as exc:
        raise _InputError(f"{path}: bad base64 in a PEM certificate ({exc})") from exc
    if not certificates:
        raise _InputError(f"{path}: no PEM certificate found")
    return certificates


def _error(message: str) -> int:
    print(f"purekong verify: {message}", file=sys.stderr)
    return 2
