"""purekong's pytest plugin (registered as the ``pytest11`` entry point ``purekong``).

After ``pip install 'purekong[testing]'`` every pytest run has:

- fixtures ``tls_pair`` (a purekong client and server, handshake done, in
  memory), ``attacker`` (a factory of :class:`~purekong.testing.AttackerPeer`
  runs) and ``kong_harness`` (a factory of
  :class:`~purekong.testing.KongHarness`);
- ``--purekong-seed N``: every hypothesis test of the run uses seed ``N``
  and every ``tls_pair`` connection draws its randomness (key shares,
  randoms, RSA-PSS salts) from it, so the handshake repeats byte for byte
  up to the first ECDSA signature (OpenSSL may randomize those);
- hypothesis profiles ``ci`` (bounded: 50 examples, 25 stateful steps, no
  deadline, derandomized) and ``deep`` (2000 examples, 100 steps), chosen
  with hypothesis's own ``--hypothesis-profile=ci``. A project's conftest
  that registers a profile of the same name wins (it is loaded later).

A three-line test::

    def test_bytes_cross(tls_pair):
        tls_pair.client.send(b"ping"); tls_pair.pump()
        assert bytes(tls_pair.server.received) == b"ping"

``tls_pair`` takes parameters through indirect parametrization: a dict with
``server`` and ``client`` (keyword arguments for the kit's configs) and
``server_name``::

    @pytest.mark.parametrize("tls_pair", [{"server": {"versions": ("TLSv1.2",)}}], indirect=True)
    def test_tls12(tls_pair):
        assert tls_pair.server.handshake.version == "TLSv1.2"
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import pytest

_SEED_KEY = pytest.StashKey[int | None]()

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # purekong without the testing extra: fixtures explain
    settings = None  # type: ignore[assignment,misc]
else:
    settings.register_profile(
        "ci", max_examples=50, stateful_step_count=25, deadline=None, derandomize=True, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("deep", max_examples=2000, stateful_step_count=100, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("purekong", "purekong.testing")
    group.addoption("--purekong-seed", type=int, default=None, metavar="N",
                    help="seed every hypothesis test and the randomness of the kit's fixtures (repeatable runs)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SEED_KEY] = config.getoption("--purekong-seed")


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.stash.get(_SEED_KEY, None)
    return f"purekong.testing: --purekong-seed={seed}" if seed is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = config.stash.get(_SEED_KEY, None)
    if seed is None or settings is None:
        return
    from hypothesis import seed as hypothesis_seed

    for item in items:
        function: Any = getattr(item, "obj", None)
        if function is not None and getattr(function, "is_hypothesis_test", False):
            hypothesis_seed(seed)(function)


def _require_hypothesis() -> None:
    if settings is None:
        pytest.skip("purekong.testing needs hypothesis: pip install 'purekong[testing]'")


def _random_source(request: pytest.FixtureRequest) -> Callable[[int], bytes] | None:
    seed = request.config.stash.get(_SEED_KEY, None)
    if seed is None:
        return None
    generator = random.Random(f"{seed}/{request.node.nodeid}")
    return generator.randbytes


@pytest.fixture
def tls_pair(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A purekong client and server joined in memory, handshake done (a ``ConnectionPair``)."""
    from ._pair import ConnectionPair, PurekongEndpoint
    from ._pki import HOST, kit_client_config, kit_server_config

    options = dict(getattr(request, "param", None) or {})
    source = _random_source(request)
    server = PurekongEndpoint.server(kit_server_config(**options.get("server", {})), proceed=options.get("proceed"), random=source)
    client = PurekongEndpoint.client(kit_client_config(**options.get("client", {})), options.get("server_name", HOST), random=source)
    yield ConnectionPair(client, server).handshake()


@pytest.fixture
def attacker() -> Callable[..., Any]:
    """``attacker(edits, server=..., client=..., fix_finished=True)``: an ``AttackerPeer`` run to the end."""
    _require_hypothesis()
    from ._attacker import AttackerPeer
    from ._pki import kit_client_config, kit_server_config

    def run(edits: Any = (), *, server: dict | None = None, client: dict | None = None, **kwargs: Any) -> Any:
        return AttackerPeer(kit_server_config(**(server or {})), kit_client_config(**(client or {})), edits=edits, **kwargs).run()

    return run


@pytest.fixture
def kong_harness() -> Callable[..., Any]:
    """``kong_harness(plugins, **options)``: a ``KongHarness`` (Kong plugins over real in-memory handshakes)."""
    from ._harness import KongHarness

    return KongHarness
