"""Argument types shared by the subcommands: one message per kind of bad value,
so every flag says the same thing about the same mistake."""

from __future__ import annotations

import argparse

from purekong._hostport import split_host_port, strip_brackets

__all__ = ["host_and_port", "port", "positive_float", "positive_int"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def host_and_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 in brackets) with a port from 1 to 65535; ValueError otherwise."""
    host, port_text = split_host_port(text)
    if not host or port_text is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"target must be HOST:PORT, not {text!r}")
    return strip_brackets(host), int(port_text)
