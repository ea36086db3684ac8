"""Kong's PDK (``kong.client.tls`` and what plugins commonly use), with no I/O.

A :class:`KongContext` holds the state of one handshake or one request; the
runner sets its ``phase`` and hands plugins :func:`make_kong` ``(ctx)``, the
``kong`` object, in lua-style (``(data, err)`` tuples) or python style
(exceptions).  Nothing here imports the engine, the server or tlslite.
"""

from ._context import ConsumerLookup, KongContext
from ._errors import ExitUnwind, LuaError, PDKException
from ._phases import Phase, check_not_phase, check_phase, phase_mask, phase_names
from ._proxy import make_kong
from ._registry import FUNCTIONS
from ._response import JSON_CONTENT_TYPE, cjson_encode, default_message
from ._tls import parse_ca_certs
from ._types import (
    PLAIN_HTTP,
    ClientHelloInfo,
    ConnectionInfo,
    HandshakeRequests,
    Headers,
    Request,
    Response,
    StreamedBody,
    TLSInfo,
    UpstreamRequest,
    WORKER_STATISTICS,
    WorkerStatistics,
)
from ._shared_dict import WORKER_SHARED, SharedDict

# Registering modules: importing them fills FUNCTIONS.
from . import _client, _log, _misc, _request, _service, _shared_dict, _vault  # noqa: E402,F401  isort:skip

__all__ = [
    "FUNCTIONS",
    "JSON_CONTENT_TYPE",
    "PLAIN_HTTP",
    "ClientHelloInfo",
    "ConsumerLookup",
    "ConnectionInfo",
    "ExitUnwind",
    "HandshakeRequests",
    "Headers",
    "KongContext",
    "LuaError",
    "PDKException",
    "Phase",
    "Request",
    "Response",
    "StreamedBody",
    "TLSInfo",
    "UpstreamRequest",
    "WORKER_SHARED",
    "WORKER_STATISTICS",
    "SharedDict",
    "WorkerStatistics",
    "check_not_phase",
    "check_phase",
    "cjson_encode",
    "default_message",
    "make_kong",
    "parse_ca_certs",
    "phase_mask",
    "phase_names",
]
