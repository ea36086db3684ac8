"""Hypothesis strategies for TLS: configurations, ClientHellos, handshake messages, records, alerts, deliveries.

Import it under a short name::

    from hypothesis import given
    from purekong.testing import strategies as pks

    @given(pks.defective_client_hellos())
    def test_my_server_refuses(bad):
        alert = my_server_answer(bad.data)
        assert alert in bad.alerts, bad.describe()

Values that are not valid are :class:`Labelled`: ``.data`` (the bytes),
``.label`` (what is wrong, in words), ``.defect`` (a short name),
``.alerts``/``.clause`` (what the RFC tells a receiver to answer). Drawing
one inside a test records the label with ``hypothesis.note`` and
``hypothesis.event``, so a failing example and ``--hypothesis-show-statistics``
say it in words. Each defect is one change to a valid message, and the valid
part shrinks, so a counterexample is the smallest difference from a valid
message. Impossible arguments raise ``ValueError`` naming the argument.
"""

from ._hello_strategies import (
    HELLO_DEFECTS,
    HelloDefect,
    client_configs,
    client_hellos,
    config_pairs,
    defective_client_hellos,
    raw_client_hellos,
    server_configs,
)
from ._labelled import Labelled
from ._message_strategies import (
    MESSAGE_DEFECTS,
    MESSAGES,
    RECORD_DEFECTS,
    Delivery,
    alerts,
    change_cipher_specs,
    defective_records,
    deliveries,
    extension_lists,
    handshake_messages,
    record_layouts,
    record_paddings,
)
from ._wire import ClientHelloFields

__all__ = [
    "HELLO_DEFECTS",
    "MESSAGES",
    "MESSAGE_DEFECTS",
    "RECORD_DEFECTS",
    "ClientHelloFields",
    "Delivery",
    "HelloDefect",
    "Labelled",
    "alerts",
    "change_cipher_specs",
    "client_configs",
    "client_hellos",
    "config_pairs",
    "defective_client_hellos",
    "defective_records",
    "deliveries",
    "extension_lists",
    "handshake_messages",
    "raw_client_hellos",
    "record_layouts",
    "record_paddings",
    "server_configs",
]
