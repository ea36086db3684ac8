"""The client's checks of the server that tlslite leaves out or answers without an alert.

``HookedTLSConnection`` calls these from its overrides (see ``_patches``):

* a protocol error tlslite raises instead of sending an alert gets the
  alert its name says (RFC 8446 §6.2, RFC 5246 §7.2.2), sent by tlslite
  under the keys in use, never ``internal_error``;
* the server's chain is judged (the application's verifier) the moment it
  is known, with the server's CertificateVerify in TLS 1.3 and before the
  client's second flight in TLS 1.2, so that a rejected server never sees
  the client's Finished; a TLS 1.3 CertificateVerify must use a scheme the
  client offered (RFC 8446 §4.4.3);
* a ServerHello extension the ClientHello did not carry is
  unsupported_extension (RFC 8446 §4.2, RFC 5246 §7.4.1.4), and a TLS 1.3
  pre_shared_key must select an identity the client offered (§4.2.11):
  tlslite crashed on both (internal_error);
* a TLS 1.2 ticket counts as accepted only when the server echoes the
  ClientHello's session ID (RFC 5077 §3.4); otherwise the client runs the
  full handshake the server started. The ClientHello carries a fresh
  session ID whenever it offers a ticket, so that the echo means something.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from tlslite.constants import ExtensionType, SignatureScheme
from tlslite.errors import (
    TLSBadRecordMAC,
    TLSDecodeError,
    TLSDecryptionFailed,
    TLSHandshakeFailure,
    TLSIllegalParameterException,
    TLSInsufficientSecurity,
    TLSProtocolException,
    TLSRecordOverflow,
    TLSUnexpectedMessage,
    TLSUnknownPSKIdentity,
)
from tlslite.messages import ServerHello
from tlslite.utils import cryptomath

from .._alerts import AlertDescription

#: The alert for each protocol error tlslite raises without sending one.
PROTOCOL_ALERTS: tuple[tuple[type[TLSProtocolException], AlertDescription], ...] = (
    (TLSIllegalParameterException, AlertDescription.illegal_parameter),
    (TLSDecodeError, AlertDescription.decode_error),
    (TLSUnexpectedMessage, AlertDescription.unexpected_message),
    (TLSRecordOverflow, AlertDescription.record_overflow),
    (TLSDecryptionFailed, AlertDescription.decrypt_error),
    (TLSBadRecordMAC, AlertDescription.bad_record_mac),
    (TLSInsufficientSecurity, AlertDescription.insufficient_security),
    (TLSUnknownPSKIdentity, AlertDescription.unknown_psk_identity),
    (TLSHandshakeFailure, AlertDescription.handshake_failure),
)

#: Judges the server's chain (DER, leaf first): None, or the alert and why.
ChainCheck = Callable[[tuple[bytes, ...]], "tuple[AlertDescription, str] | None"]


def protocol_alert(exc: BaseException) -> AlertDescription | None:
    """The alert for an exception tlslite raised instead of sending one, if it is a protocol error."""
    return next((alert for kind, alert in PROTOCOL_ALERTS if isinstance(exc, kind)), None)


def with_alerts(tls: Any, handshake: Iterator[Any]) -> Iterator[Any]:
    """The handshake, with tlslite's bare protocol errors sent as their alerts."""
    try:
        yield from handshake
    except TLSProtocolException as exc:
        alert = protocol_alert(exc)
        if alert is None:
            raise
        yield from tls._sendError(int(alert), str(exc) or alert.name)


def offer(hooks: Any, session_id: Any, extensions: list[Any] | None) -> tuple[Any, list[Any] | None]:
    """The session ID and extensions of a purekong client's ClientHello."""
    if extensions and not hooks.tls12_tickets:
        extensions = [e for e in extensions if e.extType != ExtensionType.session_ticket] or None
    offers_ticket = any(e.extType == ExtensionType.session_ticket and e.ticket for e in extensions or ())
    if offers_ticket and not session_id:
        session_id = cryptomath.getRandomBytes(32)  # RFC 5077 §3.4
    return session_id, extensions


def offered(hooks: Any, hello: Any) -> None:
    """Remember what the ClientHello offered, for the checks below."""
    hooks.offered_session_id = bytes(hello.session_id)
    sigalgs = hello.getExtension(ExtensionType.signature_algorithms)
    hooks.offered_signature_schemes = tuple(tuple(s) for s in sigalgs.sigalgs) if sigalgs and sigalgs.sigalgs else ()


def resumable(hooks: Any, session: Any, server_hello: Any) -> Any:
    """The session tlslite may resume: None when the server declined the ticket.

    tlslite resumes whenever the session holds a ticket, so a server that
    declined it and sent its Certificate failed the client with
    unexpected_message ('Expecting new_session_ticket, got certificate').
    """
    if session is None or not session.tls_1_0_tickets:
        return session
    if hooks.offered_session_id and bytes(server_hello.session_id) == hooks.offered_session_id:
        return session
    return None


def checked_server_hello(tls: Any, client_hello: Any, get_server_hello: Iterator[Any]) -> Iterator[Any]:
    """tlslite's ``_clientGetServerHello``, then the ServerHello's extensions checked against the ClientHello."""
    for result in get_server_hello:
        if isinstance(result, ServerHello):
            problem = _server_hello_problem(client_hello, result)
            if problem is not None:
                alert, message = problem
                yield from tls._sendError(int(alert), message)
        yield result


def _server_hello_problem(client_hello: Any, server_hello: Any) -> tuple[AlertDescription, str] | None:
    offered = {e.extType for e in client_hello.extensions or ()} | {ExtensionType.renegotiation_info}  # the SCSV asks for it
    unasked = [e.extType for e in server_hello.extensions or () if e.extType not in offered]
    if unasked:
        names = ", ".join(ExtensionType.toStr(t) for t in unasked)
        return AlertDescription.unsupported_extension, f"the ServerHello carries extensions the client did not offer: {names}"
    psk = server_hello.getExtension(ExtensionType.pre_shared_key)
    if psk is not None:
        identities = client_hello.getExtension(ExtensionType.pre_shared_key).identities
        if not 0 <= psk.selected < len(identities):
            return AlertDescription.illegal_parameter, f"the server selected PSK identity {psk.selected} of {len(identities)}"
    return None


def checked_chain(tls: Any, key_from_chain: Iterator[Any]) -> Iterator[Any]:
    """tlslite's ``_clientGetKeyFromChain``, then purekong's judgement of the server."""
    for result in key_from_chain:
        if isinstance(result, tuple):
            problem = _server_problem(tls, result[1])
            if problem is not None:
                alert, message = problem
                yield from tls._sendError(int(alert), message)
        yield result


def _server_problem(tls: Any, chain: Any) -> tuple[AlertDescription, str] | None:
    hooks = tls.pk
    if hooks.check_server_chain is not None:
        problem: tuple[AlertDescription, str] | None = hooks.check_server_chain(tuple(bytes(c.bytes) for c in chain.x509List))
        if problem is not None:
            return problem[0], f"server certificate rejected: {problem[1]}"
    scheme = tuple(tls.serverSigAlg) if tls.version > (3, 3) and tls.serverSigAlg else None
    if scheme is None:
        return None
    name = SignatureScheme.toRepr(scheme) or f"0x{scheme[0]:02x}{scheme[1]:02x}"
    if scheme not in hooks.offered_signature_schemes:
        return AlertDescription.illegal_parameter, f"the server's CertificateVerify uses {name}, which the client did not offer"
    key_type = chain.x509List[0].certAlg
    if not any(name.startswith(prefix) for prefix in _TLS13_SCHEMES_BY_KEY.get(key_type, ())):
        return AlertDescription.illegal_parameter, f"the server's CertificateVerify uses {name}, which its {key_type} key cannot make"
    return None


#: The TLS 1.3 CertificateVerify schemes (name prefixes) for each key type
#: (tlslite's ``certAlg``): RFC 8446 §4.2.3, no rsa_pkcs1 in TLS 1.3 (§4.4.3);
#: tlslite checked none of this (an ed25519 scheme with an RSA key was an
#: AttributeError, internal_error). The curve is tlslite's own check.
_TLS13_SCHEMES_BY_KEY = {
    "rsa": ("rsa_pss_rsae_",),
    "rsa-pss": ("rsa_pss_pss_",),
    "ecdsa": ("ecdsa_secp",),
    "Ed25519": ("ed25519",),
    "Ed448": ("ed448",),
}
