"""``--inspect DIR``: one handshake recording per TLS connection, for ``purekong inspect``.

``purekong serve --inspect DIR`` and ``purekong tls-server --inspect DIR``
give each TLS connection a :class:`RecordedServerConnection`: the engine's
``ServerConnection`` that also keeps, in a :class:`~purekong.inspect._capture.Capture`,
the bytes each way and what the engine traced (handshake messages,
secrets, the certificate phase). When the connection ends,
:meth:`InspectDir.save` turns the capture into a ``Recording``
(``purekong.inspect``'s ``recording_from_capture``, in a thread so the
event loop keeps serving) and writes ``DIR/<time>-<client ip>-<port>.json``:
``purekong inspect FILE`` shows the client's handshake.

Bounded, in number and size:

- at most :data:`MAX_CAPTURE_BYTES` (1 MiB) of wire bytes are kept per
  connection (the handshake is always whole; a long transfer's later records
  are left out, and the recording says so in a finding);
- at most ``max_recordings`` (:data:`DEFAULT_MAX_RECORDINGS`, 100) files are
  kept in DIR: the oldest are removed as new ones are written.

A recording holds the connection's secrets (the key log: it decrypts the
connection), so the files are written mode 0600; ``--inspect`` is for
debugging a client, not for production traffic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from purekong.engine import RecordTrace, ServerConfig, ServerConnection

__all__ = ["DEFAULT_MAX_RECORDINGS", "MAX_CAPTURE_BYTES", "InspectDir", "RecordedServerConnection"]

_log = logging.getLogger("purekong.serve")

MAX_CAPTURE_BYTES = 1024 * 1024
DEFAULT_MAX_RECORDINGS = 100


class RecordedServerConnection(ServerConnection):
    """A ServerConnection whose wire bytes and traces go to a Capture too."""

    def __init__(self, config: ServerConfig, capture: Any, *, also_trace: Any = None, limit: int = MAX_CAPTURE_BYTES) -> None:
        self.capture, self._also_trace, self._room = capture, also_trace, limit
        self._cut = False
        super().__init__(config, trace=self._on_trace)

    def _on_trace(self, event: Any) -> None:
        if self._room <= 0 and isinstance(event, RecordTrace):
            return  # the engine reports every record: past the kept bytes, keep none (bounded like the wire copy)
        side = "server"
        self.capture.traces[side].append(event)
        if self._also_trace is not None:
            self._also_trace(event)

    def _keep(self, direction: str, data: bytes) -> None:
        if not data:
            return
        if len(data) > self._room:
            if not self._cut:
                self._cut = True
                self.capture.findings.append(f"--inspect kept the first {MAX_CAPTURE_BYTES:,} bytes of this connection; the rest is not recorded")
            data = data[:max(self._room, 0)]
        self._room -= len(data)
        if data:
            self.capture.wire(direction, data)

    def receive_data(self, data: bytes) -> None:
        self._keep("client_to_server", data)
        super().receive_data(data)

    def data_to_send(self) -> bytes:
        data = super().data_to_send()
        self._keep("server_to_client", data)
        return data


class InspectDir:
    """Where the recordings go, and how many stay."""

    def __init__(self, directory: Path, max_recordings: int = DEFAULT_MAX_RECORDINGS, log: Callable[[str], None] | None = None) -> None:
        self.directory, self.max_recordings = directory, max_recordings
        self.written = 0
        self._log_line = log  # where "recorded in FILE" goes (default: the purekong.serve logger)

    def connection(self, config: ServerConfig, client: tuple[str, int], server: tuple[str, int], *, also_trace: Any = None) -> RecordedServerConnection:
        from purekong import __version__
        from purekong.inspect._capture import Capture

        capture = Capture(f"connection from {client[0]}:{client[1]}", meta={"source": "serve", "started": time.time(),
                                                                             "implementation": {"client": None, "server": f"purekong {__version__}"}})
        capture.client_address, capture.server_address = client, server
        return RecordedServerConnection(config, capture, also_trace=also_trace)

    async def save(self, conn: RecordedServerConnection) -> None:
        """Write the connection's recording (off the event loop), then prune."""
        if not conn.capture.chunks:
            return  # nothing was said: no recording
        try:
            path = await asyncio.get_running_loop().run_in_executor(None, self._write, conn.capture)
        except Exception:
            _log.exception("--inspect: cannot write the recording of %s", conn.capture.title)
            return
        line = f"--inspect: {conn.capture.title} recorded in {path} (read it with: purekong inspect {path})"
        if self._log_line is not None:
            self._log_line(line)
        else:
            _log.info("%s", line)

    def _write(self, capture: Any) -> Path:
        from purekong.inspect._adapter import recording_from_capture

        recording = recording_from_capture(capture)
        ip, port = capture.client_address
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(capture.meta["started"]))
        name = f"{stamp}-{int(capture.meta['started'] * 1000) % 1000:03d}-{ip.replace(':', '_')}-{port}.json"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the connection's keys
        with os.fdopen(fd, "w") as f:
            f.write(recording.to_json())
        self.written += 1
        self._prune()
        return path

    def _prune(self) -> None:
        try:
            files = sorted(self.directory.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
        except OSError:
            return
        for old in files[:max(0, len(files) - self.max_recordings)]:
            try:
                old.unlink()
            except OSError:
                pass  # another worker removed it first
