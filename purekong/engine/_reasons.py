"""Why a connection chose what it chose: the DecisionTrace events of a traced connection.

Built only when someone observes (``trace=``): from the ClientHello the
server parsed, its configuration and what ``Driver.choose`` and tlslite
did. ``purekong.inspect`` reads the same choices off the wire and reports
any disagreement as a finding, so a reason here that stops matching the
engine shows up.
"""

from __future__ import annotations

from typing import Iterable

from ._alerts import AlertDescription, RemoteProtocolError
from ._config import ServerConfig
from ._suites import BY_CODE, GROUPS, SIGNATURE_SCHEMES, VERSION_NAMES
from ._trace import DecisionTrace

_GROUP_NAMES = {code: name for name, code in GROUPS.items()}
_SCHEME_NAMES = {code: name for name, code in SIGNATURE_SCHEMES.items()}

#: The rule each alert enforces, by where RFC 8446 (or RFC 5246) defines it.
ALERT_RULES = {
    AlertDescription.unexpected_message: "RFC 8446 §6.2 (a message out of order or of the wrong type)",
    AlertDescription.bad_record_mac: "RFC 8446 §5.2 (a record that does not decrypt)",
    AlertDescription.record_overflow: "RFC 8446 §5.1, RFC 8449 §4 (a record over the size limit)",
    AlertDescription.handshake_failure: "RFC 8446 §4.1.1 (no acceptable set of parameters)",
    AlertDescription.bad_certificate: "RFC 8446 §4.4.2.4 (a certificate that does not verify)",
    AlertDescription.certificate_expired: "RFC 8446 §6.2",
    AlertDescription.certificate_unknown: "RFC 8446 §6.2",
    AlertDescription.illegal_parameter: "RFC 8446 §6.2 (a field out of range or inconsistent)",
    AlertDescription.unknown_ca: "RFC 8446 §4.4.2.4 (no trusted CA for the chain)",
    AlertDescription.decode_error: "RFC 8446 §6.2 (a message that cannot be parsed)",
    AlertDescription.decrypt_error: "RFC 8446 §4.4.3, §4.4.4 (a signature or Finished that does not verify)",
    AlertDescription.protocol_version: "RFC 8446 §4.2.1 (no version in common)",
    AlertDescription.insufficient_security: "RFC 8446 §6.2",
    AlertDescription.missing_extension: "RFC 8446 §9.2 (a mandatory extension is missing)",
    AlertDescription.unsupported_extension: "RFC 8446 §4.2 (an extension the peer did not offer)",
    AlertDescription.unrecognized_name: "RFC 6066 §3",
    AlertDescription.certificate_required: "RFC 8446 §4.4.2.4",
    AlertDescription.no_application_protocol: "RFC 7301 §3.2 (no ALPN protocol in common)",
}


def _names(codes: Iterable[int], table: dict[int, str]) -> list[str]:
    return [table.get(code, f"0x{code:04x}") for code in codes]


def hello_decisions(config: ServerConfig, groups: tuple[int, ...], key_shares: tuple[int, ...], resumes: bool,
                    tls13: bool, ticket: bool) -> list[DecisionTrace]:
    """The server's choices at the ClientHello: resumption, and (TLS 1.3) the group or a HelloRetryRequest.

    ``ticket``: a TLS 1.2 ClientHello offered a session ticket (which wins over its session ID).
    """
    how = "PSK" if tls13 else "ticket" if ticket else "session ID"
    out = [DecisionTrace(
        "resumption", f"resumed ({how})" if resumes else "full handshake",
        "the offered session (ticket, PSK or session ID) is valid for this name, version and cipher" if resumes else
        "no offered session was usable (none offered, unknown, expired, another name, or resumption is off)",
        "RFC 8446 §4.2.11" if tls13 else "RFC 5246 §7.4.1.2",
        {"session_resumption": config.session_resumption})]
    if tls13:
        shared = [g for g in config.groups if GROUPS[g] in key_shares]
        usable = [g for g in config.groups if GROUPS[g] in groups]
        details: dict[str, object] = {"server_groups": list(config.groups), "client_key_shares": _names(key_shares, _GROUP_NAMES),
                                      "client_groups": _names(groups, _GROUP_NAMES)}
        if shared:
            out.append(DecisionTrace("group", shared[0], "the first of the server's groups the client sent a key share for",
                                     "RFC 8446 §4.2.8", details))
        elif usable:
            out.append(DecisionTrace("hello_retry_request", usable[0],
                                     "no key share for any of the server's groups, but the client supports this one: "
                                     "a HelloRetryRequest asks for it", "RFC 8446 §4.1.4", details))
    return out


def retry_group_decision(group: str) -> DecisionTrace:
    return DecisionTrace("group", group, "the group the HelloRetryRequest asked for: the second ClientHello carries a key share "
                         "for it", "RFC 8446 §4.1.4")


def cipher_decision(config: ServerConfig, suite: str, offered: tuple[int, ...], resumed: bool, tls13: bool) -> DecisionTrace:
    """The suite, chosen by ``Driver.choose`` in the server's order (or the resumed session's)."""
    return DecisionTrace(
        "cipher_suite", suite,
        "the resumed session's suite" if resumed else
        f"the server's order wins: the first of its ciphers ({', '.join(config.ciphers)}) the client offered",
        "RFC 8446 §4.1.1" if tls13 else "RFC 5246 §7.4.1.3",
        {"server_ciphers": list(config.ciphers), "client_cipher_suites": [BY_CODE[c].iana if c in BY_CODE else f"0x{c:04x}" for c in offered]})


def signature_decision(scheme: int | None, offered: tuple[int, ...], preference: tuple[int, ...]) -> DecisionTrace:
    """The scheme the server signs with (``None``: a PSK handshake, nothing signed)."""
    if scheme is None:
        return DecisionTrace("signature_scheme", "(none)", "a PSK handshake: the server does not sign", "RFC 8446 §4.2.11")
    return DecisionTrace(
        "signature_scheme", _SCHEME_NAMES.get(scheme, f"0x{scheme:04x}"),
        "the first of the server's schemes that its key can make and the client's signature_algorithms lists",
        "RFC 8446 §4.2.3", {"server_schemes": _names(preference, _SCHEME_NAMES), "client_signature_algorithms": _names(offered, _SCHEME_NAMES)})


def certificate_decision(subject: str, chains: int, server_name: str | None) -> DecisionTrace:
    return DecisionTrace("certificate", subject,
                         f"the first of the {chains} configured chain(s) whose key the client's signature_algorithms accept "
                         f"(SNI {server_name!r})", "RFC 8446 §4.4.2.2", {"chains": chains, "server_name": server_name})


def version_decision(version: str, offered: Iterable[tuple[int, int]], allowed: tuple[str, ...]) -> DecisionTrace:
    names = [VERSION_NAMES.get(v, str(v)) for v in offered]
    return DecisionTrace("version", version, "the highest version both sides allow", "RFC 8446 §4.2.1",
                         {"client_versions": names, "server_versions": list(allowed)})


def failure_decision(error: RemoteProtocolError) -> DecisionTrace:
    """Which check a peer message failed, with the alert sent and the rule behind it."""
    alert = error.alert
    name = alert.name if alert is not None else "none"
    rule = ALERT_RULES.get(alert, "RFC 8446 §6.2") if alert is not None else ""
    return DecisionTrace("failed_check", str(error), f"sent a fatal {name} alert: {rule}" if alert is not None else "no alert sent",
                         rule.split(" (")[0], {"alert": name})
