"""The ``purekong`` command: one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser
and sets ``func`` to a callable taking the parsed arguments and returning the
exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from purekong import __version__

# Subcommand modules, in the order --help lists them.
_SUBCOMMANDS = ("_demo", "_inspect", "_probe", "_serve", "_tls_server", "_verify")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="purekong",
        description="A pure-Python TLS 1.2/1.3 engine with Kong's kong.client.tls.",
    )
    parser.add_argument("--version", action="version", version=f"purekong {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"purekong.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand still being written
            if exc.name != f"purekong.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # one line naming the flag, not argparse's usage block
        command = f"purekong {args.command}" if getattr(args, "command", None) else "purekong"
        print(f"{command}: unrecognized arguments: {' '.join(unknown)}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
