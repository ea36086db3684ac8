"""Fixtures shared by the PDK, runner and plugin tests; each is built once per session.

- ``kong_pki``: Kong's test chain (root, intermediate, leaf), see _kong_pki.py.
"""

from __future__ import annotations

import pytest

from _kong_pki import KongPKI, make_kong_pki


@pytest.fixture(scope="session")
def kong_pki() -> KongPKI:
    return make_kong_pki()
