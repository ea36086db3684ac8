"""Kong's test chain (t/certs in Kong's repository): a root, an intermediate
and a leaf with the same DNs, for the scenario and plugin tests. The
``kong_pki`` fixture (tests/pdk/conftest.py) builds it once per session.
"""

from __future__ import annotations

from typing import NamedTuple

from _pki import Issued, make_ca, make_intermediate, make_leaf

ROOT_DN = "CN=Kong Testing Root CA,O=Kong Testing,ST=California,C=US"
INTER_DN = "CN=Kong Testing Intermidiate CA,O=Kong Testing,ST=California,C=US"  # sic, as Kong's
LEAF_DN = "CN=foo@example.com,O=Kong Testing,ST=California,C=US"
LEAF_SERIAL = 0x2001


class KongPKI(NamedTuple):
    root: Issued
    inter: Issued
    leaf: Issued  # issued by inter, serial LEAF_SERIAL


def make_kong_pki() -> KongPKI:
    root = make_ca(ROOT_DN)
    inter = make_intermediate(root, INTER_DN)
    return KongPKI(root, inter, make_leaf(inter, LEAF_DN, serial=LEAF_SERIAL))
