"""mtls-auth (Kong EE): authenticate clients by their TLS certificate.

At the handshake (:mod:`purekong.plugins._handshake`) the client is asked for a
certificate on the SNIs the plugin covers, with the DNs of the configured CAs
when ``send_ca_dn`` is on.  In the access phase the plugin:

1. takes the client's chain (no TLS or no certificate: 401
   ``No required TLS certificate was sent``);
2. verifies it against ``ca_certificates`` (:mod:`._verify`: lua-resty-openssl
   ``store:verify``, with ``X509_V_FLAG_PARTIAL_CHAIN`` for
   ``allow_partial_chain``); failure: 401 ``TLS certificate failed
   verification``;
3. runs the revocation check (``revocation_check_mode``).  purekong fetches no
   OCSP response and no CRL: every check ends as Kong's does when neither can
   be obtained (``IGNORE_CA_ERROR``: not revoked; ``STRICT``: revoked);
4. maps the certificate to a consumer: an mTLS credential whose
   ``subject_name`` is one of the certificate's SAN values or its CN (bound to
   the CA that anchored the chain, else to no CA), then ``consumer_by``
   (username/custom_id) on the same names; or, with ``skip_consumer_lookup``,
   sets the authenticated groups and the ``X-Client-Cert-DN``/``-SAN`` headers;
5. on failure with ``anonymous`` set, proxies as that consumer.

It reports its verdict in the log through ``ngx.ctx.CLIENT_VERIFY_OVERRIDE``
(``SUCCESS``, ``NONE`` or ``FAILED:<reason>``), written directly as Kong does.

Source: Kong/kong ``plugins-ee/mtls-auth/kong/plugins/mtls-auth/access.lua``
(the version with ``allow_partial_chain`` flags and "fail to check
revocation"), ``schema.lua``, ``handler.lua``; ``kong/cache/init.lua`` for the
error text the cache adds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from purekong.gateway import Declarative
from purekong.pdk import LuaError
from purekong.runner import NativePlugin
from purekong.verify import store_verify

from . import _nginx

NOT_TLS = "connection is not TLS or TLS support for Nginx not enabled"
NO_CERT = "No required TLS certificate was sent"
FAILED = "TLS certificate failed verification"
UNEXPECTED = "An unexpected error occurred"

# kong.constants HEADERS
CONSUMER_ID = "X-Consumer-ID"
CONSUMER_CUSTOM_ID = "X-Consumer-Custom-ID"
CONSUMER_USERNAME = "X-Consumer-Username"
CREDENTIAL_IDENTIFIER = "X-Credential-Identifier"
ANONYMOUS = "X-Anonymous-Consumer"

# What is_cert_revoked() returns when neither OCSP nor CRL gives an answer,
# as kong.cache:get() hands it back (it prefixes every callback error).
REVOCATION_UNKNOWN = "failed to get from node cache: fail to check revocation"

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class _Exited(Exception):
    """kong.response.exit() was called: Kong's ngx.exit ends the handler there."""


class MtlsAuth(NativePlugin):
    name = "mtls-auth"
    priority = 1600
    version = "3.9.0"
    lua_style = True
    schema = (
        {"anonymous": {"type": "string"}},
        {"consumer_by": {
            "type": "array", "required": False, "default": ["username", "custom_id"],
            "elements": {"type": "string", "one_of": ["username", "custom_id"]}}},
        {"ca_certificates": {"type": "array", "required": True, "elements": {"type": "string"}}},
        {"cache_ttl": {"type": "number", "required": True, "default": 60}},
        {"skip_consumer_lookup": {"type": "boolean", "required": True, "default": False}},
        {"allow_partial_chain": {"type": "boolean", "required": True, "default": False}},
        {"authenticated_group_by": {"type": "string", "required": False, "one_of": ["CN", "DN"], "default": "CN"}},
        {"revocation_check_mode": {
            "type": "string", "required": False, "one_of": ["SKIP", "IGNORE_CA_ERROR", "STRICT"],
            "default": "IGNORE_CA_ERROR"}},
        {"http_timeout": {"type": "number", "default": 30000}},
        {"cert_cache_ttl": {"type": "number", "default": 60000}},
        {"send_ca_dn": {"type": "boolean", "default": False}},
        {"default_consumer": {"type": "string"}},
        # Accepted for compatibility; purekong fetches no OCSP/CRL, so unused.
        {"http_proxy_host": {"type": "string"}},
        {"http_proxy_port": {"type": "integer"}},
        {"https_proxy_host": {"type": "string"}},
        {"https_proxy_port": {"type": "integer"}},
    )

    def __init__(self, config: dict, entities: Declarative | None = None) -> None:
        super().__init__(config)
        self.entities = entities if entities is not None else Declarative()
        # Kong's trust table: a store of the CAs, in order, and the CA id by
        # the certificate's SHA-1 digest (a later duplicate wins, as in Lua).
        self.store: list[x509.Certificate] = []
        self.ca_id_by_digest: dict[bytes, str] = {}
        for ca_id in config["ca_certificates"]:
            ca = self.entities.ca_certificate(ca_id)
            if ca is None:
                raise ValueError(f"CA Certificate '{ca_id}' does not exist")
            self.store.append(ca.cert)
            self.ca_id_by_digest[_sha1(ca.cert)] = ca_id

    # -- access ---------------------------------------------------------

    def access(self, kong: Any) -> None:
        conf = self.config
        if conf["anonymous"]:
            credential, _ = kong.client.get_credential()
            if credential:
                return  # already authenticated by another plugin (logical OR)
        try:
            ok, message = self._authenticate(kong)
        except _Exited:
            return
        if ok:
            kong.nginx.set_ctx("CLIENT_VERIFY_OVERRIDE", "SUCCESS")
        elif conf["anonymous"]:
            # kong.client.load_consumer(anonymous, true): by id, then username.
            consumer = self._consumer(conf["anonymous"], "id") or self._consumer(conf["anonymous"], "username")
            self._set_consumer(kong, consumer, None)
        else:
            kong.response.exit(401, {"message": message})

    def _authenticate(self, kong: Any) -> tuple[bool, str | None]:
        """do_authentication(): (True, None) or (False, message for the 401)."""
        conf = self.config
        pem, err = kong.client.tls.get_full_client_certificate_chain()
        if err:
            if err == NOT_TLS:
                return False, NO_CERT  # cleartext: no override, no tls in the log
            kong.log.err(err)
            self._exit(kong, 500, UNEXPECTED)
        if not pem:
            self._verdict(kong, "NONE")
            return False, NO_CERT

        try:
            chain = [x509.load_pem_x509_certificate(block.encode("ascii"))
                     for block in _PEM_BLOCK.findall(pem)]
        except ValueError as exc:
            kong.log.err(str(exc))
            self._exit(kong, 500, UNEXPECTED)

        proof_chain, err = store_verify(
            chain[0], chain[1:], self.store, partial_chain=conf["allow_partial_chain"]
        )
        if proof_chain is not None:
            # The CA entity that anchors the chain: credentials may be bound to it.
            ca_id = self.ca_id_by_digest.get(_sha1(proof_chain[-1]))
            names, cn = subject_names(chain[0])
            kong.log.debug("names = ", _lua_concat(names, ", "))
            subject_dn = _nginx.subject_dn(chain[0])
            err = None

            if conf["revocation_check_mode"] != "SKIP":
                if subject_dn is None:
                    # kong.cache:get(ngx.var.ssl_client_s_dn, ...) with nil.
                    raise LuaError("key must be a string")
                kong.log.debug("cache miss for revocation status")
                err = REVOCATION_UNKNOWN  # no OCSP answer, no CRL: see the module doc
                if conf["revocation_check_mode"] == "IGNORE_CA_ERROR":
                    kong.log.notice(err + ". Ignored this as `revocation_check_mode` is `IGNORE_CA_ERROR`.")
                else:
                    kong.log.err(err)
                    self._verdict(kong, "FAILED:certificate revoked")
                    return False, FAILED

            if conf["skip_consumer_lookup"]:
                if conf["authenticated_group_by"]:
                    if conf["authenticated_group_by"] == "CN":
                        if cn is None:
                            return False, "Certificate missing Common Name"
                        group = [cn]
                    else:
                        group = [subject_dn] if subject_dn is not None else []
                    kong.nginx.set_ctx("authenticated_groups", group)
                kong.service.request.set_header("X-Client-Cert-DN", subject_dn)
                if names:
                    kong.service.request.set_header("X-Client-Cert-SAN", ",".join(names))
                return True, None

            for name in names:
                consumer = self._consumer_by_credential(name, ca_id)
                if consumer is not None:
                    # Kong passes a credential that is just {id = consumer.id}.
                    self._set_consumer(kong, consumer, {"id": consumer["id"]})
                    return True, None
            kong.log.debug("unable to match certificate to consumers via credentials")

            consumer_by = conf["consumer_by"]
            if consumer_by:
                kong.log.debug("auto matching")
                for name in names:
                    consumer = next(filter(None, (self._consumer(name, f) for f in consumer_by)), None)
                    if consumer is not None:
                        self._set_consumer(kong, consumer, {"id": consumer["id"]})
                        return True, None

            if conf["default_consumer"]:
                # Documented only ("the consumer to use when a trusted client
                # certificate is presented but no consumer matches"); looked up
                # like anonymous: by id, then by username.
                consumer = (self._consumer(conf["default_consumer"], "id")
                            or self._consumer(conf["default_consumer"], "username"))
                if consumer is not None:
                    self._set_consumer(kong, consumer, {"id": consumer["id"]})
                    return True, None

            kong.log.warn("certificate is valid but consumer matching failed, ",
                          "using cn = ", "nil" if cn is None else cn,
                          " fields = ", ", ".join(consumer_by))
            self._verdict(kong, "FAILED:consumer not found")
            # ...and Kong falls through, overwriting it with the last error
            # seen: the revocation one, or "UNKNOWN" when it was skipped.

        kong.log.err("client certificate verify failed: ", err or "UNKNOWN")
        self._verdict(kong, "FAILED:" + (err or "UNKNOWN"))
        return False, FAILED

    # -- helpers --------------------------------------------------------

    @staticmethod
    def _verdict(kong: Any, value: str) -> None:
        # ngx.ctx.CLIENT_VERIFY_OVERRIDE, set directly (no set_client_verify).
        kong.nginx.set_ctx("CLIENT_VERIFY_OVERRIDE", value)

    @staticmethod
    def _exit(kong: Any, status: int, body: Any) -> None:
        kong.response.exit(status, body)
        raise _Exited

    def _consumer(self, value: str, field: str) -> dict | None:
        consumer = self.entities.consumer(value, by=field)
        return consumer.as_entity() if consumer is not None else None

    def _consumer_by_credential(self, subject_name: str, ca_id: str | None) -> dict | None:
        """find_credential(): bound to the anchoring CA first, then to no CA."""
        for wanted in (ca_id, None):
            for consumer in self.entities.consumers:
                for credential in consumer.mtls_auth_credentials:
                    if credential.subject_name == subject_name and credential.ca_certificate == wanted:
                        return consumer.as_entity()
        return None

    @staticmethod
    def _set_consumer(kong: Any, consumer: dict | None, credential: dict | None) -> None:
        set_header = kong.service.request.set_header
        clear_header = kong.service.request.clear_header
        for header, key in ((CONSUMER_ID, "id"), (CONSUMER_CUSTOM_ID, "custom_id"),
                            (CONSUMER_USERNAME, "username")):
            if consumer and consumer.get(key) is not None:
                set_header(header, consumer[key])
            else:
                clear_header(header)
        # Raises "either credential or consumer must be provided" when the
        # anonymous consumer does not exist: Kong answers 500 then too.
        kong.client.authenticate(consumer, credential)
        if credential:
            if credential.get("username") is not None:
                set_header(CREDENTIAL_IDENTIFIER, credential["username"])
            else:
                clear_header(CREDENTIAL_IDENTIFIER)
            clear_header(ANONYMOUS)
        else:
            clear_header(CREDENTIAL_IDENTIFIER)
            set_header(ANONYMOUS, True)


def subject_names(cert: x509.Certificate) -> tuple[list, str | None]:
    """get_subject_names_from_cert(): the SAN values in order, then the first CN.

    Values as lua-resty-openssl's altname iterator gives them: DNS, email and
    URI as-is, IP addresses as text, unsupported kinds as "<Kind>:<unsupported>";
    a directory name is a Lua object there (kept as the x509.Name here), which
    makes Kong's later string joins fail.
    """
    names: list = []
    san: Iterable[x509.GeneralName]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = ()
    for general_name in san:
        if isinstance(general_name, (x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier)):
            names.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            names.append(str(general_name.value))  # inet_ntop
        elif isinstance(general_name, x509.DirectoryName):
            names.append(general_name.value)
        elif isinstance(general_name, x509.OtherName):
            names.append("OtherName:<unsupported>")
        elif isinstance(general_name, x509.RegisteredID):
            names.append("RID:<unsupported>")
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None  # a commonName is always text
    if cn is not None:
        names.append(cn)
    return names, cn


def _lua_concat(items: list, sep: str) -> str:
    """table.concat: only strings (and numbers) may be joined."""
    for i, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise LuaError(f"invalid value (at index {i}) in table for 'concat'")
    return sep.join(items)


def _sha1(cert: x509.Certificate) -> bytes:
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()
