"""Fixtures shared by the ``purekong serve`` tests; each is built once per session.

- ``files``: the test PKI as PEM files (``_serve_helpers.Files``).
- ``upstream``: the port of a threaded ``http.server`` on 127.0.0.1 that
  echoes each request as JSON (``/slow``, ``/garbage`` and ``/stream``
  misbehave on purpose).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from _serve_helpers import Files, QuietHTTPServer, UpstreamHandler, make_files


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("serve-pki"))


@pytest.fixture(scope="session")
def upstream() -> Iterator[int]:
    server = QuietHTTPServer(("127.0.0.1", 0), UpstreamHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
