"""The negotiation as the wire shows it: each choice, what it was chosen from, and the rule.

Read from the handshake messages alone, so recordings from any source (a
purekong scenario, a live server, a pcap, RFC 8448) get them: the version,
the cipher suite, the (EC)DHE group and any HelloRetryRequest, each
signature scheme, ALPN, SNI, resumption, the client certificate, and in
TLS 1.2 the extended master secret.

>>> from purekong.inspect import rfc8448
>>> [(d.what, d.value) for d in wire_decisions(rfc8448(5).handshake_messages)][:4]
[('version', 'TLS 1.3'), ('cipher_suite', 'TLS_AES_128_GCM_SHA256'), ('hello_retry_request', 'secp256r1'), ('group', 'secp256r1')]
"""

from __future__ import annotations

from typing import Iterable

from . import _registry as reg
from ._dissect import Field, dissect_handshake
from ._recording import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Decision, HandshakeMessage



def _ints(tree: Field | None, name: str) -> list[int]:
    return [f.value for f in tree.walk() if f.name == name and isinstance(f.value, int)] if tree else []


def _texts(tree: Field | None, name: str, parent: str) -> list[str]:
    out = []
    for p in tree.walk() if tree else ():
        if p.name == parent:
            out += [c.meaning for c in p.children if c.name == name]
    return out


def _extension(tree: Field | None, ext_type: int) -> Field | None:
    for f in tree.walk() if tree else ():
        if f.name == "Extension" and f.children and f.children[0].value == ext_type:
            return f
    return None


def _listed(values: list[str], limit: int = 8) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _position(choice: int, offered: list[int]) -> str:
    if choice not in offered:
        return "which the client did not offer"
    n = offered.index(choice) + 1
    return "the client's first choice" if n == 1 else f"the client's choice number {n} of {len(offered)}"


def wire_decisions(messages: Iterable[HandshakeMessage]) -> list[Decision]:
    """What each side chose, read from the handshake messages (see the module docstring)."""
    messages = list(messages)
    hellos = [m for m in messages if m.msg_type == 1 and m.direction == CLIENT_TO_SERVER]
    server_hellos = [m for m in messages if m.msg_type == 2 and m.direction == SERVER_TO_CLIENT]
    hrr = next((m for m in server_hellos if reg.is_hello_retry_request(m.raw)), None)
    sh = next((m for m in server_hellos if not reg.is_hello_retry_request(m.raw)), None)
    if not hellos or sh is None:
        return []
    ch1 = dissect_handshake(hellos[0].raw)
    ch = dissect_handshake(hellos[-1].raw)
    sh_tree = dissect_handshake(sh.raw)
    versions = _ints(_extension(ch, 43), "version")
    selected = _ints(_extension(sh_tree, 43), "selected_version")
    tls13 = bool(selected) and selected[0] == 0x0304
    out: list[Decision] = []

    def tree_of(msg_type: int, direction: str) -> Field | None:
        found = next((m for m in messages if m.msg_type == msg_type and m.direction == direction), None)
        return dissect_handshake(found.raw, tls13=tls13) if found else None

    if selected:
        out.append(Decision("version", reg.version_name(selected[0]), f"the client offered {_listed([reg.version_name(v) for v in versions])} in supported_versions; the server selected one", "RFC 8446 §4.2.1"))
    else:
        version = _ints(sh_tree, "legacy_version")[0] if _ints(sh_tree, "legacy_version") else 0
        offered = _ints(ch, "legacy_version")[:1]
        out.append(Decision("version", reg.version_name(version), f"ServerHello.server_version, the highest both support (the client's is {reg.version_name(offered[0]) if offered else '?'}); no supported_versions", "RFC 5246 §7.4.1.3"))
    suites = _ints(ch, "cipher_suite")
    suite = _ints(sh_tree, "cipher_suite")
    if suite:
        out.append(Decision("cipher_suite", reg.cipher_suite_name(suite[0]), f"{_position(suite[0], suites)} (it offered {_listed([reg.cipher_suite_name(s) for s in suites])}); the server picks from its own preferences", "RFC 8446 §4.1.3" if tls13 else "RFC 5246 §7.4.1.3"))
    if hrr is not None:
        hrr_tree = dissect_handshake(hrr.raw)
        group = _ints(hrr_tree, "selected_group")
        shares = [reg.group_name(g) for g in _ints(_extension(ch1, 51), "group")]
        cookie = " and sent a cookie the client must echo" if _extension(hrr_tree, 44) else ""
        out.append(Decision("hello_retry_request", reg.group_name(group[0]) if group else "(no key_share change)", f"the client's key shares ({_listed(shares) or 'none'}) held no group the server accepts, so it asked for another{cookie}", "RFC 8446 §4.1.4"))
    if tls13:
        share = _ints(_extension(sh_tree, 51), "group")
        if share:
            offered_groups = [reg.group_name(g) for g in _ints(_extension(ch, 10), "named_group")]
            out.append(Decision("group", reg.group_name(share[0]), f"a key share the client sent (supported_groups: {_listed(offered_groups)})", "RFC 8446 §4.2.8"))
    else:
        ske = tree_of(12, SERVER_TO_CLIENT)
        curve = _ints(ske, "named_curve")
        if curve:
            out.append(Decision("group", reg.group_name(curve[0]), f"from the client's supported_groups ({_listed([reg.group_name(g) for g in _ints(_extension(ch, 10), 'named_group')])})", "RFC 8422 §5.4"))
    offered_schemes = [reg.signature_scheme_name(s) for s in _ints(_extension(ch, 13), "signature_scheme")]
    verify = tree_of(15, SERVER_TO_CLIENT) if tls13 else tree_of(12, SERVER_TO_CLIENT)
    scheme = _ints(verify, "algorithm" if tls13 else "signature_algorithm")
    if scheme:
        out.append(Decision("signature_scheme", reg.signature_scheme_name(scheme[0]), f"the server's key signs with it and the client's signature_algorithms lists it ({_listed(offered_schemes)})", "RFC 8446 §4.2.3" if tls13 else "RFC 5246 §7.4.1.4.1"))
    _client_auth(out, tree_of(13, SERVER_TO_CLIENT), tree_of(11, CLIENT_TO_SERVER), tree_of(15, CLIENT_TO_SERVER), tls13)
    alpn_offered = _texts(_extension(ch, 16), "name", "ProtocolName")
    if alpn_offered:
        ee = tree_of(8, SERVER_TO_CLIENT) if tls13 else sh_tree
        chosen = _texts(_extension(ee, 16), "name", "ProtocolName")
        out.append(Decision("alpn", chosen[0] if chosen else "(none)", f"the client offered {_listed(alpn_offered)}; " + ("the server chose one it supports" if chosen else "the server answered no ALPN, so none is in use"), "RFC 7301 §3.2"))
    names = _texts(_extension(ch, 0), "name", "host_name")
    if names:
        acknowledged = _extension(tree_of(8, SERVER_TO_CLIENT) if tls13 else sh_tree, 0) is not None
        out.append(Decision("server_name", names[0], "the client asked for this name; the server " + ("acknowledged it (empty server_name)" if acknowledged else "did not echo server_name"), "RFC 6066 §3", "client"))
    out.append(_resumption(ch, sh_tree, messages, tls13))
    if not tls13 and _extension(ch, 23) is not None:
        both = _extension(sh_tree, 23) is not None
        out.append(Decision("extended_master_secret", "yes" if both else "no", "both hellos carry extended_master_secret: the master secret covers the session hash" if both else "the client offered it, the server did not answer it", "RFC 7627 §5.1"))
    return out


def _client_auth(out: list[Decision], request: Field | None, certificate: Field | None, verify: Field | None, tls13: bool) -> None:
    if request is None:
        return
    authorities = [f for f in request.walk() if f.name == "DistinguishedName"]
    rfc = "RFC 8446 §4.3.2" if tls13 else "RFC 5246 §7.4.4"
    out.append(Decision("client_certificate", "requested", f"the server sent a CertificateRequest naming {len(authorities)} CA(s)", rfc))
    if certificate is not None:
        count = len([f for f in certificate.walk() if f.name in ("CertificateEntry", "ASN.1Cert")])
        scheme = _ints(verify, "algorithm")
        detail = f", signed with {reg.signature_scheme_name(scheme[0])}" if scheme else ""
        out.append(Decision("client_certificate", f"{count} certificate(s)" if count else "none", ("the client sent its chain" + detail) if count else "the client has no matching certificate and sent an empty Certificate", "RFC 8446 §4.4.2" if tls13 else "RFC 5246 §7.4.6", "client"))


def _resumption(ch: Field, sh: Field, messages: list[HandshakeMessage], tls13: bool) -> Decision:
    if tls13:
        offered = _extension(ch, 41) is not None
        selected = _ints(_extension(sh, 41), "selected_identity")
        if selected:
            return Decision("resumption", "resumed (PSK)", f"the server accepted the client's PSK identity {selected[0]}", "RFC 8446 §4.2.11")
        reason = "the client offered a PSK the server did not accept" if offered else "the client offered no PSK"
        return Decision("resumption", "full handshake", reason, "RFC 8446 §4.2.11")
    session_id = next((f.value for f in ch.walk() if f.name == "session_id"), b"")
    echoed = next((f.value for f in sh.walk() if f.name == "session_id"), b"")
    server_cert = any(m.msg_type == 11 and m.direction == SERVER_TO_CLIENT for m in messages)
    ticket = _extension(ch, 35)
    if not server_cert:
        how = "ticket" if ticket is not None and ticket.length > 4 else "session ID"
        rfc = "RFC 5077 §3.1" if how == "ticket" else "RFC 5246 §7.4.1.2"
        return Decision("resumption", f"resumed ({how})", f"an abbreviated handshake: the server took the client's {how} and sent no Certificate", rfc)
    reason = "the client offered a session the server did not resume" if session_id and session_id == echoed or (ticket is not None and ticket.length > 4) else "nothing to resume was offered"
    return Decision("resumption", "full handshake", reason, "RFC 5246 §7.4.1.2")
