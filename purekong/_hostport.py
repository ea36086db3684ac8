"""``host:port`` text, parsed and written one way for the whole package.

The rules (Kong's and nginx's): an IPv6 literal is written in brackets
(``[::1]:8443``); a bare name or IPv4 address has at most one colon. The
parser returns the port as text (or None), and each caller decides what a
non-numeric port means (the router: no port; ``--listen``: an error).
"""

from __future__ import annotations

__all__ = ["format_host_port", "split_host_port", "strip_brackets"]


def split_host_port(text: str) -> tuple[str, str | None]:
    """``"host:port"`` -> ``("host", "port")``; no port -> ``(text, None)``.

    A bracketed IPv6 literal keeps its brackets (``"[::1]:80"`` -> ``("[::1]", "80")``);
    unbracketed text with several colons is an IPv6 address without a port.
    """
    if text.startswith("["):
        end = text.find("]")
        if end != -1 and text[end + 1 : end + 2] == ":":
            return text[: end + 1], text[end + 2 :]
        return text, None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def strip_brackets(host: str) -> str:
    """``"[::1]"`` -> ``"::1"``; anything else unchanged."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def format_host_port(host: str, port: int) -> str:
    """The inverse: brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
