"""Certificates and their SNIs (``certificates.lua``, ``snis.lua``), and CA
certificates (``ca_certificates.lua``): PEM parsed and checked here (a key
that matches its certificate, a CA that is one and has not expired).  SNIs
may nest under a certificate; a top-level SNI names its certificate."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from ._declarative_report import Entry, Reader, empty, show
from ._declarative_syntax import wildcard_sni_problem
from ._model import CACertificate, Certificate

_CERTIFICATE_FIELDS = {"id", "cert", "key", "snis"}
#: Kong fields purekong does not implement, accepted at their default only.
_CERTIFICATE_DEFAULTS_ONLY = {"cert_alt": empty, "key_alt": empty}
_SNI_FIELDS = {"id", "name", "certificate"}
_CA_FIELDS = {"id", "cert", "cert_digest"}


def parse_certificate(reader: Reader, where: str, raw: dict) -> None:
    rec = reader.new("certificates", where, raw, None, _CERTIFICATE_FIELDS, _CERTIFICATE_DEFAULTS_ONLY)
    reader.set_id(rec, None)  # no endpoint key, no cache key: random, as Kong
    v = rec.values
    chain = _pem_certificates(reader, rec, "cert")
    key_pem = reader.string(rec, "key", required=True)
    key = None
    if key_pem is not None and "PRIVATE KEY-----" not in key_pem:
        reader.err(rec.at("key"), 'invalid key: no PEM "PRIVATE KEY" block found')
    elif key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except TypeError:
            reader.err(rec.at("key"), "encrypted private keys are not supported")
        except (ValueError, UnsupportedAlgorithm) as exc:
            reader.err(rec.at("key"), f"invalid key: {_first_line(exc)}")
    if chain and key is not None and not _same_public_key(chain[0], key):
        reader.err(rec.at("key"), "does not match the certificate")
    v["chain"], v["key"] = chain, key
    for w, child in reader.records(raw.get("snis"), rec.at("snis")):
        parse_sni(reader, w, child, rec)


def _pem_certificates(reader: Reader, rec: Entry, name: str) -> tuple[x509.Certificate, ...] | None:
    pem = reader.string(rec, name, required=True)
    if pem is None:
        return None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        reader.err(rec.at(name), 'invalid certificate: no PEM "CERTIFICATE" block found')
        return None
    try:
        certs = tuple(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError as exc:
        reader.err(rec.at(name), f"invalid certificate: {_first_line(exc)}")
        return None
    return certs


def parse_sni(reader: Reader, where: str, raw: dict, certificate: Entry | None) -> None:
    rec = reader.new("snis", where, raw, "name", _SNI_FIELDS, {}, parent=certificate)
    name = reader.string(rec, "name", required=True)
    if name is not None:
        problem = wildcard_sni_problem(name)
        if problem:
            reader.err(rec.at("name"), problem)
        name = name.lower()
    rec.values["name"] = name
    reader.set_id(rec, name)
    if certificate is not None:
        if raw.get("certificate") is not None:
            reader.err(rec.at("certificate"), "must not be set on an SNI nested under a certificate")
        rec.values["certificate_ref"] = None
    else:
        rec.values["certificate_ref"] = reader.reference(rec, "certificate")
        if raw.get("certificate") is None:
            reader.err(rec.at("certificate"), "required field missing")


def parse_ca_certificate(reader: Reader, where: str, raw: dict) -> None:
    rec = reader.new("ca_certificates", where, raw, None, _CA_FIELDS, {})
    reader.set_id(rec, None)
    certs = _pem_certificates(reader, rec, "cert")
    cert = None
    if certs is not None:
        # ca_certificates.lua: one certificate, a CA, not expired.
        if len(certs) != 1:
            reader.err(rec.at("cert"), "please submit only one certificate at a time")
        else:
            cert = certs[0]
            if cert.not_valid_after_utc < _dt.datetime.now(_dt.timezone.utc):
                reader.err(rec.at("cert"), 'certificate expired, "Not After" time is in the past')
                cert = None
            elif not _is_ca(cert):
                reader.err(rec.at("cert"), "certificate does not appear to be a CA because "
                                           'it is missing the "CA" basic constraint')
                cert = None
    rec.values["cert"] = cert


def check_unique(reader: Reader) -> None:
    reader.check_unique("snis", "name", "SNI")
    digests: dict[bytes, Entry] = {}
    for rec in reader.entries["ca_certificates"]:
        cert = rec.values.get("cert")
        if cert is not None:
            digest = cert.fingerprint(hashes.SHA256())
            if digest in digests:
                reader.err(rec.at("cert"), f"duplicate CA certificate (also used by {digests[digest].where})")
            else:
                digests[digest] = rec


def resolve(reader: Reader) -> None:
    for rec in reader.entries["snis"]:
        if rec.parent is not None:
            rec.values["certificate"] = rec.parent
        else:
            cert_id = reader.resolve_one(rec, "certificate", "certificates", None, "certificate")
            rec.values["certificate"] = reader.entry_with_id("certificates", cert_id)


def build(reader: Reader) -> tuple[Certificate, ...]:
    snis_of: dict[int, list[str]] = {}
    for r in reader.entries["snis"]:
        snis_of.setdefault(id(r.values["certificate"]), []).append(r.values["name"])
    return tuple(
        Certificate(id=r.values["id"], chain=r.values["chain"], key=r.values["key"],
                    snis=tuple(snis_of.get(id(r), ())), where=r.where)
        for r in reader.entries["certificates"])


def build_ca_certificates(reader: Reader) -> tuple[CACertificate, ...]:
    return tuple(CACertificate(id=r.values["id"], cert=r.values["cert"]) for r in reader.entries["ca_certificates"])


# --------------------------------------------------------------------------
# Small helpers


def _first_line(exc: Exception) -> str:
    """The first sentence of an exception's message (cryptography's run on)."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return text.split(". ")[0].rstrip(".")


def _same_public_key(cert: x509.Certificate, key: Any) -> bool:
    def spki(public: Any) -> bytes:
        der: bytes = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return der

    try:
        return spki(cert.public_key()) == spki(key.public_key())
    except (ValueError, TypeError, AttributeError):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
    except ValueError:  # a malformed extension
        return False
