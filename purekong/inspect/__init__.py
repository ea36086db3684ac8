"""``purekong inspect``: read TLS handshakes, byte by byte and key by key.

The data model is :class:`Recording` (frozen dataclasses, JSON with a
versioned schema, see ``docs/inspect-schema.md``). Build one from the bytes
each side sent and a key log:

>>> from purekong.inspect import Recording, CLIENT_TO_SERVER
>>> rec = Recording.from_transcript([(CLIENT_TO_SERVER, bytes.fromhex("1503030002022800"))])
>>> rec.alerts[0].name, rec.findings[0].kind
('handshake_failure', 'truncated')

The core, in three parts, none of which imports tlslite (a second,
independent reading of what the engine put on the wire):

- the dissector: :func:`dissect_handshake` and :func:`dissect_record` give a
  tree of :class:`Field` s with byte spans, IANA names and RFC sections;
- the key schedule, recomputed with ``cryptography`` from the (EC)DHE secret
  (the engine's ``trace=`` reports it) or from a key log, as
  ``Recording.key_schedule``; every record is opened with it, the Finished
  MACs and binders are checked, and each disagreement is a ``Finding``;
- RFC 8448 read offline: ``rfc8448(3)`` is a Recording and
  ``rfc8448_checks(3)`` puts every value the RFC prints beside the
  inspector's.

>>> from purekong.inspect import rfc8448_checks
>>> all(check.ok for check in rfc8448_checks(5))
True

The views, on top (what ``purekong inspect`` runs):

- where recordings come from: :func:`run_scenario` (``SCENARIOS``),
  :func:`connect` (``LiveOptions``, a live server), :func:`read_capture` (a
  pcap/pcapng and a key log) and :func:`rfc8448_live` (purekong's server on
  RFC 8448's inputs) give a :class:`Capture`, the raw material (bytes each
  way, traces, :class:`CapturedDecision` s); :func:`recording_from_capture`
  turns it into a Recording;
- what is made of one: :func:`render_terminal` (with ``make_console`` and
  ``TerminalOptions``; needs ``rich``), :func:`render_html`,
  :func:`write_pcapng`, ``Recording.to_json()``, and :func:`diff` of two.

The ones that run the engine (scenarios, live) or need an extra (rich,
dpkt) are imported on first use, so ``import purekong.inspect`` stays the
dissector and the model.
"""

import importlib
from typing import Any

from ._recording import (
    CLIENT_TO_SERVER,
    DIRECTIONS,
    EPOCH_APPLICATION,
    EPOCH_EARLY,
    EPOCH_HANDSHAKE,
    EPOCH_PLAINTEXT,
    EPOCH_UNKNOWN,
    SCHEMA_VERSION,
    SERVER_TO_CLIENT,
    Alert,
    CertificatePhase,
    Decision,
    Decryption,
    Peer,
    Finding,
    HandshakeMessage,
    KeyDerivation,
    Peer,
    Record,
    Recording,
    RecordingFormatError,
    Secret,
    application_epoch,
)
from ._dissect import Field, check_tiling, dissect_alert, dissect_handshake, dissect_record, encode
from ._rfc8448 import Check, RFC8448Error, rfc8448, rfc8448_checks
from ._transcript import parse_keylog
from ._capture import Capture, CapturedDecision, Chunk
from ._adapter import recording_from_capture
from ._diff import Difference, diff
from ._html import render_html
from ._pcapng import write_pcapng

# name -> (module, attribute): the parts that import the engine, rich or dpkt.
_LAZY = {
    "SCENARIOS": ("_scenarios", "SCENARIOS"),
    "Scenario": ("_scenarios", "Scenario"),
    "ScenarioError": ("_scenarios", "ScenarioError"),
    "run_scenario": ("_scenarios", "run_scenario"),
    "LiveOptions": ("_live", "LiveOptions"),
    "LiveError": ("_live", "LiveError"),
    "connect": ("_live", "connect"),
    "CaptureError": ("_pcapread", "CaptureError"),
    "read_capture": ("_pcapread", "read_capture"),
    "LiveCheck": ("_rfc8448_live", "LiveCheck"),
    "LiveReplay": ("_rfc8448_live", "LiveReplay"),
    "rfc8448_live": ("_rfc8448_live", "replay"),
    "TerminalOptions": ("_terminal", "Options"),
    "make_console": ("_terminal", "make_console"),
    "render_terminal": ("_terminal", "render"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'purekong.inspect' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


__all__ = [
    "CLIENT_TO_SERVER",
    "DIRECTIONS",
    "EPOCH_APPLICATION",
    "EPOCH_EARLY",
    "EPOCH_HANDSHAKE",
    "EPOCH_PLAINTEXT",
    "EPOCH_UNKNOWN",
    "SCHEMA_VERSION",
    "SERVER_TO_CLIENT",
    "Alert",
    "Capture",
    "CaptureError",
    "CapturedDecision",
    "Check",
    "Chunk",
    "CertificatePhase",
    "Decision",
    "Decryption",
    "Field",
    "Finding",
    "HandshakeMessage",
    "KeyDerivation",
    "LiveCheck",
    "LiveError",
    "LiveOptions",
    "LiveReplay",
    "Peer",
    "Record",
    "Recording",
    "RFC8448Error",
    "RecordingFormatError",
    "SCENARIOS",
    "Scenario",
    "ScenarioError",
    "Secret",
    "TerminalOptions",
    "application_epoch",
    "check_tiling",
    "connect",
    "diff",
    "dissect_alert",
    "dissect_handshake",
    "dissect_record",
    "encode",
    "make_console",
    "parse_keylog",
    "read_capture",
    "recording_from_capture",
    "render_html",
    "render_terminal",
    "rfc8448",
    "rfc8448_checks",
    "rfc8448_live",
    "run_scenario",
    "write_pcapng",
]
