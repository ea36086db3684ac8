"""``random=`` by name: inject the bytes a replay needs, say what was drawn.

The plain ``random=`` form is a callable ``n -> bytes`` consumed in call
order. :class:`LabelledRandom` is such a callable too, but it knows what
each draw is for (``"client_random"``, ``"x25519_private"``, ...), hands
out the bytes given for that label, falls back for the others, and records
every draw in order, so a replay says what it injects instead of depending
on call order:

>>> rnd = LabelledRandom({"client_random": bytes(32)})
>>> rnd.values["client_random"] == bytes(32), rnd.drawn
(True, [])

Labels (see ``_tlslite/_labels.py`` for where each is drawn):

- client: ``session_id`` (the legacy session ID of compatibility mode),
  ``client_random``, ``<group>_private`` (``x25519_private``,
  ``secp256r1_private``, ...), ``pss_salt``, ``rsa_blinding``;
- server: ``server_random``, ``<group>_private``, ``session_id`` (TLS 1.2),
  ``hrr_cookie``, ``pss_salt``, ``rsa_blinding``, and per ticket
  ``ticket_nonce``, ``ticket_encryption_nonce``, ``ticket_age_add`` (and
  ``ticket_age_add_replaced``, tlslite's 2-byte draw purekong overrides);
- both, TLS 1.2: ``explicit_nonce_seed`` (where the record layer starts
  its explicit GCM nonces);
- ``certificate_request_context`` (post-handshake authentication),
  ``heartbeat_padding``; anything else is ``unlabelled``.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

from ._tlslite._labels import draw_label


class LabelledRandom:
    """A ``random=`` source that gives named values and logs every draw.

    ``values`` maps a label to the bytes to give (or a sequence of them, one
    per draw, for labels drawn more than once such as ``ticket_nonce``);
    labels without a value get ``fallback(n)``. A value of the wrong length
    raises ``ValueError`` naming the label. ``drawn`` lists ``(label,
    length)`` in the order the engine drew them.
    """

    def __init__(self, values: Mapping[str, bytes | Sequence[bytes]] | None = None, fallback: Callable[[int], bytes] = os.urandom) -> None:
        self.values = dict(values or {})
        self.fallback = fallback
        self.drawn: list[tuple[str, int]] = []
        self._used: dict[str, int] = {}

    def __call__(self, n: int) -> bytes:
        label = draw_label()
        self.drawn.append((label, n))
        given = self.values.get(label)
        if given is None:
            return self.fallback(n)
        if not isinstance(given, (bytes, bytearray)):
            index = self._used.get(label, 0)
            self._used[label] = index + 1
            if index >= len(given):
                return self.fallback(n)
            given = given[index]
        if len(given) != n:
            raise ValueError(f"random {label!r}: the engine draws {n} bytes, {len(given)} were given")
        return bytes(given)
