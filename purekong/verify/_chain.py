"""X509_verify_cert() as a TLS server runs it on a client's chain.

This follows crypto/x509/x509_vfy.c (OpenSSL 3.4) step by step, with the
verify callback that nginx/Kong install: it accepts every error. OpenSSL then
never stops at an error; it records it in ``ctx->error`` and carries on, so
later checks overwrite earlier errors and the value nginx reports is the
*last* error recorded. ``_Verification.fail`` is that callback.

The steps, in OpenSSL's order:

1. the leaf key's security level          (x509_verify_x509)
2. build the chain                        (build_chain)
3. basicConstraints, purpose, path length (check_extensions)
4. security level of CA keys and digests  (check_auth_level)
5. every key decodable, else abort        (X509_get_pubkey_parameters)
6. signatures and validity periods        (internal_verify)
7. name constraints                       (check_name_constraints)
"""

from __future__ import annotations

from datetime import datetime

from . import _errors as E
from . import _names
from ._cert import Cert
from ._purpose import check_ca, check_ssl_client
from ._seclevel import key_security_bits, min_bits, signature_security_bits

_TRUSTED, _UNTRUSTED = "trusted", "untrusted"


class _Abort(Exception):
    """X509_verify_cert() returned early; the handshake would fail."""


class _Verification:
    # _store subclasses this (overriding fail()) for
    # mtls-auth's store:verify(), which stops at the first error: keep the
    # constructor, run(), fail() and .chain stable.

    def __init__(self, sent: list[Cert], store: list[Cert], depth: int,
                 now: datetime, partial_chain: bool) -> None:
        self.sent = sent  # what the client sent, leaf first (ctx->untrusted)
        self.store = store  # the trust store, without duplicates
        self.max_depth = depth + 1  # build_chain() builds one beyond the limit
        self.now = now
        self.partial_chain = partial_chain
        self.chain = [sent[0]]
        self.num_untrusted = 1
        self.error: str | None = None  # None is X509_V_OK

    def fail(self, reason: str) -> None:
        # Kong's callback returns 1: remember the error and continue.
        self.error = reason

    def run(self) -> str | None:
        if key_security_bits(self.chain[0].public_key) < min_bits():
            self.fail(E.EE_KEY_TOO_SMALL)
        try:
            self.build_chain()
            self.check_extensions()
            self.check_auth_level()
            if any(cert.public_key is None for cert in self.chain):
                raise _Abort  # X509_get_pubkey_parameters() fails
            self.internal_verify()
            self.check_name_constraints()
        except _Abort:
            # OpenSSL's safety net: a failed verification always has an error.
            if self.error is None:
                self.error = E.UNSPECIFIED
        return self.error

    # --- step 2: build_chain() -------------------------------------------

    def build_chain(self) -> None:
        chain = self.chain
        untrusted = list(self.sent)  # includes the leaf, as in OpenSSL
        # X509_V_FLAG_TRUSTED_FIRST is on by default: look in the trust store
        # first, then among the client's certificates. There are then no
        # "alternative chains" to retry.
        search_trusted = search_untrusted = True
        trust = _UNTRUSTED

        while search_trusted or search_untrusted:
            num = len(chain)
            if search_trusted:
                curr = chain[-1]
                issuer = None if num > self.max_depth else self._trusted_issuer(curr)
                ok = issuer is not None
                if issuer is not None:
                    self_signed = curr.self_signed()
                    if self_signed < 0:
                        self._internal_error()
                    if not self_signed:
                        chain.append(issuer)  # grow the chain by a trusted issuer
                        self_signed = issuer.self_signed()
                        if self_signed < 0:
                            self._internal_error()
                    elif not curr.same_as(issuer):
                        ok = False  # a self-signed impostor of a trusted cert
                    else:
                        # The client sent a trusted self-signed cert: use the
                        # store's copy.
                        num -= 1
                        self.num_untrusted = num
                        chain[num] = issuer
                    if ok:
                        # Once a trusted cert is in, the client's certs are done.
                        search_untrusted = False
                        trust = self._check_trust(num)
                        if trust != _UNTRUSTED:
                            break
                        if not self_signed:
                            continue  # look for the trusted cert's own issuer
                if not search_untrusted:
                    break

            if search_untrusted:
                curr = chain[-1]
                issuer = None
                if curr.self_signed() <= 0 and len(chain) <= self.max_depth:
                    issuer = self._best_issuer(untrusted, curr, no_dup=True)
                if issuer is None:
                    # Nothing more from the client: back to the trust store.
                    search_untrusted, search_trusted = False, True
                    continue
                untrusted = [cert for cert in untrusted if cert is not issuer]
                chain.append(issuer)
                self.num_untrusted += 1

        num = len(chain)
        # Last chance: with partial chains, the leaf itself may be trusted.
        if num <= self.max_depth and trust == _UNTRUSTED and num == self.num_untrusted:
            trust = self._check_trust(num)
        if trust == _TRUSTED:
            return

        if self.error is not None:
            # "A preliminary error has become final": the leaf key was too
            # weak, and OpenSSL reports that instead of the missing issuer.
            self.fail(self.error)
            return
        if num > self.max_depth:
            self.fail(E.CERT_CHAIN_TOO_LONG)  # and go on: the next error wins
        if chain[-1].self_signed() > 0:
            self.fail(E.DEPTH_ZERO_SELF_SIGNED_CERT if num == 1 else E.SELF_SIGNED_CERT_IN_CHAIN)
        elif self.num_untrusted < num:
            self.fail(E.UNABLE_TO_GET_ISSUER_CERT)  # the top cert is from the store
        else:
            self.fail(E.UNABLE_TO_GET_ISSUER_CERT_LOCALLY)

    def _internal_error(self) -> None:
        self.error = E.UNSPECIFIED
        raise _Abort

    def _trusted_issuer(self, curr: Cert) -> Cert | None:
        """X509_STORE_CTX_get1_issuer(): an issuer of ``curr`` in the store."""
        candidates = [cert for cert in self.store if cert.subject == curr.issuer]
        if not candidates:
            return None
        first = candidates[0]  # the quick path: the first cert with that name
        if curr.likely_issued_by(first) and first.time_ok(self.now):
            return first
        return self._best_issuer(candidates, curr, no_dup=False)

    def _best_issuer(self, certs: list[Cert], x: Cert, no_dup: bool) -> Cert | None:
        """get0_best_issuer_sk(): the first plausible issuer valid now, else the
        plausible issuer that expires last."""
        best = None
        for candidate in certs:
            if (no_dup and not (x.self_issued and len(self.chain) == 1)
                    and any(candidate.same_as(c) for c in self.chain)):
                continue
            if x.likely_issued_by(candidate):
                if candidate.time_ok(self.now):
                    return candidate
                if best is None or candidate.expires_after(best):
                    best = candidate
        return best

    def _check_trust(self, start: int) -> str:
        """check_trust(): is the chain anchored, given certs from ``start`` on
        came from the trust store?"""
        chain = self.chain
        for cert in chain[start:]:
            # Certificates without OpenSSL "aux" trust settings are trusted
            # anchors exactly when they are self-signed.
            if cert.self_signed() > 0:
                return _TRUSTED
        if start < len(chain):
            return _TRUSTED if self.partial_chain else _UNTRUSTED
        if self.partial_chain:
            leaf = chain[0]
            for cert in self.store:
                if cert.same_as(leaf):
                    chain[0] = cert
                    self.num_untrusted = 0
                    return _TRUSTED
        return _UNTRUSTED

    # --- step 3: check_extensions() --------------------------------------

    def check_extensions(self) -> None:
        chain = self.chain
        num = len(chain)
        plen = 0  # CAs below the current cert that count against pathlen
        for i, cert in enumerate(chain):
            if cert.critical_unhandled:
                self.fail(E.UNHANDLED_CRITICAL_EXTENSION)
            if i > 0:
                # Above the leaf every cert must be a CA; only the top one may
                # be a CA merely by keyUsage (X509_check_ca() == 4).
                ca = check_ca(cert)
                if ca == 0 or (i + 1 < num and ca != 1):
                    self.fail(E.INVALID_CA)
            if check_ssl_client(cert, require_ca=i > 0) == 0:
                self.fail(E.INVALID_PURPOSE)
            if i > 1 and cert.pathlen != -1 and plen > cert.pathlen:
                self.fail(E.PATH_LENGTH_EXCEEDED)
            if i > 0 and not cert.self_issued:
                plen += 1

    # --- step 4: check_auth_level() --------------------------------------

    def check_auth_level(self) -> None:
        num = len(self.chain)
        for i, cert in enumerate(self.chain):
            # The leaf key was checked first thing.
            if i > 0 and key_security_bits(cert.public_key) < min_bits():
                self.fail(E.CA_KEY_TOO_SMALL)
            # The trust anchor's own signature does not matter.
            if i < num - 1 and signature_security_bits(cert.cert) < min_bits():
                self.fail(E.CA_MD_TOO_WEAK)

    # --- step 6: internal_verify() ---------------------------------------

    def internal_verify(self) -> None:
        chain = self.chain
        n = len(chain) - 1
        issuer = subject = chain[n]
        if not issuer.likely_issued_by(issuer) and not self.partial_chain:
            # The top cert is not self-signed, so nothing can check its
            # signature (nor, oddly, its validity period).
            if n > 0:
                n -= 1
                subject = chain[n]
            else:
                self.fail(E.UNABLE_TO_VERIFY_LEAF_SIGNATURE)

        while n >= 0:
            # Self-signatures are not checked (no X509_V_FLAG_CHECK_SS_SIGNATURE).
            if subject is not issuer:
                if issuer.key_usage is not None and "key_cert_sign" not in issuer.key_usage:
                    self.fail(E.KEYUSAGE_NO_CERTSIGN)
                if not subject.signature_verifies_with(issuer):
                    self.fail(E.CERT_SIGNATURE_FAILURE)
            if subject.not_before is None:
                self.fail(E.ERROR_IN_CERT_NOT_BEFORE_FIELD)
            elif self.now < subject.not_before:
                self.fail(E.CERT_NOT_YET_VALID)
            if subject.not_after is None:
                self.fail(E.ERROR_IN_CERT_NOT_AFTER_FIELD)
            elif self.now >= subject.not_after:  # OpenSSL 3.4: expired at notAfter
                self.fail(E.CERT_HAS_EXPIRED)
            n -= 1
            if n >= 0:
                issuer, subject = subject, chain[n]


    # --- step 7: check_name_constraints() ---------------------------------

    def check_name_constraints(self) -> None:
        chain = self.chain
        for i in range(len(chain) - 1, -1, -1):
            cert = chain[i]
            if i != 0 and cert.self_issued:
                continue  # constraints do not apply to self-issued CAs
            # Every CA above, the trust anchor included, may constrain it.
            for above in chain[:i:-1]:
                if above.name_constraints is not None:
                    error = _names.check(cert, above.name_constraints, leaf=i == 0)
                    if error:
                        self.fail(error)


def verify(sent: list[Cert], store: list[Cert], *, depth: int, now: datetime,
           partial_chain: bool) -> str | None:
    """Run X509_verify_cert() and return the error left at the end, or None."""
    unique_store: list[Cert] = []
    for cert in store:  # X509_STORE_add_cert() ignores a cert it already has
        if not any(cert.same_as(other) for other in unique_store):
            unique_store.append(cert)
    return _Verification(sent, unique_store, depth, now, partial_chain).run()
