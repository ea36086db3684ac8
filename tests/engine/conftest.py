"""Fixtures shared by the engine tests; each is built once per session.

- ``pki``: the engine tests' certificates (see ``_engine_helpers.PKI``).
- ``tls_server_pki``: the ``purekong tls-server`` tests' certificates, as
  PEM files on disk (see ``_tls_server_helpers.Pki``).
"""

from __future__ import annotations

import pytest

from _engine_helpers import PKI, make_pki
from _tls_server_helpers import Pki, write_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("engine-pki"))


@pytest.fixture(scope="session")
def tls_server_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return write_pki(tmp_path_factory.mktemp("tls-server-pki"))
