"""The client_verify scenarios, shared by test_verify.py (purekong's answers)
and test_verify_differential.py (the same scenarios against real OpenSSL).

``KONG_TABLE`` is Kong's request_client_certificate table, over certificates
with the DN shapes of Kong's test PKI; ``CASES`` builds one hand-made chain per
failure reason, with the exact string OpenSSL 3.4 (and so Kong) reports.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from _pki import Issued, make_ca, make_intermediate, make_leaf, pool_key
from purekong.verify import _der, client_verify, load_pem_certificates

# --- Kong's test PKI (t/certs in Kong's repo): same DN shapes --------------

ROOT_DN = "CN=Kong Testing Root CA,O=Kong Testing,ST=California,C=US"
INTER_DN = "CN=Kong Testing Intermidiate CA,O=Kong Testing,ST=California,C=US"  # sic
LEAF_DN = "CN=foo@example.com,O=Kong Testing,ST=California,C=US"


@dataclass(frozen=True)
class KongPKI:
    root: Issued
    inter: Issued
    leaf: Issued


_kong = None


def kong_pki() -> KongPKI:
    global _kong
    if _kong is None:
        root = make_ca(ROOT_DN, key=pool_key("rsa", 0), days=(-1, 3650))
        inter = make_intermediate(root, INTER_DN, key=pool_key("rsa", 1), days=(-1, 3650))
        san = x509.SubjectAlternativeName([x509.RFC822Name("foo@example.com"), x509.RFC822Name("bar@example.com")])
        leaf = make_leaf(inter, LEAF_DN, key=pool_key("rsa", 2), extensions=[(san, False)])
        _kong = KongPKI(root, inter, leaf)
    return _kong


# (CA list passed to request_client_certificate, client sends, depth, value):
# spec section 3.1's table; "6.B.n" is block n of 01-request_client_certificate.t
# (block 1 is test_not_requested_is_none; block 6 checks DN hints, not this).
KONG_TABLE = [
    ("none", "leaf+inter", 0, "FAILED:unable to get local issuer certificate"),  # 6.B.2
    ("inter+root", "leaf+inter", 0, "FAILED:unable to get issuer certificate"),  # 6.B.3
    ("inter", "leaf+inter", 0, "FAILED:unable to get issuer certificate"),  # 6.B.4
    ("root", "leaf+inter", 0, "FAILED:unable to get local issuer certificate"),
    ("inter+root", "nothing", 0, "NONE"),  # 6.B.5
    ("none", "nothing", 0, "NONE"),
    ("inter+root", "leaf+inter", 1, "SUCCESS"),
    ("root", "leaf+inter", 1, "SUCCESS"),
    ("root", "leaf+inter", 2, "SUCCESS"),
]


def kong_inputs(ca_list: str, sends: str) -> tuple[list[Issued], list[x509.Certificate]]:
    pki = kong_pki()
    trusted = {"none": [], "inter+root": [pki.inter, pki.root], "inter": [pki.inter], "root": [pki.root]}[ca_list]
    chain = {"nothing": [], "leaf+inter": [pki.leaf, pki.inter]}[sends]
    return chain, [t.cert for t in trusted]


# --- every failure reason, each with a hand-built chain ---------------------




@dataclass(frozen=True)
class Raw:
    """A certificate only as DER, for encodings ``cryptography`` will not load."""

    der: bytes
    key: object = None


def _reissue(issued: Issued, issuer_key, edit: Callable[[list[bytes], int], None]) -> Raw:
    """``issued`` with its tbsCertificate fields edited in place by
    ``edit(fields, validity_index)``, re-signed by ``issuer_key`` so that
    only the edit is wrong."""
    der = issued.der
    cert = _der.children(der, *_der.read_tlv(der, 0)[1:])
    fields = [der[h:e] for _, _, e, h in _der.children(der, cert[0][1], cert[0][2])]
    edit(fields, 4 if fields[0][0] == 0xA0 else 3)
    tbs = _der._encode(0x30, b"".join(fields))
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    elif isinstance(issuer_key, rsa.RSAPrivateKey):
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = issuer_key.sign(tbs)
    algorithm = der[cert[1][3]:cert[1][2]]
    return Raw(_der._encode(0x30, tbs + algorithm + _der._encode(0x03, b"\x00" + signature)), issued.key)


def with_time(issued: Issued, issuer_key, field: int, tag: int, value: bytes) -> Raw:
    """Validity time ``field`` (0 notBefore, 1 notAfter) replaced by a raw ASN.1 time."""
    def edit(fields: list[bytes], validity: int) -> None:
        v = fields[validity]
        times = [v[h:e] for _, _, e, h in _der.children(v, *_der.read_tlv(v, 0)[1:])]
        times[field] = _der._encode(tag, value)
        fields[validity] = _der._encode(0x30, b"".join(times))
    return _reissue(issued, issuer_key, edit)


def as_v1(issued: Issued, issuer_key) -> Raw:
    """The same certificate as X.509 version 1: no version field, no extensions."""
    def edit(fields: list[bytes], validity: int) -> None:
        if fields[-1][0] == 0xA3:
            del fields[-1]
        if fields[0][0] == 0xA0:
            del fields[0]
    return _reissue(issued, issuer_key, edit)


def _v1_root() -> Scenario:
    root = make_ca("V1 Root", key=pool_key("ec", 6))
    inter = make_intermediate(root, "Below V1 Root", key=pool_key("ec", 1))
    leaf = make_leaf(inter, "Test Leaf", key=pool_key("ec", 2))
    return Scenario([leaf, inter], [as_v1(root, root.key)])


def with_inner_algorithm(issued: Issued, issuer_key, algorithm_der: bytes) -> Raw:
    """tbsCertificate.signature replaced: it no longer matches the outer algorithm."""
    def edit(fields: list[bytes], validity: int) -> None:
        fields[validity - 2] = algorithm_der
    return _reissue(issued, issuer_key, edit)


@dataclass
class Scenario:
    chain: list[Issued | Raw]  # what the client sends, leaf first
    trusted: list[Issued | Raw]
    depth: int = 1
    partial: bool = False
    now: dt.datetime | None = field(default=None)

    def run(self) -> str:
        return client_verify([c.der for c in self.chain], [t.der for t in self.trusted],
                             depth=self.depth, allow_partial_chain=self.partial, now=self.now)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], Scenario]
    expected: str

    def __repr__(self) -> str:
        return self.id


@functools.cache
def plain_pki() -> tuple[Issued, Issued, Issued]:
    """One root, intermediate and leaf for the whole session."""
    root = make_ca("Test Root", key=pool_key("ec", 0))
    inter = make_intermediate(root, "Test Intermediate", key=pool_key("ec", 1))
    leaf = make_leaf(inter, "Test Leaf", key=pool_key("ec", 2))
    return root, inter, leaf


def _with_inter(**inter_kw) -> Scenario:
    """leaf <- odd intermediate <- trusted root."""
    root = make_ca("Test Root", key=pool_key("ec", 0))
    inter_kw.setdefault("key", pool_key("ec", 1))
    inter = make_intermediate(root, "Odd Intermediate", **inter_kw)
    return Scenario([make_leaf(inter, "Test Leaf", key=pool_key("ec", 2)), inter], [root])


def with_leaf(**leaf_kw) -> Scenario:
    """odd leaf <- intermediate <- trusted root."""
    root, inter, _ = plain_pki()
    leaf_kw.setdefault("key", pool_key("ec", 2))
    return Scenario([make_leaf(inter, "Odd Leaf", **leaf_kw), inter], [root])


def _sha1_fixture() -> Scenario:
    # cryptography cannot sign with SHA-1, so this pair was made once with
    # `openssl x509 -sha1` (valid until 2126): a root and a leaf it signed
    # with ecdsa-with-SHA1.
    root, leaf = load_pem_certificates(SHA1_ROOT_PEM + SHA1_LEAF_PEM)
    key = load_pem_private_key(SHA1_LEAF_KEY_PEM.encode(), None)
    return Scenario([Issued(leaf, key)], [Issued(root, None)], depth=0)


def _over_long() -> Scenario:
    root, inter, _ = plain_pki()
    inter2 = make_intermediate(inter, "Test Intermediate 2", key=pool_key("ec", 3))
    leaf = make_leaf(inter2, "Test Leaf", key=pool_key("ec", 2))
    return Scenario([leaf, inter2, inter], [root], depth=1)


def _pathlen() -> Scenario:
    root = make_ca("Test Root", key=pool_key("ec", 0))
    constrained = make_intermediate(root, "pathlen:0 CA", key=pool_key("ec", 1), pathlen=0)
    below = make_intermediate(constrained, "CA below it", key=pool_key("ec", 3))
    return Scenario([make_leaf(below, "Test Leaf", key=pool_key("ec", 2)), below, constrained], [root], depth=3)


def _case_insensitive_names() -> Scenario:
    # X509_NAME_cmp compares names case- and space-insensitively, and a
    # PrintableString equals the same UTF8String.
    root = make_ca("Test Root", key=pool_key("ec", 0))
    inter = make_intermediate(root, x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kong  Testing", x509.name._ASN1Type.PrintableString),
        x509.NameAttribute(NameOID.COMMON_NAME, " Some CA "),
    ]), key=pool_key("ec", 1))
    issuer_alias = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kong testing", x509.name._ASN1Type.UTF8String),
        x509.NameAttribute(NameOID.COMMON_NAME, "SOME CA"),
    ])
    leaf = make_leaf(Issued(inter.cert, inter.key), "Test Leaf", key=pool_key("ec", 2))
    builder = (x509.CertificateBuilder().subject_name(leaf.cert.subject).issuer_name(issuer_alias)
               .public_key(leaf.key.public_key()).serial_number(4242)
               .not_valid_before(leaf.cert.not_valid_before_utc).not_valid_after(leaf.cert.not_valid_after_utc))
    for ext in leaf.cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return Scenario([Issued(builder.sign(inter.key, hashes.SHA256()), leaf.key), inter], [root])


def _twins(first_days, second_days, second_kw) -> Scenario:
    """Two sent intermediates with the same name and key; which one is used?"""
    root = make_ca("Test Root", key=pool_key("ec", 0))
    first = make_intermediate(root, "Twin CA", key=pool_key("ec", 1), days=first_days)
    second = make_intermediate(root, "Twin CA", key=pool_key("ec", 1), days=second_days, **second_kw)
    return Scenario([make_leaf(first, "Test Leaf", key=pool_key("ec", 2)), first, second], [root])


def _trusted_twins() -> Scenario:
    root, inter, leaf = plain_pki()
    expired = make_ca("Test Root", key=pool_key("ec", 0), days=(-30, -1))
    return Scenario([leaf, inter], [expired, root])


def _bad_time(field: int, tag: int, value: bytes, who: str = "leaf") -> Scenario:
    root, inter, leaf = plain_pki()
    if who == "leaf":
        return Scenario([with_time(leaf, inter.key, field, tag, value), inter], [root])
    return Scenario([leaf, with_time(inter, root.key, field, tag, value)], [root])


def _constrained(permitted=None, excluded=None, leaf_subject="Test Leaf", san=None, **leaf_kw) -> Scenario:
    """leaf <- intermediate with nameConstraints <- trusted root."""
    root = make_ca("Test Root", key=pool_key("ec", 0))
    nc = x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)
    inter = make_intermediate(root, "Constrained CA", key=pool_key("ec", 1), extensions=[(nc, True)])
    if san:
        leaf_kw["extensions"] = [(x509.SubjectAlternativeName(san), False)]
    leaf = make_leaf(inter, leaf_subject, key=pool_key("ec", 2), **leaf_kw)
    return Scenario([leaf, inter], [root])


_UNKNOWN_CRITICAL = (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True)

CASES = [
    Case("trusted root, depth 1", lambda: Scenario(list(plain_pki()[:0:-1]), [plain_pki()[0]]), "SUCCESS"),
    Case("no trust store", lambda: Scenario([plain_pki()[2], plain_pki()[1]], []),
         "FAILED:unable to get local issuer certificate"),
    Case("only the intermediate trusted", lambda: Scenario([plain_pki()[2], plain_pki()[1]], [plain_pki()[1]]),
         "FAILED:unable to get issuer certificate"),
    Case("intermediate trusted, partial chain", lambda: Scenario([plain_pki()[2], plain_pki()[1]], [plain_pki()[1]], depth=0, partial=True),
         "SUCCESS"),
    Case("leaf itself trusted, partial chain", lambda: Scenario([plain_pki()[2]], [plain_pki()[2]], depth=0, partial=True),
         "SUCCESS"),
    Case("intermediate not sent", lambda: Scenario([plain_pki()[2]], [plain_pki()[0]]),
         "FAILED:unable to verify the first certificate"),
    Case("self-signed leaf", lambda: Scenario([make_leaf(None, "Self", key=pool_key("ec", 5))], [plain_pki()[0]]),
         "FAILED:self-signed certificate"),
    Case("root sent but not trusted", lambda: Scenario([plain_pki()[2], plain_pki()[1], plain_pki()[0]], [], depth=2),
         "FAILED:self-signed certificate in certificate chain"),
    Case("root sent and trusted", lambda: Scenario([plain_pki()[2], plain_pki()[1], plain_pki()[0]], [plain_pki()[0]]), "SUCCESS"),
    Case("intermediates reversed and duplicated", lambda: Scenario(
        [_over_long().chain[0], plain_pki()[1], _over_long().chain[1], plain_pki()[1], plain_pki()[2]], [plain_pki()[0]], depth=2),
         "SUCCESS"),
    Case("expired leaf", lambda: with_leaf(days=(-30, -1)), "FAILED:certificate has expired"),
    Case("expired intermediate", lambda: _with_inter(days=(-30, -1)), "FAILED:certificate has expired"),
    Case("expired trusted root", lambda: Scenario(plain_pki()[:0:-1], [make_ca("Test Root", key=pool_key("ec", 0), days=(-30, -1))]),
         "FAILED:certificate has expired"),
    Case("leaf not yet valid", lambda: with_leaf(days=(1, 30)), "FAILED:certificate is not yet valid"),
    Case("intermediate not yet valid", lambda: _with_inter(days=(1, 30)), "FAILED:certificate is not yet valid"),
    Case("leaf signed by the wrong key", lambda: with_leaf(signing_key=pool_key("ec", 9)),
         "FAILED:certificate signature failure"),
    # OpenSSL reports "certificate chain too long" here first, but then also
    # that the chain has no trusted top; the later error is what nginx keeps.
    Case("chain longer than the depth", _over_long, "FAILED:unable to get local issuer certificate"),
    Case("intermediate with CA:FALSE", lambda: _with_inter(ca=False, key_usage={"key_cert_sign"}),
         "FAILED:unsuitable certificate purpose"),
    Case("intermediate without basicConstraints", lambda: _with_inter(ca=None, key_usage={"key_cert_sign"}),
         "FAILED:invalid CA certificate"),
    Case("intermediate only for serverAuth", lambda: _with_inter(eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
         "FAILED:unsuitable certificate purpose"),
    Case("leaf without clientAuth EKU", lambda: with_leaf(eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
         "FAILED:unsuitable certificate purpose"),
    Case("leaf without digitalSignature", lambda: with_leaf(key_usage={"key_encipherment"}),
         "FAILED:unsuitable certificate purpose"),
    Case("leaf with keyAgreement only", lambda: with_leaf(key_usage={"key_agreement"}), "SUCCESS"),
    Case("leaf without EKU or keyUsage", lambda: with_leaf(eku=None, key_usage=None), "SUCCESS"),
    Case("pathlen:0 CA above another CA", _pathlen, "FAILED:path length constraint exceeded"),
    Case("CA keyUsage without keyCertSign", lambda: _with_inter(key_usage={"crl_sign"}),
         "FAILED:key usage does not include certificate signing"),
    Case("unknown critical extension", lambda: with_leaf(extensions=[_UNKNOWN_CRITICAL]),
         "FAILED:unhandled critical extension"),
    Case("RSA-1024 leaf", lambda: with_leaf(key=pool_key("rsa", 0, 1024)), "FAILED:EE certificate key too weak"),
    # The weak leaf key is a "preliminary error": it replaces the missing-issuer one.
    Case("RSA-1024 leaf, no trust store", lambda: Scenario(with_leaf(key=pool_key("rsa", 0, 1024)).chain, []),
         "FAILED:EE certificate key too weak"),
    Case("RSA-1024 intermediate", lambda: _with_inter(key=pool_key("rsa", 1, 1024)), "FAILED:CA certificate key too weak"),
    Case("leaf signed with SHA-1", _sha1_fixture, "FAILED:CA signature digest algorithm too weak"),
    # An empty keyUsage makes OpenSSL treat the leaf's extensions as invalid:
    # nothing can be its issuer.
    Case("leaf with empty keyUsage", lambda: with_leaf(key_usage=set()), "FAILED:unable to verify the first certificate"),
    Case("Ed25519 chain", lambda: Scenario(
        [make_leaf(i := make_intermediate(r := make_ca("Ed Root", key=pool_key("ed25519", 0)), "Ed Inter",
                                          key=pool_key("ed25519", 1)), "Ed Leaf", key=pool_key("ed25519", 2)), i], [r]),
         "SUCCESS"),
    Case("RSA chain", lambda: Scenario([kong_pki().leaf, kong_pki().inter], [kong_pki().root]), "SUCCESS"),
    Case("issuer name differs in case and spaces", _case_insensitive_names, "SUCCESS"),
    # OpenSSL parses certificates with malformed times (cryptography does not)
    # and reports them when it checks the time.
    Case("leaf notBefore month 13", lambda: _bad_time(0, 0x17, b"251301000000Z"),
         "FAILED:format error in certificate's notBefore field"),
    Case("leaf notBefore with fractional seconds", lambda: _bad_time(0, 0x18, b"20250101000000.5Z"),
         "FAILED:format error in certificate's notBefore field"),
    Case("leaf notAfter with a UTC offset", lambda: _bad_time(1, 0x17, b"491231235959+0000"),
         "FAILED:format error in certificate's notAfter field"),
    Case("intermediate notAfter Feb 30", lambda: _bad_time(1, 0x18, b"20400230000000Z", who="inter"),
         "FAILED:format error in certificate's notAfter field"),
    Case("intermediate notBefore lower-case z", lambda: _bad_time(0, 0x17, b"250101000000z", who="inter"),
         "FAILED:format error in certificate's notBefore field"),
    Case("GeneralizedTime before 2050 is fine", lambda: _bad_time(0, 0x18, b"20250101000000Z"), "SUCCESS"),
    # X509_verify() fails when tbsCertificate.signature differs from the outer
    # signatureAlgorithm (here ecdsa-with-SHA384 inside, SHA256 outside).
    Case("leaf with inconsistent signature algorithms", lambda: Scenario(
        [with_inner_algorithm(plain_pki()[2], plain_pki()[1].key, bytes.fromhex("300a06082a8648ce3d040303")), plain_pki()[1]],
        [plain_pki()[0]]), "FAILED:certificate signature failure"),
    Case("self-signed v1 root", _v1_root, "SUCCESS"),
    Case("v1 root sent, not trusted", lambda: Scenario([*_v1_root().chain, *_v1_root().trusted], [], depth=2),
         "FAILED:self-signed certificate in certificate chain"),
    Case("v1 leaf", lambda: Scenario([as_v1(plain_pki()[2], plain_pki()[1].key), plain_pki()[1]], [plain_pki()[0]]), "SUCCESS"),
    Case("v1 intermediate", lambda: Scenario(
        [make_leaf(plain_pki()[1], "Test Leaf", key=pool_key("ec", 2)), as_v1(plain_pki()[1], plain_pki()[0].key)], [plain_pki()[0]]),
         "FAILED:unsuitable certificate purpose"),
    # Name constraints are checked last, so their errors win.
    Case("DNS name inside permitted subtree", lambda: _constrained(
        permitted=[x509.DNSName(".example.com")], san=[x509.DNSName("client.example.com")]), "SUCCESS"),
    Case("DNS name outside permitted subtree", lambda: _constrained(
        permitted=[x509.DNSName("example.com")], san=[x509.DNSName("client.example.org")]),
         "FAILED:permitted subtree violation"),
    Case("DNS name in excluded subtree", lambda: _constrained(
        excluded=[x509.DNSName("bad.example.com")], san=[x509.DNSName("BAD.example.com")]),
         "FAILED:excluded subtree violation"),
    Case("subject outside permitted directoryName", lambda: _constrained(
        permitted=[x509.DirectoryName(x509.Name.from_rfc4514_string("O=Kong Testing,C=US"))],
        leaf_subject="CN=foo,O=Elsewhere,C=US"), "FAILED:permitted subtree violation"),
    Case("subject inside permitted directoryName", lambda: _constrained(
        permitted=[x509.DirectoryName(x509.Name.from_rfc4514_string("O=kong  testing,ST=CALIFORNIA,C=US"))],
        leaf_subject=LEAF_DN), "SUCCESS"),
    Case("e-mail outside permitted host", lambda: _constrained(
        permitted=[x509.RFC822Name("example.com")], san=[x509.RFC822Name("foo@evil.example.com")]),
         "FAILED:permitted subtree violation"),
    Case("e-mail in permitted domain", lambda: _constrained(
        permitted=[x509.RFC822Name(".example.com")], san=[x509.RFC822Name("foo@mail.example.com")]), "SUCCESS"),
    Case("IP outside permitted network", lambda: _constrained(
        permitted=[x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))],
        san=[x509.IPAddress(ipaddress.ip_address("192.168.1.1"))]), "FAILED:permitted subtree violation"),
    Case("IPv6 against IPv4 subtree", lambda: _constrained(
        permitted=[x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))],
        san=[x509.IPAddress(ipaddress.ip_address("::1"))]), "FAILED:permitted subtree violation"),
    Case("URI host in permitted domain", lambda: _constrained(
        permitted=[x509.UniformResourceIdentifier(".example.com")],
        san=[x509.UniformResourceIdentifier("spiffe://svc.example.com/ns/x")]), "SUCCESS"),
    Case("URI with a colon in its path", lambda: _constrained(
        permitted=[x509.UniformResourceIdentifier("host.example.com")],
        san=[x509.UniformResourceIdentifier("https://host.example.com/a:b")]), "SUCCESS"),
    Case("e-mail local part is case-sensitive", lambda: _constrained(
        permitted=[x509.RFC822Name("root@example.com")], san=[x509.RFC822Name("Root@example.com")]),
         "FAILED:permitted subtree violation"),
    # OpenSSL checks a leaf's host-like commonName when it has no DNS SAN.
    Case("host-like CN outside permitted DNS", lambda: _constrained(
        permitted=[x509.DNSName(".example.com")], leaf_subject="CN=host.evil.org"),
         "FAILED:permitted subtree violation"),
    Case("host-like CN ignored beside a DNS SAN", lambda: _constrained(
        permitted=[x509.DNSName(".example.com")], leaf_subject="CN=host.evil.org",
        san=[x509.DNSName("a.example.com")]), "SUCCESS"),
    Case("constraint of an unsupported type", lambda: _constrained(
        permitted=[x509.RegisteredID(x509.ObjectIdentifier("1.2.3"))],
        san=[x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))]), "FAILED:unsupported name constraint type"),
    Case("URI without a host", lambda: _constrained(
        permitted=[x509.UniformResourceIdentifier(".example.com")],
        san=[x509.UniformResourceIdentifier("urn:example:x")]), "FAILED:unsupported or invalid name syntax"),
    Case("name constraints beat an expired leaf", lambda: _constrained(
        permitted=[x509.DNSName("example.com")], san=[x509.DNSName("x.example.org")], days=(-30, -1)),
         "FAILED:permitted subtree violation"),
    # Among plausible issuers the first one valid now wins...
    Case("sent twin CAs: expired one first", lambda: _twins((-30, -1), (-1, 30), {}), "SUCCESS"),
    Case("trusted twin roots: expired one first", _trusted_twins, "SUCCESS"),
    # ...else the one that expires last, flaws and all.
    Case("sent twin CAs, both expired", lambda: _twins((-30, -10), (-30, -2), {"key_usage": {"crl_sign"}}),
         "FAILED:key usage does not include certificate signing"),
]


# OpenSSL's parser rejects these times, so the Certificate message is refused.
TOO_SHORT_TIMES = [(0x17, b"2501010000Z"), (0x18, b"202501010000Z")]


SHA1_ROOT_PEM = """-----BEGIN CERTIFICATE-----
MIIBnzCCAUWgAwIBAgIULTsAktUSjhGLzACMRFrkdc/ne00wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRU0hBMSBGaXh0dXJlIFJvb3QwIBcNMjYxMTI3MDMzNjUyWhgP
MjEyNjExMDMwMzM2NTJaMBwxGjAYBgNVBAMMEVNIQTEgRml4dHVyZSBSb290MFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjYwXDhUKAERPBziyFOcSdKu31AsAhUuZ
t1oL65YJ1vtY+NPfMx9+hTqOAvlqJ6pgpJ/FcowoT40AS3oZ88+kPaNjMGEwHQYD
VR0OBBYEFARZE4bMORNybx75ymXpXw4xWomZMB8GA1UdIwQYMBaAFARZE4bMORNy
bx75ymXpXw4xWomZMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoG
CCqGSM49BAMCA0gAMEUCIQDQRxLu5KkbDMR64nUo7URDu0g8Ec/rwclyIy7vnbFv
lgIgDkAro51ZCycBkrWL6Dv1bC6IEIHsoWEzMUVxAl8vZxE=
-----END CERTIFICATE-----
"""
SHA1_LEAF_PEM = """-----BEGIN CERTIFICATE-----
MIIBrzCCAVagAwIBAgIUNmGbo0IWVcSGVxUq1kivXtBAeFkwCQYHKoZIzj0EATAc
MRowGAYDVQQDDBFTSEExIEZpeHR1cmUgUm9vdDAgFw0yNjExMjcwMzM2NTJaGA8y
MTI2MTEwMzAzMzY1MlowHDEaMBgGA1UEAwwRU0hBMSBGaXh0dXJlIExlYWYwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAAS8gh9UGXhnzcmr+asTAAu6x+sbaP8TZvT1
gCie+HYdzswQV3udXevS7gyphHto8o2eEraDfJpnUD0k2FrhNUNBo3UwczAMBgNV
HRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAjAd
BgNVHQ4EFgQU9bCQQfvw/9avq655b/zsXfCe4LswHwYDVR0jBBgwFoAUBFkThsw5
E3JvHvnKZelfDjFaiZkwCQYHKoZIzj0EAQNIADBFAiEAjQiuMRuhUxylGhQx+TYS
oxTqgNxi1YAwjvdCbV7TxgMCID547wNS8j+Aau5kXPQTiUNjjCQ0CSdD3nyyjGaX
WlSP
-----END CERTIFICATE-----
"""
SHA1_LEAF_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYozw3aVd2k58qMH3
+J52WgBeUKJuD3O2tUH8+fDTpIehRANCAAS8gh9UGXhnzcmr+asTAAu6x+sbaP8T
ZvT1gCie+HYdzswQV3udXevS7gyphHto8o2eEraDfJpnUD0k2FrhNUNB
-----END PRIVATE KEY-----
"""
