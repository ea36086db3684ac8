"""What the servers are told to do: listeners, limits, deadlines, options.

One model of a client connection's deadlines, :class:`ClientTimeouts`, serves
``purekong serve`` (in :class:`Limits`, with its sizes), the HTTP layer
(:mod:`._http`, which enforces them) and ``purekong tls-server``
(:class:`TLSServerOptions`). The defaults follow Kong's nginx template. The
upstream side has its own deadlines, per service (``_proxy.UpstreamTimeouts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from purekong._hostport import format_host_port, split_host_port, strip_brackets
from purekong.engine import ServerConfig

from ._plugin_threads import DEFAULT_THREADS, DEFAULT_TIMEOUT

__all__ = ["ClientTimeouts", "Limits", "Listener", "MAX_REQUEST_HEAD", "ServeConfigError", "ServeOptions", "TLSServerOptions"]

#: Request line + headers, in bytes (nginx's large_client_header_buffers).
MAX_REQUEST_HEAD = 64 * 1024


class ServeConfigError(Exception):
    """Bad configuration: the message names the entry and the field."""


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    ssl: bool

    @classmethod
    def parse(cls, text: str) -> "Listener":
        """kong.conf's ``proxy_listen`` entry: ``HOST:PORT`` or ``HOST:PORT ssl``."""
        parts = text.split()
        if not parts or any(p not in ("ssl",) for p in parts[1:]):
            raise ServeConfigError(f"--listen {text!r}: expected 'HOST:PORT' or 'HOST:PORT ssl'")
        host, port = split_host_port(parts[0])
        if port is None or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ServeConfigError(f"--listen {text!r}: port must be a number from 0 to 65535")
        return cls(strip_brackets(host) or "0.0.0.0", int(port), "ssl" in parts[1:])

    def __str__(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{format_host_port(self.host, self.port)}"


@dataclass(frozen=True)
class ClientTimeouts:
    """A client connection's deadlines, in seconds."""

    handshake: float = 10.0  # the TLS handshake, whole (ssl_handshake_timeout)
    idle: float = 60.0  # silence after the handshake / between requests (keepalive_timeout)
    #: Within one request or response: between two reads, two writes
    #: (client_header_timeout, client_body_timeout, send_timeout). serve only.
    client: float = 60.0


@dataclass(frozen=True)
class Limits:
    """``purekong serve``'s per-connection deadlines and sizes."""

    timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    max_request_head: int = MAX_REQUEST_HEAD
    max_body_size: int = 8 * 1024 * 1024  # 0 = unlimited (client_max_body_size; Kong defaults to 0)
    max_connections: int = 1024  # per worker (worker_connections)
    #: Read the whole request body before the handler runs (Kong's route
    #: default, request_buffering = true). Off: the handler gets the body as a
    #: stream (``HTTPRequest.body_stream``) and can forward it as it arrives.
    request_buffering: bool = True


@dataclass
class ServeOptions:
    """``purekong serve``'s settings (kong.conf's): everything but the entities."""

    listeners: list[Listener] = field(default_factory=list)
    declarative: Path | None = None
    plugins_dir: Path | None = None
    access_log: Path | None = None
    #: The ``--access-log`` file's lines: "json" (``kong.log.serialize()``) or
    #: "combined" (nginx's, as on stderr).
    access_log_format: str = "json"
    #: The status/admin listener (``--admin-listen``), plain HTTP; None: off.
    admin_listen: "Listener | None" = None
    #: ``--inspect DIR``: one handshake recording per TLS connection.
    inspect_dir: Path | None = None
    workers: int = 1
    verify_depth: int | None = None
    state_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    grace: float = 10.0  # seconds in-flight requests get at shutdown
    #: Kong Python plugins: the call style ("lua": (value, err) tuples, kong-pdk's
    #: default; "python": exceptions, kong-pdk's --no-lua-style), the threads
    #: their phases run on, and how long one plugin call may take.
    plugin_style: str = "lua"
    plugin_threads: int = DEFAULT_THREADS
    plugin_timeout: float = DEFAULT_TIMEOUT
    #: Called with each line of the startup summary (the CLI prints them).
    announce: Callable[[str], None] | None = None


@dataclass
class TLSServerOptions:
    """``purekong tls-server``'s settings, besides the address it listens on."""

    config: ServerConfig
    echo: bool = False
    timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)  # handshake and idle apply
    max_request_head: int = MAX_REQUEST_HEAD
    #: A text stream that receives NSS key-log lines (SSLKEYLOGFILE format).
    keylog: TextIO | None = None
    #: Where log lines go; by default, stderr.
    log: Callable[[str], None] | None = field(default=None, repr=False)
    #: ``--inspect DIR``: one handshake recording per connection (``_inspect``).
    inspect_dir: Path | None = None
