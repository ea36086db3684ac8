"""Consumers (``kong/db/schema/entities/consumers.lua``) and their mTLS
credentials (Kong EE's ``mtls_auth_credentials``: a certificate subject,
optionally pinned to a CA, mapped to one consumer).  Plugins and credentials
may nest under a consumer; a top-level credential names its consumer."""

from __future__ import annotations

from ._declarative_plugins import parse_plugin
from ._declarative_report import Entry, Reader, cache_key, show
from ._model import Consumer, MTLSCredential

_CONSUMER_FIELDS = {"id", "username", "custom_id", "plugins", "mtls_auth_credentials"}
_CREDENTIAL_FIELDS = {"id", "subject_name", "ca_certificate", "consumer"}


def parse_consumer(reader: Reader, where: str, raw: dict) -> None:
    rec = reader.new("consumers", where, raw, "username", _CONSUMER_FIELDS, {})
    v = rec.values
    v["username"] = reader.string(rec, "username")
    v["custom_id"] = reader.string(rec, "custom_id")
    reader.set_id(rec, v["username"])
    if raw.get("username") is None and raw.get("custom_id") is None:
        reader.err(rec.where, 'must set at least one of "username" or "custom_id"')
    for w, child in reader.records(raw.get("plugins"), rec.at("plugins")):
        parse_plugin(reader, w, child, rec)
    for w, child in reader.records(raw.get("mtls_auth_credentials"), rec.at("mtls_auth_credentials")):
        parse_credential(reader, w, child, rec)


def parse_credential(reader: Reader, where: str, raw: dict, consumer: Entry | None) -> None:
    rec = reader.new("mtls_auth_credentials", where, raw, "subject_name", _CREDENTIAL_FIELDS, {}, parent=consumer)
    v = rec.values
    v["subject_name"] = reader.string(rec, "subject_name", required=True)
    v["ca_certificate_ref"] = reader.reference(rec, "ca_certificate")
    if consumer is not None:
        if raw.get("consumer") is not None:
            reader.err(rec.at("consumer"), "must not be set on a credential nested under a consumer")
        v["consumer_ref"] = None
    else:
        v["consumer_ref"] = reader.reference(rec, "consumer")
        if raw.get("consumer") is None:
            reader.err(rec.at("consumer"), "required field missing")
    # EE's mtls_auth_credentials: cache_key = { "subject_name", "ca_certificate" }
    key = cache_key("mtls_auth_credentials", raw, ("subject_name", "ca_certificate"), "consumer",
                    consumer.values["id"] if consumer is not None and consumer.stable_id else None)
    reader.set_id(rec, key if v["subject_name"] is not None else None)


def check_unique(reader: Reader) -> None:
    reader.check_unique("consumers", "username", "username")
    reader.check_unique("consumers", "custom_id", "custom_id")


def resolve(reader: Reader) -> None:
    for rec in reader.entries["mtls_auth_credentials"]:
        rec.values["ca_certificate"] = reader.resolve_one(
            rec, "ca_certificate", "ca_certificates", None, "CA certificate")
        if rec.parent is not None:
            rec.values["consumer"] = rec.parent
        else:
            consumer_id = reader.resolve_one(rec, "consumer", "consumers", "username", "consumer")
            rec.values["consumer"] = reader.entry_with_id("consumers", consumer_id)
    # The credential's cache key, subject_name + ca_certificate, is
    # unique across consumers: a certificate maps to one consumer.
    subjects: dict[tuple, Entry] = {}
    for rec in reader.entries["mtls_auth_credentials"]:
        subject = (rec.values["subject_name"], rec.values["ca_certificate"])
        if subject[0] is None:
            continue
        if subject in subjects:
            reader.err(rec.where, f"duplicate credential: subject_name {show(subject[0])} with the same "
                                  f"ca_certificate is already used by {subjects[subject].where}")
        else:
            subjects[subject] = rec


def build(reader: Reader) -> tuple[Consumer, ...]:
    creds_of: dict[int, list[MTLSCredential]] = {}
    for r in reader.entries["mtls_auth_credentials"]:
        creds_of.setdefault(id(r.values["consumer"]), []).append(
            MTLSCredential(**r.pick("id", "subject_name", "ca_certificate")))
    return tuple(
        Consumer(**r.pick("id", "username", "custom_id"), mtls_auth_credentials=tuple(creds_of.get(id(r), ())))
        for r in reader.entries["consumers"])
