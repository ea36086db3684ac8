"""Name constraints, as OpenSSL checks them (crypto/x509/v3_ncons.c).

A CA's nameConstraints extension limits the names of every certificate below
it: its subject (as a directoryName, and its emailAddress attributes as
rfc822Names) and each subjectAltName entry. For each name type that has
permitted subtrees, a name of that type must fall in one of them; no name may
fall in an excluded subtree. OpenSSL 3.4 also checks a leaf's host-name-like
commonNames as DNS names when the leaf has no DNS subjectAltName.
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import _errors as E
from ._cert import Cert, canonical_name

_OK = None

# The GeneralName kinds OpenSSL can match; any other kind of constraint is
# "unsupported name constraint type".
_SUPPORTED = (x509.DirectoryName, x509.DNSName, x509.RFC822Name,
              x509.UniformResourceIdentifier, x509.IPAddress)


def check(cert: Cert, constraints: x509.NameConstraints, leaf: bool) -> str | None:
    """NAME_CONSTRAINTS_check() (+ _check_CN for a leaf): the first violation."""
    names: list[x509.GeneralName] = []
    subject = cert.cert.subject
    if len(subject.rdns):
        names.append(x509.DirectoryName(subject))
        for attr in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
            if isinstance(attr.value, str):  # always, for this attribute
                names.append(x509.RFC822Name(attr.value))
    san = _san(cert)
    names.extend(san)
    for name in names:
        error = _match(name, constraints)
        if error:
            return error
    if leaf and not any(isinstance(n, x509.DNSName) for n in san):
        for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            if not isinstance(attr.value, str):  # never, for this attribute
                continue
            if "\0" in attr.value.rstrip("\0"):
                return E.UNSUPPORTED_NAME_SYNTAX  # an embedded NUL
            host = _cn_as_dns(attr.value)
            if host:
                error = _match(x509.DNSName(host), constraints)
                if error:
                    return error
    return _OK


def _san(cert: Cert) -> list[x509.GeneralName]:
    if cert.invalid:
        return []
    try:
        return list(cert.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _match(name: x509.GeneralName, nc: x509.NameConstraints) -> str | None:
    """nc_match(): permitted subtrees of the name's type, then excluded ones."""
    kind = type(name)
    permitted = [base for base in nc.permitted_subtrees or () if type(base) is kind]
    matched = None
    for base in permitted:
        if matched:
            break
        result = _match_single(name, base)
        if result is _OK:
            matched = True
        elif result != E.PERMITTED_VIOLATION:
            return result
    if permitted and not matched:
        return E.PERMITTED_VIOLATION
    for base in nc.excluded_subtrees or ():
        if type(base) is not kind:
            continue
        result = _match_single(name, base)
        if result is _OK:
            return E.EXCLUDED_VIOLATION
        if result != E.PERMITTED_VIOLATION:
            return result
    return _OK


def _match_single(name: x509.GeneralName, base: x509.GeneralName) -> str | None:
    if not isinstance(base, _SUPPORTED):
        return E.UNSUPPORTED_CONSTRAINT_TYPE
    if isinstance(base, x509.DirectoryName):
        # The base's RDNs must begin the name (canonical encodings compared).
        prefix, full = canonical_name(base.value), canonical_name(name.value)
        return _OK if full[:len(prefix)] == prefix else E.PERMITTED_VIOLATION
    if isinstance(base, x509.DNSName):
        return _dns(name.value, base.value)
    if isinstance(base, x509.RFC822Name):
        return _email(name.value, base.value)
    if isinstance(base, x509.UniformResourceIdentifier):
        return _uri(name.value, base.value)
    return _ip(name.value, base.value)


def _dns(dns: str, base: str) -> str | None:
    """nc_dns(): the base, or any name ending in "." + base; case-insensitive."""
    if not base:
        return _OK
    if len(dns) < len(base):
        return E.PERMITTED_VIOLATION
    tail = dns[len(dns) - len(base):]
    if len(dns) > len(base) and not base.startswith(".") and dns[len(dns) - len(base) - 1] != ".":
        return E.PERMITTED_VIOLATION
    return _OK if tail.lower() == base.lower() else E.PERMITTED_VIOLATION


def _email(email: str, base: str) -> str | None:
    """nc_email(): "host", ".domain" or "local@host"; the local part is case-sensitive."""
    if "@" not in email:
        return E.UNSUPPORTED_NAME_SYNTAX
    local, host = email.rsplit("@", 1)
    if "@" not in base and base.startswith("."):
        if len(email) > len(base) and email[len(email) - len(base):].lower() == base.lower():
            return _OK
        return E.PERMITTED_VIOLATION
    if "@" in base:
        base_local, base = base.rsplit("@", 1)
        if base_local and base_local != local:
            return E.PERMITTED_VIOLATION
    return _OK if host.lower() == base.lower() else E.PERMITTED_VIOLATION


def _uri(uri: str, base: str) -> str | None:
    """nc_uri(): the URI's host against a host or ".domain"."""
    colon = uri.find(":")
    if colon < 0 or uri[colon + 1:colon + 3] != "//":
        return E.UNSUPPORTED_NAME_SYNTAX
    rest = uri[colon + 3:]
    ends = [i for i in (rest.find(":"), rest.find("/")) if i >= 0]  # a port or the path
    host = rest[:min(ends)] if ends else rest
    if not host:
        return E.UNSUPPORTED_NAME_SYNTAX
    if base.startswith("."):
        ok = len(host) > len(base) and host[len(host) - len(base):].lower() == base.lower()
        return _OK if ok else E.PERMITTED_VIOLATION
    return _OK if host.lower() == base.lower() else E.PERMITTED_VIOLATION


def _ip(address: object, network: object) -> str | None:
    """nc_ip(): same family, and inside the network."""
    if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) or not isinstance(
            network, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return E.UNSUPPORTED_NAME_SYNTAX
    if address.version != network.version:
        return E.PERMITTED_VIOLATION
    return _OK if address in network else E.PERMITTED_VIOLATION


def _cn_as_dns(cn: str) -> str | None:
    """cn2dnsid(): the commonName if it looks like a host name with 2+ labels."""
    cn = cn.rstrip("\0")
    is_dns = False
    for i, c in enumerate(cn):
        if c.isascii() and (c.isalnum() or c == "_"):
            continue
        if 0 < i < len(cn) - 1:
            if c == "-":
                continue
            if c == "." and cn[i + 1] != "." and cn[i - 1] != "-" and cn[i + 1] != "-":
                is_dns = True
                continue
        return None
    return cn if is_dns else None
